import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../src/audit/log.ts";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import { GENESIS_HASH, recordHash, serializeRecord } from "../../src/audit/record.ts";
import { summarizeAuditFile, verifyAuditFile } from "../../src/audit/verify.ts";

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-verify-"));
  file = join(dir, "audit.jsonl");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(n: number): AuditRecordInput {
  return {
    event: n % 2 === 1 ? "decision" : "outcome",
    decision_id: `dec-${String(Math.ceil(n / 2))}`,
    user: { subject: "u-engineer" },
    tool: "jira_read",
    arguments: { ticket: "CHG-18422" },
    ...(n % 2 === 1
      ? { decision: { allow: true, reasons: [] } }
      : { outcome: { status: "executed", http_status: 200 } }),
  };
}

/** A log of `count` records; returns its lines (without newlines). */
async function writeLog(count: number): Promise<string[]> {
  const log = await openAuditLog({ path: file, fsync: false });
  for (let n = 1; n <= count; n++) await log.append(record(n));
  await log.close();
  return (await readFile(file, "utf8")).split("\n").slice(0, -1);
}

async function rewrite(lines: readonly string[]): Promise<void> {
  await writeFile(file, lines.map((line) => `${line}\n`).join(""));
}

function parse(line: string | undefined): Record<string, unknown> {
  return JSON.parse(line ?? "null") as Record<string, unknown>;
}

/** A self-consistent record in canonical form: what a forger who knows the format can produce. */
function forge(fields: Record<string, unknown>): string {
  const body = { ...fields };
  delete body["hash"];
  const { line, hash } = serializeRecord(body);
  expect(hash).toBe(recordHash(body));
  return line;
}

describe("verifyAuditFile", () => {
  it("an empty file is an intact chain of 0 records", async () => {
    await writeFile(file, "");
    expect(await verifyAuditFile(file)).toEqual({
      ok: true,
      records: 0,
      lastHash: GENESIS_HASH,
      bytes: 0,
    });
  });

  it("an untouched log verifies", async () => {
    const lines = await writeLog(6);
    expect(await verifyAuditFile(file)).toEqual({
      ok: true,
      records: 6,
      lastHash: parse(lines[5])["hash"],
      bytes: (await readFile(file)).length,
    });
  });

  it("an edited record (valid JSON, one field changed) is altered", async () => {
    const lines = await writeLog(6);
    lines[3] = (lines[3] ?? "").replace('"u-engineer"', '"u-admin"');
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toEqual({
      ok: false,
      records: 3,
      line: 4,
      seq: 4,
      problem: "altered",
      message: "line 4 (seq 4): record was altered (hash mismatch)",
    });
  });

  it("an edited LAST record is altered", async () => {
    const lines = await writeLog(6);
    lines[5] = (lines[5] ?? "").replace('"executed"', '"failed"');
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 6,
      seq: 6,
      problem: "altered",
      message: "line 6 (seq 6): record was altered (hash mismatch)",
    });
  });

  it("a hand-edited line with the same content (a duplicate member) is altered", async () => {
    const lines = await writeLog(4);
    lines[1] = (lines[1] ?? "").replace('{"arguments"', '{"tool":"aws_sg_change","arguments"');
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 2,
      seq: 2,
      problem: "altered",
      message:
        "line 2 (seq 2): record was altered (its text is not the canonical form the log writes)",
    });
  });

  it("an edited record whose hash was recomputed is caught by the next record's link", async () => {
    const lines = await writeLog(6);
    const edited = parse(lines[2]);
    edited["user"] = { subject: "u-admin" };
    lines[2] = forge(edited);
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 3,
      seq: 3,
      problem: "altered",
      message:
        "line 3 (seq 3): record was altered and re-hashed (line 4's prev_hash does not match it)",
    });
  });

  it("a deleted record is removed", async () => {
    const lines = await writeLog(6);
    lines.splice(2, 1); // seq 3
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toEqual({
      ok: false,
      records: 2,
      line: 3,
      seq: 4,
      problem: "removed",
      message: "line 3 (seq 4): 1 record(s) removed before this line (expected seq 3, found seq 4)",
    });
  });

  it("the deleted first record is removed", async () => {
    const lines = await writeLog(3);
    await rewrite(lines.slice(1));
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 1,
      seq: 2,
      problem: "removed",
    });
  });

  it("an inserted forged record (a repeated seq) is inserted", async () => {
    const lines = await writeLog(6);
    // The forger copies record 3, changes it and re-hashes it, then slips it in after line 3.
    const forged = parse(lines[2]);
    forged["tool"] = "aws_sg_change";
    lines.splice(3, 0, forge(forged));
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toEqual({
      ok: false,
      records: 3,
      line: 4,
      seq: 3,
      problem: "inserted",
      message: "line 4 (seq 3): record was inserted (seq 3 repeats: expected seq 4)",
    });
  });

  it("an inserted record that links correctly is found when the genuine chain resumes", async () => {
    const lines = await writeLog(6);
    // Forged seq 3, linked to record 2, placed BEFORE the genuine record 3: it verifies on its
    // own; the genuine seq 3 after it shows where the chain really goes on.
    const forged = parse(lines[2]);
    forged["decision"] = { allow: true, reasons: [], forged: true };
    lines.splice(2, 0, forge(forged));
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 3,
      seq: 3,
      problem: "inserted",
      message:
        "line 3 (seq 3): record was inserted (1 record(s) on lines 3–3 are not in the chain, which goes on from line 2 at line 4)",
    });
  });

  it("a forged first record placed before the genuine one is inserted at line 1", async () => {
    const lines = await writeLog(4);
    const forged = parse(lines[0]);
    forged["decision_id"] = "dec-forged";
    lines.unshift(forge(forged));
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 1,
      seq: 1,
      problem: "inserted",
      message:
        "line 1 (seq 1): record was inserted (1 record(s) on lines 1–1 are not in the chain, which starts at line 2)",
    });
  });

  it("several deleted records are removed, with the count", async () => {
    const lines = await writeLog(8);
    lines.splice(3, 3); // seq 4, 5, 6
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 4,
      seq: 7,
      problem: "removed",
      message: "line 4 (seq 7): 3 record(s) removed before this line (expected seq 4, found seq 7)",
    });
  });

  it("records cut off the end leave an intact but shorter chain: anchor lastHash elsewhere", async () => {
    const lines = await writeLog(5);
    const full = await verifyAuditFile(file);
    await rewrite(lines.slice(0, 3));
    const cut = await verifyAuditFile(file);
    expect(cut).toMatchObject({ ok: true, records: 3 });
    expect(cut.ok && full.ok && cut.lastHash !== full.lastHash).toBe(true);
  });

  it("an inserted forged record with an out-of-place seq is inserted, not moved", async () => {
    const lines = await writeLog(6);
    lines.splice(2, 0, forge({ ...parse(lines[2]), seq: 40, prev_hash: "a".repeat(64) }));
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 3,
      seq: 40,
      problem: "inserted",
    });
  });

  it("a duplicated record is inserted", async () => {
    const lines = await writeLog(5);
    lines.splice(4, 0, lines[1] ?? "");
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 5,
      seq: 2,
      problem: "inserted",
      message: "line 5 (seq 2): record was inserted (a copy of line 2)",
    });
  });

  it("two swapped records are moved", async () => {
    const lines = await writeLog(6);
    [lines[2], lines[3]] = [lines[3] ?? "", lines[2] ?? ""];
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toEqual({
      ok: false,
      records: 2,
      line: 3,
      seq: 4,
      problem: "moved",
      message: "line 3 (seq 4): record was moved (expected seq 3 here, found on line 4)",
    });
  });

  it("a record moved further down is moved", async () => {
    const lines = await writeLog(6);
    const [second] = lines.splice(1, 1);
    lines.splice(4, 0, second ?? "");
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 2,
      seq: 3,
      problem: "moved",
      message: "line 2 (seq 3): record was moved (expected seq 2 here, found on line 5)",
    });
  });

  it("an unparsable line is malformed", async () => {
    const lines = await writeLog(4);
    lines[1] = "{not json";
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toEqual({
      ok: false,
      records: 1,
      line: 2,
      problem: "malformed",
      message: "line 2: malformed record (not valid JSON)",
    });
  });

  it("a record without chain members is malformed", async () => {
    const lines = await writeLog(3);
    const stripped = parse(lines[1]);
    delete stripped["prev_hash"];
    lines[1] = JSON.stringify(stripped);
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 2,
      seq: 2,
      problem: "malformed",
      message: expect.stringMatching(
        /^line 2 \(seq 2\): malformed record \(chain members invalid \(prev_hash: /,
      ) as unknown,
    });
  });

  it("a torn last line is malformed", async () => {
    const lines = await writeLog(3);
    await writeFile(
      file,
      lines
        .map((line) => `${line}\n`)
        .join("")
        .slice(0, -10),
    );
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      line: 3,
      problem: "malformed",
      message: expect.stringMatching(/^line 3: malformed record \(incomplete last line/) as unknown,
    });
  });

  it("live: a last line without its newline is left out, not a failure; every whole line is checked", async () => {
    const lines = await writeLog(3);
    const whole = `${lines[0] ?? ""}\n${lines[1] ?? ""}\n`;
    const tail = (lines[2] ?? "").slice(0, 40);
    await writeFile(file, whole + tail);
    expect(await verifyAuditFile(file, { live: true })).toEqual({
      ok: true,
      records: 2,
      lastHash: parse(lines[1])["hash"],
      bytes: Buffer.byteLength(whole),
      unterminated: { line: 3, bytes: 40 },
    });
    // Not live: the same file is a malformed record, as before.
    expect(await verifyAuditFile(file)).toMatchObject({ ok: false, line: 3, problem: "malformed" });
    // A write cut inside a character is still a write in progress, not "not valid UTF-8".
    await writeFile(
      file,
      Buffer.concat([Buffer.from(whole), Buffer.from('{"x":"é').subarray(0, 7)]),
    );
    expect(await verifyAuditFile(file)).toMatchObject({
      message: expect.stringMatching(/^line 3: malformed record \(incomplete last line/) as unknown,
    });
    expect(await verifyAuditFile(file, { live: true })).toMatchObject({ ok: true, records: 2 });
    // A whole line that is broken still fails a live log.
    await writeFile(file, `${lines[0] ?? ""}\nnot a record\n${tail}`);
    expect(await verifyAuditFile(file, { live: true })).toMatchObject({
      ok: false,
      line: 2,
      problem: "malformed",
    });
  });

  it("a blank line is malformed", async () => {
    const lines = await writeLog(3);
    lines.splice(1, 0, "");
    await rewrite(lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      line: 2,
      problem: "malformed",
      message: "line 2: malformed record (empty line)",
    });
  });

  it("rejects when the file cannot be read", async () => {
    await expect(verifyAuditFile(join(dir, "missing.jsonl"))).rejects.toMatchObject({
      code: "ENOENT",
    });
  });
});

describe("summarizeAuditFile", () => {
  it("counts events, outcomes, tools and denials per reason code", async () => {
    const log = await openAuditLog({ path: file, fsync: false });
    await log.append({
      event: "decision",
      tool: "jira_read",
      decision: { allow: true, reasons: [] },
    });
    await log.append({ event: "outcome", tool: "jira_read", outcome: { status: "executed" } });
    await log.append({
      event: "decision",
      tool: "aws_sg_change",
      decision: {
        allow: false,
        reasons: [
          { code: "production_blocked", message: "production is blocked" },
          { code: "change_ticket_required", message: "a change ticket is required" },
        ],
      },
    });
    await log.append({
      event: "outcome",
      tool: "aws_sg_change",
      outcome: { status: "denied", code: "policy_denied" },
    });
    await log.append({
      event: "decision",
      tool: "slack_post_message",
      decision: { allow: false, reasons: [{ code: "production_blocked", message: "x" }] },
    });
    await log.close();

    const summary = await summarizeAuditFile(file);
    expect(summary.records).toBe(5);
    expect(summary.malformed).toBe(0);
    expect(Object.fromEntries(summary.events)).toEqual({ decision: 3, outcome: 2 });
    expect(Object.fromEntries(summary.outcomes)).toEqual({ executed: 1, denied: 1 });
    expect(Object.fromEntries(summary.tools)).toEqual({
      jira_read: { decisions: 1, allowed: 1, denied: 0 },
      aws_sg_change: { decisions: 1, allowed: 0, denied: 1 },
      slack_post_message: { decisions: 1, allowed: 0, denied: 1 },
    });
    expect(Object.fromEntries(summary.denialsByReason)).toEqual({
      production_blocked: 2,
      change_ticket_required: 1,
    });
  });
});
