// `node gateway/bench/compare.ts <git revision> [<other revision>]`: the gateway at that revision
// against the one in this working tree (or at the other revision), side by side in one run, behind the same stub worker with the same policy
// and a repeated token pair, next to the bare proxy. Rounds alternate between the set-ups (wrk,
// 16 connections) so that the machine's other load falls on all of them; then one connection
// each. Prints per set-up the median calls/s, its ratio to the bare proxy, the gateway's CPU µs
// per call and the p50 at one connection. A tool for deciding whether a change pays, not a test.
// Each revision's tree is extracted (git archive) under .bench-base/ in this repository, where it
// resolves this tree's node_modules; removed at the end. Environment: COMPARE_ROUNDS (3),
// COMPARE_SECONDS (4), COMPARE_PAIRS=fresh (a new token pair per call), COMPARE_OTHER_NODE_OPTIONS
// (NODE_OPTIONS for the second gateway only: `compare.ts HEAD` then measures a flag alone),
// COMPARE_OTHER_ENV ("NAME=value NAME2=value" for the second gateway only, as UV_THREADPOOL_SIZE).
// Failure modes: an unknown revision, a set-up that does not answer 200: exits non-zero.
import { execFileSync, execSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDevKeys } from "../../common/keys.ts";
import { buildPolicyVariant, outOfTheWay } from "../../scripts/lib/policy-variant.ts";
import { freePort, ROOT, startService, stopAll, type Service } from "./stack.ts";
import { mintPairs } from "./tokens.ts";
import { runWrk, type LoadResult } from "./wrk.ts";

const ROUNDS = Number(process.env["COMPARE_ROUNDS"] ?? "3");
const SECONDS = Number(process.env["COMPARE_SECONDS"] ?? "4");
const FRESH = process.env["COMPARE_PAIRS"] === "fresh";
/** Node options for the second gateway only (a runtime flag measured against none). */
const OTHER_NODE_OPTIONS = process.env["COMPARE_OTHER_NODE_OPTIONS"];
/** More environment for the second gateway only, as NAME=value pairs split on spaces. */
const OTHER_ENV: Record<string, string> = {
  ...(OTHER_NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: OTHER_NODE_OPTIONS }),
  ...Object.fromEntries(
    (process.env["COMPARE_OTHER_ENV"] ?? "")
      .split(" ")
      .filter((pair) => pair.includes("="))
      .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
  ),
};
const BASE_DIR = join(ROOT, ".bench-base");

interface Setup {
  label: string;
  service: Service;
  url: string;
  rates: number[];
  cpu: number[];
  offset: number;
  one?: LoadResult;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** The revision's tree under .bench-base/<short>; its gateway's main, relative to ROOT. */
function extract(short: string): string {
  const into = join(BASE_DIR, short);
  mkdirSync(into, { recursive: true });
  execSync(`git archive ${short} | tar -x -C ${JSON.stringify(into)}`, {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return `.bench-base/${short}/gateway/src/main.ts`;
}

function shortOf(revision: string): string {
  return execFileSync("git", ["rev-parse", "--short", revision], { cwd: ROOT }).toString().trim();
}

async function main(): Promise<void> {
  const revision = process.argv[2];
  if (revision === undefined) throw new Error("usage: node gateway/bench/compare.ts <revision>");
  const label = shortOf(revision);
  const other = process.argv[3] === undefined ? undefined : shortOf(process.argv[3]);
  const wrk = execFileSync(join(ROOT, "scripts/wrk.sh"), { encoding: "utf8" }).trim();
  const dir = mkdtempSync(join(tmpdir(), "zyx-compare-"));
  const stateDir = join(dir, "state");
  const variant = buildPolicyVariant((config) => {
    outOfTheWay(config);
    (config["limits"] as Record<string, unknown>)["window_seconds"] = 1;
  });
  try {
    rmSync(BASE_DIR, { recursive: true, force: true });
    const baseMain = extract(label);
    const otherMain = other === undefined ? "gateway/src/main.ts" : extract(other);
    const keys = (await ensureDevKeys(stateDir)).signers;
    const pairs = join(dir, "pairs.txt");
    const needed = FRESH ? (ROUNDS + 1) * SECONDS * 4_000 : 1;
    writeFileSync(pairs, await mintPairs(keys, needed, "agent"));
    const body = join(dir, "call.json");
    writeFileSync(body, JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "c" }));
    const stubPort = await freePort();
    const stub = await startService("stub", "gateway/bench/stub-worker.ts", stubPort, "/", {
      PORT: String(stubPort),
    });
    const barePort = await freePort();
    const bare = await startService("bare", "gateway/bench/bare-proxy.ts", barePort, "/", {
      PORT: String(barePort),
      WORKER_URL: `${stub.url}/`,
    });
    const gateway = async (name: string, main: string, env: Record<string, string> = {}) => {
      const port = await freePort();
      return startService(name, main, port, "/healthz", {
        ZYX_STATE_DIR: stateDir,
        GATEWAY_PORT: String(port),
        WORKER_URL: `${stub.url}/`,
        POLICY_BUNDLE: variant.bundle,
        AUDIT_LOG: join(dir, `audit-${name}.jsonl`),
        ...env,
      });
    };
    const setups: Setup[] = [
      { label: "bare Hono proxy", service: bare, url: "", rates: [], cpu: [], offset: 0 },
      {
        label: `gateway at ${label}`,
        service: await gateway("base", baseMain),
        url: "",
        rates: [],
        cpu: [],
        offset: 0,
      },
      {
        label: other === undefined ? "gateway, this tree" : `gateway at ${other}`,
        service: await gateway("other", otherMain, OTHER_ENV),
        url: "",
        rates: [],
        cpu: [],
        offset: 0,
      },
    ];
    for (const s of setups) s.url = `${s.service.url}/v1/tools/jira_read`;
    const load = (s: Setup, connections: number, seconds: number) =>
      runWrk(wrk, {
        url: s.url,
        bodyFile: body,
        pairsFile: pairs,
        offset: s.offset,
        connections,
        seconds,
      });
    for (const s of setups) {
      const warm = await load(s, 16, 1);
      if (warm.errors > 0 || warm.requests === 0) throw new Error(`${s.label} does not answer`);
    }
    console.log(`compare: ${String(ROUNDS)} rounds of ${String(SECONDS)} s, 16 connections…`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of setups) {
        const before = await s.service.usage();
        const result = await load(s, 16, SECONDS);
        const after = await s.service.usage();
        if (FRESH) s.offset += result.requests + 16;
        s.rates.push(result.rate);
        s.cpu.push((after.cpuUs - before.cpuUs) / Math.max(1, result.requests));
      }
    }
    for (const s of setups) s.one = await load(s, 1, SECONDS);
    const bareRate = median(setups[0]?.rates ?? []);
    console.log(`\n| set-up | calls/s | vs bare | CPU µs per call | p50 (1 conn.) |`);
    console.log(`|---|---:|---:|---:|---:|`);
    for (const s of setups) {
      const rate = median(s.rates);
      console.log(
        `| ${s.label} | ${rate.toFixed(0)} | ${((100 * rate) / bareRate).toFixed(1)} % | ${median(s.cpu).toFixed(0)} | ${String(Math.round(s.one?.p50us ?? Number.NaN))} µs |`,
      );
    }
  } finally {
    stopAll();
    variant.remove();
    rmSync(dir, { recursive: true, force: true });
    rmSync(BASE_DIR, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  stopAll();
  process.exitCode = 1;
});
