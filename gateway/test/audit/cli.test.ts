import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog } from "../../src/audit/log.ts";

const REPO = resolve(import.meta.dirname, "../../..");
const CLI = join(REPO, "gateway/src/cli/audit.ts");

let dir: string;
let good: string;
let bad: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(...args: string[]): Promise<Run> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [CLI, ...args], { cwd: REPO }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-cli-"));
  good = join(dir, "good.jsonl");
  bad = join(dir, "bad.jsonl");
  const log = await openAuditLog({ path: good, fsync: false });
  await log.append({
    event: "decision",
    tool: "aws_sg_change",
    decision: { allow: false, reasons: [{ code: "production_blocked", message: "no" }] },
  });
  await log.append({ event: "outcome", tool: "aws_sg_change", outcome: { status: "denied" } });
  await log.append({
    event: "decision",
    tool: "jira_read",
    decision: { allow: true, reasons: [] },
  });
  await log.close();
  const lines = (await readFile(good, "utf8")).split("\n");
  lines[1] = (lines[1] ?? "").replace('"denied"', '"executed"');
  await writeFile(bad, lines.join("\n"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("npm run audit", () => {
  it("verify: an intact chain exits 0", async () => {
    const { code, stdout } = await run("verify", good);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ok: 3 records, chain intact \(last hash [0-9a-f]{64}\)\n$/);
  });

  it("verify: a broken chain exits 1 and names the first bad record on stderr", async () => {
    const { code, stdout, stderr } = await run("verify", bad);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe("line 2 (seq 2): record was altered (hash mismatch)\n");
  });

  it("verify --json prints the result", async () => {
    const { code, stdout } = await run("verify", bad, "--json");
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, line: 2, problem: "altered" });
  });

  it("summary: counts, and the chain status", async () => {
    const { code, stdout } = await run("summary", good);
    expect(code).toBe(0);
    expect(stdout).toContain("3 records");
    expect(stdout).toMatch(/events:\n {2}decision +2\n {2}outcome +1/);
    expect(stdout).toMatch(/aws_sg_change +1 decisions \(0 allowed, 1 denied\)/);
    expect(stdout).toMatch(/denials by reason:\n {2}production_blocked +1/);
    expect(stdout).toMatch(/chain: intact/);
  });

  it("bad usage exits 2; a missing file exits 1", async () => {
    expect((await run()).code).toBe(2);
    expect((await run("frobnicate", good)).code).toBe(2);
    expect((await run("verify")).code).toBe(2);
    expect((await run("verify", good, "--nope")).code).toBe(2);
    const missing = await run("verify", join(dir, "missing.jsonl"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read .*ENOENT/);
  });
});
