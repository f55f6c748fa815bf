// Runs wrk (C, one thread: the load generator takes as little of the 2 cores as it can) with
// gateway/bench/calls.lua, and reads the one JSON line the script prints at the end.
// Failure modes: wrk missing or failing, or no result line: throws with wrk's output.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./stack.ts";

export interface Load {
  url: string;
  bodyFile: string;
  /** One "access posture" pair per line; the script cycles through them from `offset`. */
  pairsFile: string;
  offset?: number;
  connections: number;
  seconds: number;
  /** Each connection pauses this many milliseconds after each answer (a paced rate). */
  delayMs?: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** Calls per second over the measured window. */
  rate: number;
  p50us: number;
  p99us: number;
}

export function runWrk(wrk: string, load: Load): Promise<LoadResult> {
  const args = [
    "-t1",
    `-c${String(load.connections)}`,
    `-d${String(load.seconds)}s`,
    "--timeout",
    "10s",
    "-s",
    join(ROOT, "gateway/bench/calls.lua"),
    load.url,
    "--",
    load.bodyFile,
    load.pairsFile,
    String(load.offset ?? 0),
  ];
  const env = { ...process.env, WRK_DELAY_MS: String(load.delayMs ?? 0) };
  return new Promise((done, fail) => {
    execFile(wrk, args, { env, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const line = stdout.split("\n").find((l) => l.startsWith('{"requests"'));
      if (error !== null || line === undefined) {
        fail(new Error(`wrk failed: ${error?.message ?? "no result"}\n${stdout}${stderr}`));
        return;
      }
      const r = JSON.parse(line) as {
        requests: number;
        duration_us: number;
        errors: number;
        p50_us: number;
        p99_us: number;
      };
      done({
        requests: r.requests,
        errors: r.errors,
        rate: r.requests / (r.duration_us / 1e6),
        p50us: r.p50_us,
        p99us: r.p99_us,
      });
    });
  });
}
