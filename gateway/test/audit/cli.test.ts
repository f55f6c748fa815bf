import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCheckpointKey } from "../../src/audit/checkpoint.ts";
import { openAuditLog } from "../../src/audit/log.ts";
import { GENESIS_HASH, serializeRecord } from "../../src/audit/record.ts";

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
    for (const every of ["0", "1.5", "soon", "-5"]) {
      const bad = await run("verify", good, `--every-seconds=${every}`);
      expect(bad.code, every).toBe(2);
      expect(bad.stderr).toMatch(/^--every-seconds takes a whole number of seconds/);
    }
    const missing = await run("verify", join(dir, "missing.jsonl"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read .*ENOENT/);
  });
});

describe("npm run audit, checkpoints and detections", () => {
  let signed: string;
  let cut: string;
  let jwks: string;

  beforeAll(async () => {
    signed = join(dir, "signed.jsonl");
    cut = join(dir, "cut.jsonl");
    jwks = join(dir, "checkpoint.jwks.json");
    const signer = await ensureCheckpointKey(join(dir, "checkpoint.private.jwk.json"), jwks);
    const log = await openAuditLog({
      path: signed,
      fsync: false,
      checkpoints: { signer, everyRecords: 2 },
    });
    for (let i = 0; i < 3; i++) {
      await log.append({
        event: "outcome",
        tool: "jira_read",
        user: { subject: "u-intern", email: "intern@zyxbank.example" },
        agent: "change-reviewer",
        outcome: { status: "denied", code: "policy_denied", http_status: 403 },
      });
    }
    await log.close();
    const lines = (await readFile(signed, "utf8")).split("\n").filter((l) => l !== "");
    await writeFile(
      cut,
      lines
        .slice(0, 4)
        .map((l) => `${l}\n`)
        .join(""),
    );
  });

  it("verify --keys: a sealed log is ok, a cut one is named, each file on its own", async () => {
    const ok = await run("verify", "--keys", jwks, signed);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: 3 records, chain intact, 2 checkpoint\(s\) signed by \S+ /);
    const both = await run("verify", "--keys", jwks, signed, cut);
    expect(both.code).toBe(1);
    expect(both.stdout).toContain(`${signed}: ok: 3 records`);
    expect(both.stderr).toMatch(
      new RegExp(`${cut}: log_unsealed: the log ends at seq 4 without a closing checkpoint`),
    );
    // Without a key set, the chain alone: the cut log still verifies (why checkpoints exist).
    const unkeyed = await run("verify", cut);
    expect(unkeyed.code).toBe(0);
    expect(unkeyed.stdout).toMatch(
      /^ok: 3 records, chain intact, 1 checkpoint\(s\) not checked \(no --keys\)/,
    );
    const json = await run("verify", "--keys", jwks, cut, "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      checkpoints: { problems: [{ code: "log_unsealed", seq: 4 }] },
    });
    expect((await run("verify", "--keys", join(dir, "absent.json"), signed)).code).toBe(1);
  });

  it("verify --expect-head: a log cut back to an earlier checkpoint, which the checkpoints cannot show", async () => {
    // Two runs, each closed with a signed checkpoint; the witness kept every head.
    const path = join(dir, "two-runs.jsonl");
    const heads: { seq: number; hash: string }[] = [];
    const signer = await ensureCheckpointKey(join(dir, "checkpoint.private.jwk.json"), jwks);
    for (let runs = 0; runs < 2; runs++) {
      const log = await openAuditLog({
        path,
        fsync: false,
        checkpoints: { signer, everyRecords: 100 },
        onCheckpoint: (head) => {
          heads.push(head);
        },
      });
      await log.append({ event: "decision", tool: "jira_read", decision_id: `d-${String(runs)}` });
      await log.close();
    }
    const first = heads[0];
    const last = heads.at(-1);
    if (first === undefined || last === undefined) throw new Error("no checkpoint seen");
    const lines = (await readFile(path, "utf8")).split("\n").filter((l) => l !== "");
    const cutPath = join(dir, "two-runs-cut.jsonl");
    await writeFile(
      cutPath,
      lines
        .slice(0, first.seq)
        .map((l) => `${l}\n`)
        .join(""),
    );
    // The cut log ends on a closing checkpoint: the chain and the signatures both verify.
    expect((await run("verify", "--keys", jwks, cutPath)).code).toBe(0);
    const expectHead = `${String(last.seq)}:${last.hash}`;
    const truncated = await run("verify", "--keys", jwks, "--expect-head", expectHead, cutPath);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toContain(
      `log_truncated: the log ends at seq ${String(first.seq)}, before the head seq ${String(last.seq)} kept elsewhere`,
    );
    expect((await run("verify", "--keys", jwks, "--expect-head", expectHead, path)).code).toBe(0);
    expect((await run("verify", "--expect-head", String(last.seq), path)).code).toBe(0);
    const other = `${String(first.seq)}:${last.hash}`;
    const mismatch = await run("verify", "--expect-head", other, path, "--json");
    expect(mismatch.code).toBe(1);
    expect(JSON.parse(mismatch.stdout)).toMatchObject({
      ok: false,
      head: { code: "head_mismatch" },
    });
    for (const bad of ["0", "x:1", `${String(last.seq)}:ABC`]) {
      expect((await run("verify", "--expect-head", bad, path)).code).toBe(2);
    }
    expect((await run("verify", "--expect-head", "1", path, path)).code).toBe(2);
  });

  it("keygen: creates a key once and publishes its key set", async () => {
    const priv = join(dir, "kg", "checkpoint.private.jwk.json");
    const pub = join(dir, "kg", "checkpoint.jwks.json");
    const first = await run("keygen", priv, pub);
    expect(first.code).toBe(0);
    const kid = /^checkpoint key (\S+):/.exec(first.stdout)?.[1];
    expect(kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await run("keygen", priv, pub)).stdout).toContain(`checkpoint key ${kid ?? "?"}:`);
    const published = JSON.parse(await readFile(pub, "utf8")) as { keys: { kid: string }[] };
    expect(published.keys.map((k) => k.kid)).toEqual([kid]);
  });

  it("detect, session and replay with --keys: a re-chained log passes the chain, not its checkpoints", async () => {
    // What a forger without the key can do: edit a record, then recompute every hash after it.
    let prev = GENESIS_HASH;
    const forged = join(dir, "forged.jsonl");
    const lines = (await readFile(signed, "utf8")).split("\n").filter((l) => l !== "");
    await writeFile(
      forged,
      lines
        .map((text, index) => {
          const record = JSON.parse(text) as Record<string, unknown>;
          if (index === 0) record["agent"] = "someone-else";
          delete record["hash"];
          const { line, hash } = serializeRecord({ ...record, prev_hash: prev });
          prev = hash;
          return `${line}\n`;
        })
        .join(""),
    );
    const unkeyed = await run("detect", forged);
    expect(unkeyed.code).toBe(0);
    expect(unkeyed.stderr).toBe("");
    for (const args of [
      ["detect", "--keys", jwks, forged],
      ["session", "--keys", jwks, "none", forged],
    ]) {
      const keyed = await run(...args);
      expect(keyed.code, args[0]).toBe(1);
      expect(keyed.stderr).toContain(`${forged}: log_rechained: `);
    }
    // The genuine log passes with its keys.
    expect((await run("detect", "--keys", jwks, signed)).stderr).toBe("");
  });

  it("detect: names the rules that fired; --fail-on-match exits 1", async () => {
    const text = await run("detect", signed);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/rule\(s\) over 1 log\(s\): 1 rule\(s\) fired/);
    expect(text.stdout).toContain(
      "tool call blocked by policy (2f0c7a4e-5b1d-4c2e-9a57-0d3f6b1e8a01): 3 hit(s)",
    );
    expect((await run("detect", "--fail-on-match", signed)).code).toBe(1);
    // The first log's denial names a production reason: that rule fires there too.
    const other = await run("detect", "--json", good);
    expect((JSON.parse(other.stdout) as { id: string }[]).map((m) => m.id)).toEqual([
      "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e08",
    ]);
    const clean = join(dir, "clean.jsonl");
    const log = await openAuditLog({ path: clean, fsync: false });
    await log.append({
      event: "decision",
      tool: "jira_read",
      decision: { allow: true, reasons: [] },
    });
    await log.close();
    expect((await run("detect", "--fail-on-match", clean)).code).toBe(0);
  });
});
