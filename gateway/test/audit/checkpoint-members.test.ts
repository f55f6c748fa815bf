// A sealed log's closing checkpoint record is the chain head; its signature covers only the
// `checkpoint` object, `timestamp` and `replica`. A forger without the key who adds members to
// that record (a session's outcome, evidence...) and recomputes its one hash keeps the chain and
// the signature: so verify --keys refuses any member the signature does not bind.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CheckpointSigner,
  generateCheckpointJwk,
  keysFromJwks,
  signerFromPrivateJwk,
} from "../../src/audit/checkpoint.ts";
import { verifyCheckpoints } from "../../src/audit/checkpoint-verify.ts";
import { openAuditLog } from "../../src/audit/log.ts";
import { serializeRecord } from "../../src/audit/record.ts";
import { sessionTimeline } from "../../src/audit/session.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";

let dir: string;
let file: string;
let signer: CheckpointSigner;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "rv-cp-members-"));
  file = join(dir, "audit.jsonl");
  signer = signerFromPrivateJwk(generateCheckpointJwk());
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a checkpoint record carries only what its signature binds", () => {
  it("members added to the closing checkpoint (and re-hashed) are caught by verify --keys", async () => {
    const log = await openAuditLog({
      path: file,
      fsync: false,
      replica: "gw-a",
      checkpoints: { signer, everyRecords: 1000, everySeconds: 3600 },
    });
    const call = { decision_id: "d-1", session_id: "s-1", tool: "slack_post_message" };
    await log.append({ event: "decision", ...call, decision: { allow: false, reasons: [] } });
    await log.append({
      event: "outcome",
      ...call,
      outcome: { status: "denied", code: "policy_denied", http_status: 403 },
    });
    await log.close();

    const lines = (await readFile(file, "utf8")).split("\n").filter((l) => l !== "");
    const last = JSON.parse(lines.at(-1) ?? "{}") as Record<string, unknown>;
    expect(last["event"]).toBe("checkpoint");
    // The forger: the head record gains members, and its hash is recomputed (nothing follows it).
    const forged: Record<string, unknown> = {
      ...last,
      ...call,
      outcome: { status: "executed", http_status: 200 },
      details: { result_digest: "f".repeat(64) },
    };
    delete forged["hash"];
    lines[lines.length - 1] = serializeRecord(forged).line;
    await writeFile(file, `${lines.join("\n")}\n`);

    // What the forger made the investigator read: an outcome that never happened.
    const timeline = await sessionTimeline("s-1", [file]);
    expect(timeline.calls[0]?.outcomes.map((o) => o.status)).toEqual(["denied", "executed"]);

    expect(await verifyAuditFile(file)).toMatchObject({ ok: true });
    const report = await verifyCheckpoints(file, {
      keys: keysFromJwks({ keys: [signer.publicJwk] }),
    });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toContain("checkpoint_malformed");
  });

  it("a genuine log's checkpoints (with and without a replica) still verify", async () => {
    for (const replica of ["gw-a", undefined]) {
      await rm(file, { force: true });
      const log = await openAuditLog({
        path: file,
        fsync: false,
        replica,
        checkpoints: { signer, everyRecords: 2, everySeconds: 3600 },
      });
      for (let n = 0; n < 5; n++)
        await log.append({ event: "decision", decision_id: `d-${String(n)}` });
      await log.close();
      const report = await verifyCheckpoints(file, {
        keys: keysFromJwks({ keys: [signer.publicJwk] }),
      });
      expect(report).toMatchObject({ ok: true, checkpoints: 3 });
    }
  });
});
