// A small slice of `make chaos` in `make test`: the same runner on real processes, every fault
// kind, fewer calls (CHAOS_FAULTS=600) and three SIGKILLs under load, then two PostgreSQL cycles
// under three replicas (a cut with the server gone, a silent partition, PostgreSQL flapping). It
// must print its PostgreSQL line and its one line with every count that must be zero at zero, and
// exit 0.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/processes.ts";

describe("make chaos, a slice", () => {
  it("injects every kind of fault: no wrongful allow, no 2xx without its durable audit, no crash", () => {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, "test/chaos/run.ts")], {
      cwd: REPO_ROOT,
      env: { ...process.env, CHAOS_FAULTS: "600", CHAOS_KILLS: "3" },
      encoding: "utf8",
      timeout: 170_000,
    });
    const line = run.stdout.trim().split("\n").at(-1) ?? "";
    const counts = new Map(
      [...line.matchAll(/([a-z0-9 ]+?) (\d+)(?:,|$)/g)].map((m) => [m[1]?.trim(), Number(m[2])]),
    );
    expect(Object.fromEntries(counts), `${line}\n${run.stderr}`).toMatchObject({
      "wrongful allows": 0,
      "2xx without durable audit": 0,
      crashes: 0,
      "5xx not a problem": 0,
      hangs: 0,
      "unexpected answers": 0,
      "broken chains": 0,
      kills: 3,
    });
    expect(counts.get("faults")).toBeGreaterThanOrEqual(600);
    expect(run.stdout, run.stderr).toMatch(/^postgresql: 2 outages over 3 replicas, /m);
    expect(run.status, run.stderr).toBe(0);
  }, 180_000);
});
