// The forensic commands merge several logs (one per replica) and verify each on its own. The
// same chain given twice (a copy of a replica's file beside the others, a backup, a shell glob
// that matches both) is named and read once: counted twice, three denials would become six and
// fire "repeated denials" (>= 5 in 5 min).
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog } from "../../src/audit/log.ts";
import { runCli } from "../support/cli.ts";

const REPO = resolve(import.meta.dirname, "../../..");
const CLI = join(REPO, "gateway/src/cli/audit.ts");
const REPEATED = "0b7e3c61-9a2d-4f58-b6e1-2c3d4e5f6a03";

let dir: string;
let a: string;
let copy: string;

/** The audit CLI, a process of its own. */
const run = (...args: string[]) => runCli(CLI, args);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rv-dup-chain-"));
  a = join(dir, "gw-a.jsonl");
  copy = join(dir, "gw-c.jsonl");
  const start = Date.parse("2026-05-20T10:00:00Z");
  const log = await openAuditLog({ path: a, fsync: false, replica: "gw-a" });
  for (let n = 0; n < 3; n++) {
    await log.append({
      timestamp: new Date(start + n * 30_000).toISOString(),
      event: "outcome",
      decision_id: `d-${String(n)}`,
      user: { subject: "intern@zyxbank.example" },
      agent: "change-reviewer",
      tool: "jira_read",
      outcome: { status: "denied", code: "policy_denied", http_status: 403 },
    });
  }
  await log.close();
  await copyFile(a, copy);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const fired = (stdout: string): string[] =>
  (JSON.parse(stdout) as { id: string }[]).map((match) => match.id);

describe("one chain given twice to the forensic commands", () => {
  it("three denials in one log do not fire repeated denials", async () => {
    const result = await run("detect", "--json", a);
    expect(result.code).toBe(0);
    expect(fired(result.stdout)).not.toContain(REPEATED);
  });

  it("the same chain under a second name is named, not counted twice", async () => {
    expect((await run("verify", copy)).code).toBe(0); // each copy verifies on its own
    const result = await run("detect", "--json", a, copy);
    expect(fired(result.stdout)).not.toContain(REPEATED);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${copy}: the same chain as ${a}`);
  });
});
