// The timer rule where no checkpoint has said its interval yet, and a tail stamped in the future:
// a forger who drops every checkpoint, or dates a rewritten tail ahead, is found on a live log
// (--allow-unsealed, as every forensic command verifies).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CheckpointSigner,
  generateCheckpointJwk,
  keysFromJwks,
  makeCheckpoint,
  signerFromPrivateJwk,
} from "../../src/audit/checkpoint.ts";
import { verifyCheckpoints } from "../../src/audit/checkpoint-verify.ts";
import { GENESIS_HASH, serializeRecord } from "../../src/audit/record.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";

let dir: string;
let file: string;
let signer: CheckpointSigner;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-review-"));
  file = join(dir, "audit.jsonl");
  signer = signerFromPrivateJwk(generateCheckpointJwk());
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
const keysOf = (s: CheckpointSigner) => keysFromJwks({ keys: [s.publicJwk] });
const T0 = Date.parse("2026-12-06T01:00:00.000Z");

/** Records at the given epoch ms, a signed interval checkpoint wherever the script says "cp". */
async function signedLog(script: (number | "cp")[]): Promise<void> {
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
      lastAt = step;
      push({
        timestamp: new Date(step).toISOString(),
        event: "decision",
        decision_id: `d-${String(seq + 1)}`,
      });
      continue;
    }
    const timestamp = new Date(lastAt + 1).toISOString();
    const checkpoint = makeCheckpoint(
      signer,
      { seq, hash: prev },
      "interval",
      { records: 1000, seconds: 60 },
      timestamp,
      undefined,
    );
    push({ timestamp, event: "checkpoint", checkpoint });
  }
  await writeFile(file, lines.join(""));
}

describe("verifyCheckpoints on a live log (--allow-unsealed, as every forensic command runs it)", () => {
  it("finds a log stripped of every checkpoint, whose records span hours (the timer would have sealed them)", async () => {
    const hours = [T0, T0 + 70_000, T0 + 10_800_000];
    const live = { keys: keysOf(signer), allowUnsealed: true, now: () => T0 + 10_801_000 };
    // Three hours of records and one checkpoint after them: caught (the timer seals every 60 s).
    await signedLog([...hours, "cp"]);
    expect((await verifyCheckpoints(file, live)).problems.map((p) => p.code)).toEqual([
      "checkpoint_missing",
    ]);
    // The same records with that checkpoint removed too (a forger who rewrote the log from
    // genesis drops every signed checkpoint): the chain verifies, and so do the checkpoints.
    await signedLog(hours);
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true });
    const report = await verifyCheckpoints(file, live);
    expect(report.problems.map((p) => p.code)).toContain("checkpoint_missing");
    expect(report.ok).toBe(false);
  });

  it("finds an unsealed tail rewritten with timestamps in the future", async () => {
    // Genuine: records at 0 and 70 s, each sealed; an hour later the unsealed tail (one hour old at
    // least) was rewritten by a forger who stamped it a year ahead: the timer rule sees a fresh tail.
    const future = T0 + 365 * 86_400_000;
    await signedLog([T0, "cp", T0 + 70_000, "cp", future, future]);
    const report = await verifyCheckpoints(file, {
      keys: keysOf(signer),
      allowUnsealed: true,
      now: () => T0 + 3_600_000,
    });
    expect(report.ok).toBe(false);
  });

  it("holds a log before its first checkpoint to the gateway's timer as configured (everySeconds)", async () => {
    // Five minutes of records, no checkpoint yet: too long for the default 60 s timer, not for 600 s.
    await signedLog([T0, T0 + 300_000]);
    const live = { keys: keysOf(signer), allowUnsealed: true, now: () => T0 + 301_000 };
    expect((await verifyCheckpoints(file, live)).problems.map((p) => p.code)).toEqual([
      "checkpoint_missing",
    ]);
    expect(await verifyCheckpoints(file, { ...live, everySeconds: 600 })).toMatchObject({
      ok: true,
      problems: [],
    });
  });
});
