// Signed checkpoints: the log seals its chain head every N records, on a timer, at close and on
// reopening an unclosed log; verification catches a cut tail, a removed checkpoint, a re-chained
// log and a checkpoint re-signed with another key. Keys are generated per test run.
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import {
  type CheckpointSigner,
  checkpointKeyPaths,
  checkpointSignerFor,
  ensureCheckpointKey,
  generateCheckpointJwk,
  keysFromJwks,
  readCheckpointKeys,
  signerFromPrivateJwk,
  makeCheckpoint,
} from "../../src/audit/checkpoint.ts";
import { verifyCheckpoints } from "../../src/audit/checkpoint-verify.ts";
import { openAuditLog } from "../../src/audit/log.ts";
import { GENESIS_HASH, serializeRecord } from "../../src/audit/record.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";

let dir: string;
let file: string;
let signer: CheckpointSigner;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-checkpoint-"));
  file = join(dir, "audit.jsonl");
  signer = signerFromPrivateJwk(generateCheckpointJwk());
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const keysOf = (s: CheckpointSigner) => keysFromJwks({ keys: [s.publicJwk] });

async function writeLog(count: number, everyRecords = 3): Promise<void> {
  const log = await openAuditLog({
    path: file,
    fsync: false,
    checkpoints: { signer, everyRecords, everySeconds: 3600 },
  });
  for (let n = 1; n <= count; n++) {
    await log.append({ event: "decision", tool: "jira_read", decision_id: `d-${String(n)}` });
  }
  await log.close();
}

async function records(): Promise<Record<string, unknown>[]> {
  return (await readFile(file, "utf8"))
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function rewrite(lines: Record<string, unknown>[]): Promise<void> {
  await writeFile(file, lines.map((r) => `${JSON.stringify(r)}\n`).join(""));
}

/** What a forger without the key can do: recompute every seq, prev_hash and hash. */
function rechain(lines: Record<string, unknown>[]): string {
  let prev = GENESIS_HASH;
  return lines
    .map((record, index) => {
      const body: Record<string, unknown> = { ...record, seq: index + 1, prev_hash: prev };
      delete body["hash"];
      const { line, hash } = serializeRecord(body);
      prev = hash;
      return `${line}\n`;
    })
    .join("");
}

const codes = (report: { problems: { code: string }[] }) => report.problems.map((p) => p.code);

describe("the log writes checkpoints", () => {
  it("after every N records and at close, each covering the record before it", async () => {
    await writeLog(7);
    const events = (await records()).map((r) =>
      r["event"] === "checkpoint" ? `cp:${(r["checkpoint"] as { reason: string }).reason}` : "r",
    );
    expect(events).toEqual([
      "r",
      "r",
      "r",
      "cp:records",
      "r",
      "r",
      "r",
      "cp:records",
      "r",
      "cp:close",
    ]);
    const all = await records();
    const cp = all[3]?.["checkpoint"] as Record<string, unknown>;
    expect(cp).toMatchObject({
      covers_seq: 3,
      covers_hash: all[2]?.["hash"],
      kid: signer.kid,
      alg: "EdDSA",
    });
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 10 });
    const report = await verifyCheckpoints(file, { keys: keysOf(signer) });
    expect(report).toMatchObject({
      ok: true,
      checkpoints: 3,
      keyIds: [signer.kid],
      lastCheckpointSeq: 10,
    });
  });

  it("on a timer when records wait unsealed, and stamps the replica id", async () => {
    const log = await openAuditLog({
      path: file,
      fsync: false,
      replica: "gw-b",
      checkpoints: { signer, everyRecords: 100, everySeconds: 0.05 },
    });
    await log.append({ event: "decision" });
    await new Promise((done) => setTimeout(done, 150));
    await log.close();
    const all = await records();
    expect(all.map((r) => [r["event"], r["replica"]])).toEqual([
      ["decision", "gw-b"],
      ["checkpoint", "gw-b"],
      ["checkpoint", "gw-b"],
    ]);
    expect((all[1]?.["checkpoint"] as { reason: string }).reason).toBe("interval");
    expect((await verifyCheckpoints(file, { keys: keysOf(signer) })).ok).toBe(true);
    // The replica id is signed: moving a checkpoint to another replica's name breaks it.
    const moved = all.map((r) => ({ ...r, replica: "gw-a" }));
    await writeFile(file, rechain(moved));
    expect(codes(await verifyCheckpoints(file, { keys: keysOf(signer) }))).toEqual([
      "checkpoint_signature_invalid",
      "checkpoint_signature_invalid",
      "log_unsealed",
    ]);
  });

  it("seals an unclosed log when reopened, and verify notes it", async () => {
    await writeLog(2, 10);
    const cut = (await records()).slice(0, 2); // the closing checkpoint is gone (a crash)
    await rewrite(cut);
    await writeLog(1, 10);
    const all = await records();
    expect(
      all.map((r) => (r["checkpoint"] as { reason?: string } | undefined)?.reason ?? "r"),
    ).toEqual(["r", "r", "open", "r", "close"]);
    const report = await verifyCheckpoints(file, { keys: keysOf(signer) });
    expect(report.ok).toBe(true);
    expect(report.notes).toEqual([
      expect.stringMatching(/^seq 3: the gateway reopened a log that had not been closed/),
    ]);
  });

  it("fails closed when a checkpoint cannot be signed: later appends are refused", async () => {
    const broken: CheckpointSigner = {
      ...signer,
      sign: () => {
        throw new Error("HSM unavailable");
      },
    };
    const log = await openAuditLog({
      path: file,
      fsync: false,
      checkpoints: { signer: broken, everyRecords: 1, everySeconds: 3600 },
    });
    await log.append({ event: "decision" });
    await expect(log.append({ event: "decision" })).rejects.toMatchObject({
      code: "audit_unavailable",
      message: expect.stringContaining(
        "cannot sign the audit checkpoint: HSM unavailable",
      ) as unknown,
    });
    expect(log.healthy()).toBe(false);
    await log.close();
  });

  it("does not add a closing checkpoint to a log reopened and closed with nothing new", async () => {
    await writeLog(2, 10);
    const before = (await stat(file)).size;
    await writeLog(0, 10);
    expect((await stat(file)).size).toBe(before);
  });
});

describe("the witness of each checkpoint", () => {
  it("is told each durable checkpoint's own seq and hash, as the file holds them", async () => {
    const heads: { seq: number; hash: string; reason: string }[] = [];
    const log = await openAuditLog({
      path: file,
      fsync: false,
      checkpoints: { signer, everyRecords: 2, everySeconds: 3600 },
      onCheckpoint: (head) => {
        heads.push(head);
      },
    });
    for (let n = 1; n <= 3; n++)
      await log.append({ event: "decision", decision_id: `d-${String(n)}` });
    await log.close();
    const lines = await records();
    const checkpoints = lines.filter((r) => r["event"] === "checkpoint");
    expect(heads).toEqual(
      checkpoints.map((r) => ({
        seq: r["seq"],
        hash: r["hash"],
        reason: (r["checkpoint"] as { reason: string }).reason,
      })),
    );
    expect(heads.map((h) => h.reason)).toEqual(["records", "close"]);
  });

  it("cannot fail a write by throwing", async () => {
    const log = await openAuditLog({
      path: file,
      fsync: false,
      checkpoints: { signer, everyRecords: 1, everySeconds: 3600 },
      onCheckpoint: () => {
        throw new Error("the log shipper is down");
      },
    });
    await log.append({ event: "decision", decision_id: "d-1" });
    await log.append({ event: "decision", decision_id: "d-2" });
    await log.close();
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 5 });
  });
});

describe("verifyCheckpoints reads only what the chain pass verified", () => {
  it("stops at `lines`: records appended meanwhile, or a half-written line, are not read", async () => {
    await writeLog(3, 2);
    const verified = await verifyAuditFile(file);
    expect(verified).toMatchObject({ ok: true });
    const text = await readFile(file, "utf8");
    await writeFile(file, `${text}{"seq":99,"half-writ`);
    const report = await verifyCheckpoints(file, {
      keys: keysOf(signer),
      lines: verified.records,
    });
    expect(report).toMatchObject({ ok: true, checkpoints: 2 });
  });
});

describe("verifyCheckpoints finds", () => {
  it("a log cut after its last checkpoint (the tail removed, the chain still intact)", async () => {
    await writeLog(7);
    await rewrite((await records()).slice(0, 6)); // seq 1..6: cut after the checkpoint at seq 4
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 6 });
    const report = await verifyCheckpoints(file, { keys: keysOf(signer) });
    expect(report.problems).toEqual([
      {
        code: "log_unsealed",
        seq: 6,
        message: expect.stringContaining(
          "2 record(s) after the last checkpoint at seq 4",
        ) as unknown,
      },
    ]);
    expect(report.unsealedRecords).toBe(2);
    // A log cut exactly at an interval checkpoint is still not closed.
    await rewrite((await records()).slice(0, 4));
    expect(codes(await verifyCheckpoints(file, { keys: keysOf(signer) }))).toEqual([
      "log_unsealed",
    ]);
    // While the gateway runs, the operator may accept an open tail.
    const live = await verifyCheckpoints(file, { keys: keysOf(signer), allowUnsealed: true });
    expect(live.ok).toBe(true);
    expect(live.notes).toHaveLength(1);
  });

  it("a removed checkpoint, re-chained so the hash chain verifies", async () => {
    await writeLog(7);
    const all = await records(); // r r r cp r r r cp r cp
    // Removing one: the next checkpoint signed another seq for its head.
    await writeFile(file, rechain(all.filter((_, i) => i !== 3)));
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true });
    expect((await verifyCheckpoints(file, { keys: keysOf(signer) })).problems[0]).toMatchObject({
      code: "log_rechained",
      seq: 7,
    });
    // Removing every checkpoint after the first: more records than the interval go unsealed.
    await writeFile(file, rechain(all.filter((_, i) => i !== 7 && i !== 9)));
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true });
    const report = await verifyCheckpoints(file, { keys: keysOf(signer) });
    expect(codes(report)).toEqual(["checkpoint_missing", "log_unsealed"]);
    expect(report.problems[0]).toMatchObject({
      seq: 8,
      message: expect.stringContaining(
        "more than 3 records since the checkpoint at seq 4",
      ) as unknown,
    });
  });

  it("a record edited and the log re-chained: the next checkpoint's signed head differs", async () => {
    await writeLog(7);
    const all = await records();
    all[1] = { ...all[1], tool: "aws_modify_security_group" };
    await writeFile(file, rechain(all));
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true });
    const report = await verifyCheckpoints(file, { keys: keysOf(signer) });
    expect(report.problems[0]).toMatchObject({ code: "log_rechained", seq: 4 });
  });

  it("a checkpoint re-signed with another key, and a forged signature", async () => {
    await writeLog(4);
    const all = await records();
    const forger = signerFromPrivateJwk(generateCheckpointJwk());
    const original = all[3]?.["checkpoint"] as { covers_seq: number; covers_hash: string };
    const timestamp = all[3]?.["timestamp"] as string;
    all[3] = {
      ...all[3],
      checkpoint: makeCheckpoint(
        forger,
        { seq: original.covers_seq, hash: original.covers_hash },
        "records",
        { records: 3, seconds: 3600 },
        timestamp,
        undefined,
      ),
    };
    await writeFile(file, rechain(all));
    // The closing checkpoint after it signed the genuine chain: that shows too.
    expect(codes(await verifyCheckpoints(file, { keys: keysOf(signer) }))).toEqual([
      "checkpoint_unknown_key",
      "log_rechained",
      "log_unsealed",
    ]);
    // The forger's key id with a signature that is not the key's.
    const fake = all[3]["checkpoint"] as Record<string, unknown>;
    all[3] = { ...all[3], checkpoint: { ...fake, kid: signer.kid } };
    await writeFile(file, rechain(all));
    expect(codes(await verifyCheckpoints(file, { keys: keysOf(signer) }))[0]).toBe(
      "checkpoint_signature_invalid",
    );
  });

  it("a log with no checkpoint at all, longer than the interval", async () => {
    const log = await openAuditLog({ path: file, fsync: false });
    for (let n = 0; n < 5; n++) await log.append({ event: "decision" });
    await log.close();
    const report = await verifyCheckpoints(file, { keys: keysOf(signer), everyRecords: 4 });
    expect(codes(report)).toEqual(["checkpoint_missing", "log_unsealed"]);
  });
});

describe("the checkpoint key", () => {
  it("is generated once (0600), with a public key set beside it that verifiers read", async () => {
    const priv = join(dir, "keys", "checkpoint.private.jwk.json");
    const jwks = join(dir, "keys", "checkpoint.jwks.json");
    const first = await ensureCheckpointKey(priv, jwks);
    const again = await ensureCheckpointKey(priv, jwks);
    expect(again.kid).toBe(first.kid);
    expect((await stat(priv)).mode & 0o777).toBe(0o600);
    const published = JSON.parse(await readFile(jwks, "utf8")) as {
      keys: Record<string, unknown>[];
    };
    expect(published.keys).toHaveLength(1);
    expect(published.keys[0]).not.toHaveProperty("d");
    expect([...(await readCheckpointKeys(jwks)).keys()]).toEqual([first.kid]);
  });

  it("refuses what is not an Ed25519 private key, with stable codes", async () => {
    expect(() => signerFromPrivateJwk({ kty: "EC", crv: "P-256", x: "a", d: "b" })).toThrow(
      expect.objectContaining({ code: "checkpoint_key_invalid" }) as unknown,
    );
    await expect(readCheckpointKeys(join(dir, "absent.json"))).rejects.toMatchObject({
      code: "checkpoint_key_unavailable",
    });
  });
});

describe("the gateway's checkpoint key and settings", () => {
  it("development generates the key under the state folder; otherwise it must exist", async () => {
    const signer = await checkpointSignerFor(undefined, dir, true);
    const paths = checkpointKeyPaths(dir);
    expect([...(await readCheckpointKeys(paths.jwks)).keys()]).toEqual([signer.kid]);
    expect((await checkpointSignerFor(paths.privateJwk, join(dir, "elsewhere"), false)).kid).toBe(
      signer.kid,
    );
    await expect(checkpointSignerFor(undefined, join(dir, "empty"), false)).rejects.toMatchObject({
      code: "checkpoint_key_unavailable",
    });
  });

  it("are read from the environment and validated", () => {
    expect(loadConfig({}).audit.checkpoint).toEqual({
      keyFile: undefined,
      everyRecords: 1000,
      everySeconds: 60,
    });
    expect(
      loadConfig({
        GATEWAY_CHECKPOINT_KEY_FILE: "/run/keys/checkpoint.jwk",
        AUDIT_CHECKPOINT_RECORDS: "50",
        AUDIT_CHECKPOINT_SECONDS: "5",
      }).audit.checkpoint,
    ).toEqual({ keyFile: "/run/keys/checkpoint.jwk", everyRecords: 50, everySeconds: 5 });
    expect(() => loadConfig({ AUDIT_CHECKPOINT_RECORDS: "0" })).toThrow(/AUDIT_CHECKPOINT_RECORDS/);
  });
});

describe("verifyCheckpoints holds the log to its timer (every_seconds)", () => {
  const T0 = Date.parse("2026-12-06T01:00:00.000Z");
  const EVERY = { records: 1000, seconds: 60 };

  /**
   * A genuinely signed log: records at the given seconds after T0, and an interval checkpoint
   * wherever the script says "cp" (what the gateway's timer writes).
   */
  async function signedLog(script: (number | "cp" | "close")[]): Promise<void> {
    let prev = GENESIS_HASH;
    let seq = 0;
    let lastAt = T0;
    const lines: string[] = [];
    const push = (body: Record<string, unknown>) => {
      seq += 1;
      const { line, hash } = serializeRecord({ ...body, seq, prev_hash: prev });
      lines.push(`${line}\n`);
      prev = hash;
    };
    for (const step of script) {
      if (typeof step === "number") {
        lastAt = T0 + step * 1000;
        push({
          timestamp: new Date(lastAt).toISOString(),
          event: "decision",
          decision_id: `d-${String(seq + 1)}`,
        });
        continue;
      }
      const timestamp = new Date(lastAt + 1).toISOString();
      const checkpoint = makeCheckpoint(
        signer,
        { seq, hash: prev },
        step === "cp" ? "interval" : "close",
        EVERY,
        timestamp,
        undefined,
      );
      push({ timestamp, event: "checkpoint", checkpoint });
    }
    await writeFile(file, lines.join(""));
  }

  it("passes records sealed within the interval, and a call's records stamped when it was decided", async () => {
    // The second 10: an outcome stamped with its decision's time (10 s), appended at about 130 s
    // after a 120 s worker wait, sealed with records of 125 to 175 s.
    await signedLog([0, 10, "cp", 70, "cp", 125, 10, 175, "cp", 190, "close"]);
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true });
    expect(await verifyCheckpoints(file, { keys: keysOf(signer) })).toMatchObject({
      ok: true,
      problems: [],
    });
  });

  it("finds interval checkpoints removed between two that remain (fewer records than every_records)", async () => {
    // Three hours of records under one checkpoint: the timer would have sealed them every minute.
    await signedLog([0, 30, "cp", 70, 3_600, 10_800, "cp", 10_830, "close"]);
    const report = await verifyCheckpoints(file, { keys: keysOf(signer) });
    expect(codes(report)).toEqual(["checkpoint_missing"]);
    expect(report.problems[0]?.message).toContain(
      "records from 2026-12-06T01:01:10.000Z to 2026-12-06T04:00:00.000Z before this checkpoint with no checkpoint among them, longer than the gateway's timer allows (twice 60 s, and 150 s for a call's records)",
    );
  });

  it("finds a live log's tail whose interval checkpoints were dropped, even with --allow-unsealed", async () => {
    await signedLog([0, "cp", 70, 3_600]);
    const tail = await verifyCheckpoints(file, {
      keys: keysOf(signer),
      allowUnsealed: true,
      now: () => T0 + 3_601_000,
    });
    expect(codes(tail)).toEqual(["checkpoint_missing"]);
    expect(tail.problems[0]?.message).toContain("at the end of the log");
    // A short tail, but older than a running gateway would leave it.
    await signedLog([0, "cp", 70, 80]);
    const stale = await verifyCheckpoints(file, {
      keys: keysOf(signer),
      allowUnsealed: true,
      now: () => T0 + 3_600_000,
    });
    expect(codes(stale)).toEqual(["checkpoint_missing"]);
    expect(stale.problems[0]?.message).toContain("the gateway's timer stopped");
    // The same tail, read a moment after it was written: a live log, nothing missing.
    const fresh = await verifyCheckpoints(file, {
      keys: keysOf(signer),
      allowUnsealed: true,
      now: () => T0 + 90_000,
    });
    expect(fresh).toMatchObject({ ok: true, problems: [] });
  });

  it("holds a log stripped of every checkpoint to the timer the first one would have set", async () => {
    const live = { keys: keysOf(signer), allowUnsealed: true, now: () => T0 + 10_801_000 };
    await signedLog([0, 70, 10_800, "cp"]);
    expect(codes(await verifyCheckpoints(file, live))).toEqual(["checkpoint_missing"]);
    await signedLog([0, 70, 10_800]); // the same records, the checkpoint dropped by a forger
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true });
    expect(await verifyCheckpoints(file, live)).toMatchObject({
      ok: false,
      problems: [{ code: "checkpoint_missing" }],
    });
  });

  it("finds an unsealed tail rewritten with timestamps in the future", async () => {
    const year = 365 * 86_400;
    await signedLog([0, "cp", 70, "cp", year, year]);
    const report = await verifyCheckpoints(file, {
      keys: keysOf(signer),
      allowUnsealed: true,
      now: () => T0 + 3_600_000,
    });
    expect(codes(report)).toEqual(["checkpoint_missing"]);
    expect(report.problems[0]?.message).toContain("stamped after the verifier's clock");
  });

  it("holds a log before its first checkpoint to the gateway's timer as configured (everySeconds)", async () => {
    // Five minutes of records, no checkpoint yet: too long for the default 60 s, not for 600 s.
    await signedLog([0, 300]);
    const live = { keys: keysOf(signer), allowUnsealed: true, now: () => T0 + 301_000 };
    expect(codes(await verifyCheckpoints(file, live))).toEqual(["checkpoint_missing"]);
    expect(await verifyCheckpoints(file, { ...live, everySeconds: 600 })).toMatchObject({
      ok: true,
      problems: [],
    });
  });
});
