import { mkdtemp, open, readFile, rm, stat, writeFile, appendFile } from "node:fs/promises";
import { constants, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GatewayError } from "../../src/lib/errors.ts";
import type { AuditFileHandle, AuditFileOpener } from "../../src/audit/log.ts";
import { openAuditLog } from "../../src/audit/log.ts";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import { GENESIS_HASH, recordHash } from "../../src/audit/record.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-log-"));
  file = join(dir, "audit", "audit.jsonl");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FIXED = new Date("2026-11-21T03:00:00.000Z");

function decision(n: number): AuditRecordInput {
  return {
    event: "decision",
    decision_id: `dec-${String(n)}`,
    trace_id: `trace-${String(n)}`,
    user: { subject: "u-engineer", email: "engineer@zyxbank.example" },
    groups: ["grp-ai-users"],
    device: { compliant: true, checked_at: "2026-11-21T02:59:00Z" },
    agent: "change-reviewer",
    model: "claude-sonnet",
    workflow: "change-review",
    session_id: "sess-1",
    tool: "jira_read",
    arguments: { ticket: "CHG-18422" },
    decision: { allow: true, reasons: [] },
    risk_score: 1,
    approval: { required: false, approvers_required: 0, state: "not_required" },
    policy_revision: "87c76d67ea6c01f0",
    latency_ms: 3.5,
  };
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A real FileHandle underneath, with counters and switches for failures. */
function instrumented(options: { durableWrites?: boolean } = {}) {
  const counts = { opens: 0, writes: 0, datasyncs: 0, closes: 0 };
  const switches = {
    failWrite: false,
    failDatasync: false,
    holdDatasync: undefined as Promise<void> | undefined,
  };
  const opener: AuditFileOpener = async (path) => {
    counts.opens++;
    const real = await open(path, "a", 0o600);
    const handle: AuditFileHandle = {
      durableWrites: options.durableWrites,
      async write(data) {
        counts.writes++;
        if (switches.failWrite)
          throw Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
        return real.write(data);
      },
      async datasync() {
        counts.datasyncs++;
        if (switches.holdDatasync !== undefined) await switches.holdDatasync;
        if (switches.failDatasync) {
          throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
        }
        await real.datasync();
      },
      async close() {
        counts.closes++;
        await real.close();
      },
    };
    return handle;
  };
  return { counts, switches, opener };
}

/** The open flags of this process's descriptor for `path` (Linux /proc). */
function openFlags(path: string): number {
  for (const fd of readdirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the descriptor readdir itself used
    }
    if (target !== path) continue;
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
    const flags = /^flags:\s*([0-7]+)$/m.exec(info)?.[1];
    if (flags !== undefined) return Number.parseInt(flags, 8);
  }
  throw new Error(`no open descriptor for ${path}`);
}

/** node's FileHandle class, to watch every handle's datasync. */
async function fileHandlePrototype(): Promise<{ datasync(): Promise<void> }> {
  const probe = await open(join(dir, "probe"), "a");
  await probe.close();
  return Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
}

async function expectUnavailable(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(GatewayError);
  expect(error).toMatchObject({ code: "audit_unavailable", status: 503 });
  expect((error as Error).message).toMatch(message);
}

describe("openAuditLog / append", () => {
  it("writes a hash-chained record per append that verifies", async () => {
    const log = await openAuditLog({ path: file, now: () => FIXED });
    const results = [];
    for (let n = 1; n <= 10; n++) results.push(await log.append(decision(n)));
    await log.close();

    expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const records = await lines(file);
    expect(records).toHaveLength(10);
    expect(records[0]).toMatchObject({
      seq: 1,
      prev_hash: GENESIS_HASH,
      timestamp: "2026-11-21T03:00:00.000Z",
      event: "decision",
      tool: "jira_read",
      user: { subject: "u-engineer", email: "engineer@zyxbank.example" },
    });
    for (const [index, record] of records.entries()) {
      expect(record["hash"]).toBe(results[index]?.hash);
      expect(recordHash(record)).toBe(record["hash"]);
      expect(record["prev_hash"]).toBe(index === 0 ? GENESIS_HASH : records[index - 1]?.["hash"]);
    }
    expect(await verifyAuditFile(file)).toEqual({
      ok: true,
      records: 10,
      lastHash: results[9]?.hash,
      bytes: (await stat(file)).size,
    });
  });

  it("creates the directory and the file with mode 0600", async () => {
    const log = await openAuditLog({ path: file });
    await log.append(decision(1));
    await log.close();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("keeps the caller's timestamp, stamps its clock otherwise, and owns the chain members", async () => {
    const log = await openAuditLog({ path: file, now: () => FIXED });
    await log.append({ ...decision(1), timestamp: "2026-01-02T03:04:05.000Z" });
    const forged = { ...decision(2), seq: 99, prev_hash: "f".repeat(64), hash: "e".repeat(64) };
    await log.append(forged);
    await log.close();
    const records = await lines(file);
    expect(records[0]?.["timestamp"]).toBe("2026-01-02T03:04:05.000Z");
    expect(records[1]).toMatchObject({ timestamp: FIXED.toISOString(), seq: 2 });
    expect(records[1]?.["prev_hash"]).toBe(records[0]?.["hash"]);
    expect((await verifyAuditFile(file)).ok).toBe(true);
  });

  it("masks secrets in what it writes", async () => {
    const log = await openAuditLog({ path: file });
    await log.append({
      ...decision(1),
      arguments: { ticket: "CHG-18422", password: "hunter2", note: "key AKIAIOSFODNN7EXAMPLE" },
      details: { error: "login failed for https://bob:s3cr3t@db.internal/x" },
    });
    expect(log.stats().redactions).toBe(3);
    await log.close();
    const text = await readFile(file, "utf8");
    expect(text).not.toMatch(/hunter2|AKIAIOSFODNN7EXAMPLE|s3cr3t/);
    const [record] = await lines(file);
    expect(record?.["arguments"]).toEqual({
      ticket: "CHG-18422",
      password: "[REDACTED]",
      note: "key [REDACTED:aws_access_key_id]",
    });
  });

  it("records outcome events and open-ended events", async () => {
    const log = await openAuditLog({ path: file });
    await log.append(decision(1));
    await log.append({
      event: "outcome",
      decision_id: "dec-1",
      tool: "jira_read",
      outcome: { status: "executed", http_status: 200 },
      latency_ms: 40,
    });
    await log.append({ event: "gateway_started", details: { version: "0.1.0" } });
    await log.close();
    expect((await lines(file)).map((r) => r["event"])).toEqual([
      "decision",
      "outcome",
      "gateway_started",
    ]);
  });

  it("rejects a record that does not fit the schema with internal_error, and stays healthy", async () => {
    const log = await openAuditLog({ path: file });
    const bad = { ...decision(1), decision: { allow: "yes", reasons: [] } };
    await expect(log.append(bad as unknown as AuditRecordInput)).rejects.toMatchObject({
      code: "internal_error",
      message: expect.stringMatching(/audit record rejected/) as unknown,
    });
    expect(log.healthy()).toBe(true);
    expect(await log.append(decision(2))).toMatchObject({ seq: 1 });
    await log.close();
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 1 });
  });

  it("resumes seq and the chain across close and reopen", async () => {
    const first = await openAuditLog({ path: file });
    for (let n = 1; n <= 3; n++) await first.append(decision(n));
    await first.close();

    const second = await openAuditLog({ path: file });
    expect(second.stats()).toMatchObject({ lastSeq: 3, durableSeq: 3 });
    const fourth = await second.append(decision(4));
    await second.append(decision(5));
    await second.close();

    expect(fourth.seq).toBe(4);
    const records = await lines(file);
    expect(records.map((r) => r["seq"])).toEqual([1, 2, 3, 4, 5]);
    expect(records[3]?.["prev_hash"]).toBe(records[2]?.["hash"]);
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 5 });
  });

  it("opens an existing empty file as a fresh chain", async () => {
    await openAuditLog({ path: file }).then((log) => log.close());
    expect(await readFile(file, "utf8")).toBe("");
    const log = await openAuditLog({ path: file });
    expect(await log.append(decision(1))).toMatchObject({ seq: 1 });
    await log.close();
  });

  it("group-commits concurrent appends: contiguous seq in call order, fewer fdatasyncs", async () => {
    const { counts, opener } = instrumented();
    const log = await openAuditLog({ path: file, open: opener });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, index) => log.append(decision(index + 1))),
    );
    await log.close();

    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const records = await lines(file);
    expect(records.map((r) => r["decision_id"])).toEqual(
      results.map((r) => `dec-${String(r.seq)}`),
    );
    expect(counts.datasyncs).toBeGreaterThan(0);
    expect(counts.datasyncs).toBeLessThan(200);
    expect(log.stats()).toMatchObject({ appends: 200, syncs: counts.datasyncs, pending: 0 });
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 200 });
  });

  it("batches appends issued while a write+fdatasync is in flight into the next one", async () => {
    const { counts, switches, opener } = instrumented();
    const log = await openAuditLog({ path: file, open: opener });
    let release = (): void => undefined;
    switches.holdDatasync = new Promise<void>((resolve) => {
      release = resolve;
    });
    let firstDone = false;
    const first = log.append(decision(1)).then((result) => {
      firstDone = true;
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(counts.datasyncs).toBe(1); // the first batch is waiting in fdatasync
    expect(firstDone).toBe(false); // not acknowledged before it is durable
    const rest = Array.from({ length: 10 }, (_, index) => log.append(decision(index + 2)));
    expect(log.stats().pending).toBe(10);
    switches.holdDatasync = undefined;
    release();
    const results = await Promise.all([first, ...rest]);
    expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(counts).toMatchObject({ writes: 2, datasyncs: 2 });
    await log.close();
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 11 });
  });

  it("does not fdatasync when fsync is false", async () => {
    const { counts, opener } = instrumented();
    const log = await openAuditLog({ path: file, open: opener, fsync: false });
    await log.append(decision(1));
    await log.close();
    expect(counts).toMatchObject({ opens: 1, writes: 1, datasyncs: 0, closes: 1 });
  });

  it("opens its own file O_DSYNC when fsync is on: one durable write per batch, no fdatasync", async () => {
    const datasync = vi.spyOn(await fileHandlePrototype(), "datasync");
    try {
      const log = await openAuditLog({ path: file });
      await Promise.all([log.append(decision(1)), log.append(decision(2))]);
      expect(openFlags(file) & constants.O_DSYNC).toBe(constants.O_DSYNC);
      expect(openFlags(file) & constants.O_APPEND).toBe(constants.O_APPEND);
      expect(datasync).not.toHaveBeenCalled();
      expect(log.stats()).toMatchObject({ appends: 2, batches: 1, syncs: 1 });
      await log.close();
      expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 2 });
    } finally {
      datasync.mockRestore();
    }
  });

  it("opens its own file without O_DSYNC when fsync is off", async () => {
    const log = await openAuditLog({ path: file, fsync: false });
    await log.append(decision(1));
    expect(openFlags(file) & constants.O_DSYNC).toBe(0);
    expect(log.stats()).toMatchObject({ appends: 1, syncs: 0 });
    await log.close();
  });

  it("asks the opener for a durable file exactly when fsync is on", async () => {
    const asked: boolean[] = [];
    for (const fsync of [true, false]) {
      const log = await openAuditLog({
        path: join(dir, `asked-${String(fsync)}.jsonl`),
        fsync,
        open: async (path, { durable }) => {
          asked.push(durable);
          return open(path, "a", 0o600);
        },
      });
      await log.close();
    }
    expect(asked).toEqual([true, false]);
  });

  it("a handle that says its writes are durable is never fdatasync'ed; its failing write fails the log", async () => {
    const { counts, switches, opener } = instrumented({ durableWrites: true });
    const log = await openAuditLog({ path: file, open: opener });
    await log.append(decision(1));
    expect(counts).toMatchObject({ writes: 1, datasyncs: 0 });
    expect(log.stats()).toMatchObject({ syncs: 1 });
    switches.failWrite = true;
    await expectUnavailable(log.append(decision(2)), /audit log write failed .*EIO/);
    expect(log.healthy()).toBe(false);
    await log.close();
  });

  it("close flushes pending appends; appends after close reject", async () => {
    const log = await openAuditLog({ path: file });
    const pending = [log.append(decision(1)), log.append(decision(2))];
    await log.close();
    expect(await Promise.all(pending)).toMatchObject([{ seq: 1 }, { seq: 2 }]);
    expect(log.healthy()).toBe(false);
    await expectUnavailable(log.append(decision(3)), /is closed/);
    await log.close(); // idempotent
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 2 });
  });
});

describe("fail closed", () => {
  it("a failing write rejects the whole batch with audit_unavailable and leaves the log failed", async () => {
    const { switches, opener } = instrumented();
    const log = await openAuditLog({ path: file, open: opener });
    await log.append(decision(1));
    expect(log.healthy()).toBe(true);

    switches.failWrite = true;
    const batch = await Promise.allSettled([log.append(decision(2)), log.append(decision(3))]);
    for (const settled of batch) {
      expect(settled.status).toBe("rejected");
      if (settled.status === "rejected") {
        expect(settled.reason).toMatchObject({ code: "audit_unavailable" });
        expect((settled.reason as Error).message).toMatch(/audit log write failed .*EIO/);
        expect((settled.reason as Error).cause).toMatchObject({ code: "EIO" });
      }
    }
    expect(log.healthy()).toBe(false);
    expect(log.stats().failure).toMatch(/write failed/);

    switches.failWrite = false; // even once the disk is back, the log stays failed
    await expectUnavailable(log.append(decision(4)), /failed and refuses appends until reopened/);
    await log.close();

    // Nothing of the failed batch reached the file: reopening resumes after seq 1.
    const reopened = await openAuditLog({ path: file });
    expect(await reopened.append(decision(5))).toMatchObject({ seq: 2 });
    await reopened.close();
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 2 });
  });

  it("a failing fdatasync rejects with audit_unavailable, also for appends queued behind it", async () => {
    const { switches, opener } = instrumented();
    const log = await openAuditLog({ path: file, open: opener });
    await log.append(decision(1));

    switches.failDatasync = true;
    let release = (): void => undefined;
    switches.holdDatasync = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inFlight = log.append(decision(2));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const queued = log.append(decision(3)); // waits for the failing batch
    release();
    await expectUnavailable(inFlight, /audit log write failed .*fdatasync/);
    await expectUnavailable(queued, /audit log write failed/);
    expect(log.healthy()).toBe(false);
    await expectUnavailable(log.append(decision(4)), /refuses appends until reopened/);
    await log.close();
  });

  it("a real write failure from the kernel (ENOSPC on /dev/full) fails the log", async () => {
    const log = await openAuditLog({ path: file, open: () => open("/dev/full", "a") });
    await expectUnavailable(log.append(decision(1)), /ENOSPC/);
    expect(log.healthy()).toBe(false);
    await expectUnavailable(log.append(decision(2)), /refuses appends/);
    await log.close();
  });

  it("refuses to open where the directory cannot be created (its parent is a regular file)", async () => {
    const blocker = join(dir, "not-a-directory");
    await writeFile(blocker, "x");
    await expectUnavailable(
      openAuditLog({ path: join(blocker, "audit", "audit.jsonl") }),
      /cannot create the audit log directory/,
    );
  });

  it("refuses to open a path that is not a regular file", async () => {
    await expectUnavailable(openAuditLog({ path: dir }), /not a regular file/);
  });

  it("refuses to open a log whose last line was cut short", async () => {
    const log = await openAuditLog({ path: file });
    for (let n = 1; n <= 3; n++) await log.append(decision(n));
    await log.close();
    const text = await readFile(file, "utf8");
    await writeFile(file, text.slice(0, -25)); // a torn write: no newline, half a record
    await expectUnavailable(
      openAuditLog({ path: file }),
      /cannot be continued: its last line is incomplete/,
    );
    // even with a newline, half a record is not a record
    await appendFile(file, "\n");
    await expectUnavailable(
      openAuditLog({ path: file }),
      /last line is not a valid record \(not valid JSON\)/,
    );
  });

  it("refuses to open a log whose last record was edited", async () => {
    const log = await openAuditLog({ path: file });
    for (let n = 1; n <= 3; n++) await log.append(decision(n));
    await log.close();
    const text = await readFile(file, "utf8");
    await writeFile(file, text.replace(/"dec-3"/, '"dec-X"'));
    await expectUnavailable(
      openAuditLog({ path: file }),
      /last record \(seq 3\) does not match its hash/,
    );
  });

  it("refuses to open a log whose last line is not a record", async () => {
    await openAuditLog({ path: file }).then((log) => log.close());
    await writeFile(file, '{"hello":"world"}\n');
    await expectUnavailable(openAuditLog({ path: file }), /chain members invalid/);
  });
});
