// The durable audit log: append-only JSON Lines, hash-chained, group-committed.
//
// `append` resolves only once the record's bytes are written AND on stable storage: the gateway
// awaits it before it calls the worker or returns a denial. The default file is opened O_DSYNC,
// so each write returns only once its bytes are durable (one thread-pool round trip per batch,
// issue 18); a handle that does not say `durableWrites` gets write then fdatasync. Appends that
// arrive while a batch is being made durable wait for it and then share the next one (group
// commit); seq and hashes are given in call order, synchronously, so the chain order is the call
// order.
//
// Fail closed. If a write (under O_DSYNC, its sync too) or fdatasync fails, every append of that
// batch and every append queued behind it rejects with `audit_unavailable`, and the log stays
// failed (every later append rejects) until it is reopened: after a failed write the file's tail
// is unknown, so the chain cannot be continued blindly. Reopening checks the tail: a last line
// that is not a whole, self-consistent record (a write cut short, an edit) makes open refuse, for
// an operator to look at with `npm run audit -- verify <file>`.
//
// Signed checkpoints (option `checkpoints`, see checkpoint.ts): after every `everyRecords`
// records the log appends a checkpoint in the same synchronous step, so at most that many records
// ever sit between two checkpoints; a timer seals records older than `everySeconds`; close() seals
// the tail; opening a log whose last record is not a closing checkpoint seals it at once with
// reason "open" (the previous run crashed, or the file was cut: verify says so). A checkpoint
// that cannot be signed fails the log like a failed write. A checkpoint proves the records before
// it; nothing in the file can prove that records after a checkpoint were not cut off together with
// later checkpoints, so each durable checkpoint's head is also handed to `onCheckpoint`, for a
// witness kept elsewhere (verify --expect-head).
//
// Room for scale-out: `replica` stamps every record (checkpoints included) with the replica id.
//
// One writer per file: the log does not lock the file against another process.
import type { FileHandle } from "node:fs/promises";
import { constants } from "node:fs";
import { mkdir, open as openFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { GatewayError } from "../lib/errors.ts";
import type { CheckpointReason, CheckpointSigner } from "./checkpoint.ts";
import {
  CHECKPOINT_EVENT,
  DEFAULT_EVERY_RECORDS,
  DEFAULT_EVERY_SECONDS,
  makeCheckpoint,
} from "./checkpoint.ts";
import type { MaskOptions } from "./mask.ts";
import { maskSecretsSorted } from "./mask.ts";
import type { AuditRecordInput } from "./record.ts";
import { checkAuditRecordInput, GENESIS_HASH, parseStoredLine, serializeRecord } from "./record.ts";

/** The little of a file handle the log needs; node's FileHandle (opened for append) fits. */
export interface AuditFileHandle {
  /**
   * True: each write returns only once its bytes are on stable storage (the file is open
   * O_DSYNC), so the log does not fdatasync after it. Absent or false: write, then datasync.
   */
  readonly durableWrites?: boolean | undefined;
  write(data: Uint8Array): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the log file for appending, creating it (mode 0600) when absent. `durable`: the log will
 * make every batch durable (its `fsync` option), so the opener may open the file O_DSYNC.
 */
export type AuditFileOpener = (
  path: string,
  options: { durable: boolean },
) => Promise<AuditFileHandle>;

export interface OpenAuditLogOptions {
  path: string;
  /** Clock for records that carry no timestamp (default: the system clock). */
  now?: (() => Date) | undefined;
  /** fdatasync each batch before acknowledging it (default true; false only for tests/benches). */
  fsync?: boolean | undefined;
  /**
   * Low-level handle factory (tests inject failures here). Default: open for appending, 0600,
   * O_DSYNC when `fsync` is on and the platform has it.
   */
  open?: AuditFileOpener | undefined;
  /** Bounds for masking the record (see mask.ts). */
  mask?: MaskOptions | undefined;
  /** Sign the chain head with the gateway's checkpoint key (see checkpoint.ts). */
  checkpoints?: CheckpointOptions | undefined;
  /** This gateway replica's id, stamped on every record (scale-out). */
  replica?: string | undefined;
  /**
   * Told each batch's sync duration (the fdatasync, or the whole O_DSYNC write) and its group
   * commit's size (metrics); never fails a write.
   */
  onSync?: ((seconds: number, records: number) => void) | undefined;
  /**
   * Told each checkpoint once it is durable: its own seq and hash, a head to keep OUTSIDE this
   * host (the platform's log pipeline, say) so that a log cut back to a checkpoint can be shown
   * (`npm run audit -- verify --expect-head <seq>:<hash>`). Never fails a write.
   */
  onCheckpoint?: ((head: CheckpointHead) => void) | undefined;
}

/** A durable checkpoint: its record's seq and hash, and why it was written. */
export interface CheckpointHead {
  seq: number;
  hash: string;
  reason: CheckpointReason;
}

export interface CheckpointOptions {
  signer: CheckpointSigner;
  /** A checkpoint after this many records (default 1000). */
  everyRecords?: number | undefined;
  /** A checkpoint when records have waited this long unsealed (default 60). */
  everySeconds?: number | undefined;
}

export interface AppendResult {
  seq: number;
  hash: string;
}

export interface AuditLogStats {
  path: string;
  /** seq given to the newest append (durable or not). */
  lastSeq: number;
  /** seq of the newest record known durable. */
  durableSeq: number;
  lastHash: string;
  appends: number;
  /** Batches made durable (group commits: O_DSYNC writes or write+fdatasync rounds). */
  batches: number;
  syncs: number;
  bytesWritten: number;
  pending: number;
  redactions: number;
  checkpoints: number;
  healthy: boolean;
  failure?: string;
}

export interface AuditLog {
  readonly path: string;
  /** Resolves once the record is durable; rejects with audit_unavailable when it cannot be. */
  append(record: AuditRecordInput): Promise<AppendResult>;
  /** Flushes what is pending, then closes the file. Later appends reject. */
  close(): Promise<void>;
  /** Open and not failed (for /readyz). */
  healthy(): boolean;
  stats(): AuditLogStats;
}

interface Pending {
  seq: number;
  hash: string;
  bytes: Buffer;
  resolve: (result: AppendResult) => void;
  reject: (error: GatewayError) => void;
}

/** The longest last line `openAuditLog` reads back to resume the chain. */
const MAX_TAIL_BYTES = 64 * 1024 * 1024;

/** O_DSYNC where the platform defines it (Linux, macOS); elsewhere write + fdatasync. */
const defaultOpener: AuditFileOpener = async (path, { durable }) => {
  const dsync = durable ? (constants.O_DSYNC as number | undefined) : undefined;
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (dsync ?? 0);
  const file = await openFile(path, flags, 0o600);
  return {
    durableWrites: dsync !== undefined,
    write: (data) => file.write(data),
    datasync: () => file.datasync(),
    close: () => file.close(),
  };
};

export async function openAuditLog(options: OpenAuditLogOptions): Promise<AuditLog> {
  const path = resolve(options.path);
  const now = options.now ?? (() => new Date());
  const fsync = options.fsync ?? true;
  const opener = options.open ?? defaultOpener;
  const maskOptions = options.mask ?? {};

  const { tail, handle } = await openForAppend(path, opener, fsync);

  let nextSeq = tail.seq + 1;
  let lastHash = tail.hash;
  let durableSeq = tail.seq;
  let pending: Pending[] = [];
  let draining: Promise<void> | undefined;
  let failure: GatewayError | undefined;
  let closing: Promise<void> | undefined;
  const counters = {
    appends: 0,
    batches: 0,
    syncs: 0,
    bytesWritten: 0,
    redactions: 0,
    checkpoints: 0,
  };
  const sealing = checkpointSettings(options.checkpoints);
  let unsealed = 0;
  /** The newest record is a closing checkpoint (nothing to seal at close). */
  let headClosed = tail.closed;

  function failedError(): GatewayError {
    return unavailable(
      `audit log ${path} is failed and refuses appends until reopened (${failure?.message ?? ""})`,
      failure,
    );
  }

  async function drain(): Promise<void> {
    // Let every append issued in the same tick join the first batch.
    await Promise.resolve();
    try {
      while (pending.length > 0) {
        const batch = pending;
        pending = [];
        const bytes =
          batch.length === 1 && batch[0] !== undefined
            ? batch[0].bytes
            : Buffer.concat(batch.map((item) => item.bytes));
        try {
          let syncStarted = performance.now();
          await writeFully(handle, bytes);
          counters.bytesWritten += bytes.length;
          if (fsync) {
            if (handle.durableWrites !== true) {
              syncStarted = performance.now();
              await handle.datasync();
            }
            counters.syncs++;
            reportSync(options.onSync, syncStarted, batch.length);
          }
        } catch (cause) {
          failure = unavailable(
            `audit log write failed (${String(batch.length)} record(s), seq ${String(batch[0]?.seq)}–${String(batch.at(-1)?.seq)}): ${describe(cause)}`,
            cause,
          );
          const rejected = [...batch, ...pending];
          pending = [];
          for (const item of rejected) item.reject(failure);
          return;
        }
        counters.batches++;
        durableSeq = batch.at(-1)?.seq ?? durableSeq;
        for (const item of batch) item.resolve({ seq: item.seq, hash: item.hash });
      }
    } finally {
      draining = undefined;
    }
  }

  /** Give the next seq and hash to `body` and queue its bytes. Synchronous; throws if unserializable. */
  function enqueue(body: Record<string, unknown>, nestedInOrder = false): Promise<AppendResult> {
    const seq = nextSeq;
    if (options.replica !== undefined) body["replica"] = options.replica;
    const { line, hash } = serializeRecord({ ...body, seq, prev_hash: lastHash }, nestedInOrder);
    nextSeq = seq + 1;
    lastHash = hash;
    headClosed = false;
    const bytes = Buffer.from(`${line}\n`, "utf8");
    const result = new Promise<AppendResult>((resolvePromise, rejectPromise) => {
      pending.push({ seq, hash, bytes, resolve: resolvePromise, reject: rejectPromise });
    });
    draining ??= drain();
    return result;
  }

  /**
   * Seal the head with a signed checkpoint. Its failure fails the log like a failed write: a log
   * that can no longer sign must not go on unsealed (fail closed).
   */
  function seal(reason: CheckpointReason): Promise<AppendResult> | undefined {
    if (sealing === undefined) return undefined;
    const head = { seq: nextSeq - 1, hash: lastHash };
    let record: Record<string, unknown>;
    try {
      record = checkpointRecord(sealing, head, reason, now(), options.replica);
    } catch (cause) {
      failure = unavailable(`cannot sign the audit checkpoint: ${describe(cause)}`, cause);
      return undefined;
    }
    unsealed = 0;
    counters.checkpoints++;
    const written = enqueue(record);
    written.then(
      ({ seq, hash }) => {
        try {
          options.onCheckpoint?.({ seq, hash, reason });
        } catch {
          // a witness that throws changes nothing here
        }
      },
      () => undefined, // the log's failure state carries the error
    );
    headClosed = reason === "close";
    return written;
  }

  // Not `async`: seq and hash are taken synchronously, in call order.
  function append(input: AuditRecordInput): Promise<AppendResult> {
    if (failure !== undefined) return Promise.reject(failedError());
    if (closing !== undefined) return Promise.reject(unavailable(`audit log ${path} is closed`));

    const checked = checkAuditRecordInput(input);
    if (!checked.ok) {
      return Promise.reject(
        new GatewayError("internal_error", `audit record rejected: ${checked.message}`),
      );
    }
    let result: Promise<AppendResult>;
    try {
      const masked = maskSecretsSorted(input, maskOptions);
      counters.redactions += masked.redactions;
      const body = masked.value as Record<string, unknown>;
      // The chain members are the log's to set, whatever the caller sent.
      delete body["seq"];
      delete body["prev_hash"];
      delete body["hash"];
      const timestamp =
        typeof body["timestamp"] === "string" ? body["timestamp"] : now().toISOString();
      result = enqueue({ ...body, timestamp }, masked.canonicalOrder);
    } catch (cause) {
      return Promise.reject(
        new GatewayError("internal_error", `audit record not serializable: ${describe(cause)}`, {
          cause,
        }),
      );
    }
    counters.appends++;
    unsealed++;
    if (sealing !== undefined && unsealed >= sealing.everyRecords) void seal("records");
    return result;
  }

  const timer =
    sealing === undefined
      ? undefined
      : setInterval(() => {
          if (unsealed > 0 && failure === undefined && closing === undefined) void seal("interval");
        }, sealing.everySeconds * 1000);
  timer?.unref();
  if (tail.exists && tail.seq > 0 && !tail.closed) void seal("open");
  // A cleanly closed log's head is its closing checkpoint: the witness (and the gauge) hears it
  // again, or a restart would read as the log cut back to 0.
  if (tail.exists && tail.seq > 0 && tail.closed) {
    try {
      options.onCheckpoint?.({ seq: tail.seq, hash: tail.hash, reason: "close" });
    } catch {
      // a witness that throws changes nothing here
    }
  }

  async function finish(): Promise<void> {
    if (timer !== undefined) clearInterval(timer);
    if (failure === undefined && !headClosed) void seal("close");
    while (draining !== undefined) await draining;
    try {
      await handle.close();
    } catch (cause) {
      throw unavailable(`cannot close the audit log ${path}: ${describe(cause)}`, cause);
    }
  }

  return {
    path,
    append,
    close(): Promise<void> {
      closing ??= finish();
      return closing;
    },
    healthy(): boolean {
      return failure === undefined && closing === undefined;
    },
    stats(): AuditLogStats {
      const stats: AuditLogStats = {
        path,
        lastSeq: nextSeq - 1,
        durableSeq,
        lastHash,
        ...counters,
        pending: pending.length,
        healthy: failure === undefined && closing === undefined,
      };
      if (failure !== undefined) stats.failure = failure.message;
      return stats;
    },
  };
}

async function writeFully(handle: AuditFileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(offset === 0 ? bytes : bytes.subarray(offset));
    if (!Number.isSafeInteger(bytesWritten) || bytesWritten <= 0) {
      throw new Error(`short write (${String(bytesWritten)} bytes written)`);
    }
    offset += bytesWritten;
  }
}

/** Make a newly created file's directory entry durable too (best effort: not every fs can). */
async function syncDirectory(directory: string): Promise<void> {
  let dir: FileHandle | undefined;
  try {
    dir = await openFile(directory, "r");
    await dir.sync();
  } catch {
    // A filesystem that cannot fsync a directory still persists the file's own data.
  } finally {
    await dir?.close().catch(() => undefined);
  }
}

interface Tail {
  exists: boolean;
  seq: number;
  hash: string;
  /** The last record is a closing checkpoint. */
  closed: boolean;
}

function checkpointSettings(
  options: CheckpointOptions | undefined,
): { signer: CheckpointSigner; everyRecords: number; everySeconds: number } | undefined {
  if (options === undefined) return undefined;
  const everyRecords = options.everyRecords ?? DEFAULT_EVERY_RECORDS;
  const everySeconds = options.everySeconds ?? DEFAULT_EVERY_SECONDS;
  if (!Number.isSafeInteger(everyRecords) || everyRecords < 1) {
    throw new TypeError("checkpoints.everyRecords must be a positive integer");
  }
  if (!Number.isFinite(everySeconds) || everySeconds <= 0) {
    throw new TypeError("checkpoints.everySeconds must be positive");
  }
  return { signer: options.signer, everyRecords, everySeconds };
}

/** The record that seals `head`, signed. */
function checkpointRecord(
  sealing: { signer: CheckpointSigner; everyRecords: number; everySeconds: number },
  head: { seq: number; hash: string },
  reason: CheckpointReason,
  at: Date,
  replica: string | undefined,
): Record<string, unknown> {
  const timestamp = at.toISOString();
  const every = { records: sealing.everyRecords, seconds: sealing.everySeconds };
  const checkpoint = makeCheckpoint(sealing.signer, head, reason, every, timestamp, replica);
  return { event: CHECKPOINT_EVENT, timestamp, checkpoint };
}

/** Creates the directory, reads the tail to resume the chain, and opens the file for appending. */
async function openForAppend(
  path: string,
  opener: AuditFileOpener,
  fsync: boolean,
): Promise<{ tail: Tail; handle: AuditFileHandle }> {
  const directory = dirname(path);
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw unavailable(
      `cannot create the audit log directory ${directory}: ${describe(cause)}`,
      cause,
    );
  }
  const tail = await readTail(path);
  let handle: AuditFileHandle;
  try {
    handle = await opener(path, { durable: fsync });
  } catch (cause) {
    throw unavailable(`cannot open the audit log ${path}: ${describe(cause)}`, cause);
  }
  if (!tail.exists && fsync) await syncDirectory(directory);
  return { tail, handle };
}

function isClosingCheckpoint(record: Record<string, unknown>): boolean {
  const checkpoint = record["checkpoint"] as { reason?: unknown } | undefined;
  return record["event"] === CHECKPOINT_EVENT && checkpoint?.reason === "close";
}

/** Read the last record of an existing log to resume its chain; refuse a broken tail. */
async function readTail(path: string): Promise<Tail> {
  let file: FileHandle;
  try {
    file = await openFile(path, "r");
  } catch (cause) {
    if (errorCode(cause) === "ENOENT")
      return { exists: false, seq: 0, hash: GENESIS_HASH, closed: true };
    throw unavailable(`cannot read the audit log ${path}: ${describe(cause)}`, cause);
  }
  const refuse = (why: string): GatewayError =>
    unavailable(
      `audit log ${path} cannot be continued: ${why}; run "npm run audit -- verify ${path}" and repair or rotate the file`,
    );
  try {
    const info = await file.stat();
    if (!info.isFile()) throw refuse("it is not a regular file");
    const size = info.size;
    if (size === 0) return { exists: true, seq: 0, hash: GENESIS_HASH, closed: true };
    let window = Math.min(size, 64 * 1024);
    for (;;) {
      const buffer = Buffer.alloc(window);
      await readFully(file, buffer, size - window);
      if (buffer[window - 1] !== 0x0a) {
        throw refuse("its last line is incomplete (no trailing newline: a write was cut short)");
      }
      const start = window >= 2 ? buffer.lastIndexOf(0x0a, window - 2) : -1;
      if (start === -1 && window < size) {
        if (window >= MAX_TAIL_BYTES) throw refuse("its last line is longer than 64 MiB");
        window = Math.min(size, window * 4, MAX_TAIL_BYTES);
        continue;
      }
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
          buffer.subarray(start + 1, -1),
        );
      } catch {
        throw refuse("its last line is not valid UTF-8");
      }
      const parsed = parseStoredLine(text);
      if (!parsed.ok) throw refuse(`its last line is not a valid record (${parsed.reason})`);
      if (!parsed.hashValid) {
        throw refuse(`its last record (seq ${String(parsed.record.seq)}) does not match its hash`);
      }
      if (!parsed.canonical) {
        throw refuse(`its last record (seq ${String(parsed.record.seq)}) was edited by hand`);
      }
      return {
        exists: true,
        seq: parsed.record.seq,
        hash: parsed.record.hash,
        closed: isClosingCheckpoint(parsed.record),
      };
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw unavailable(`cannot read the audit log ${path}: ${describe(error)}`, error);
  } finally {
    await file.close().catch(() => undefined);
  }
}

async function readFully(file: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await file.read(
      buffer,
      offset,
      buffer.length - offset,
      position + offset,
    );
    if (bytesRead === 0) throw new Error("the file shrank while being read");
    offset += bytesRead;
  }
}

function unavailable(message: string, cause?: unknown): GatewayError {
  return new GatewayError("audit_unavailable", message, cause === undefined ? {} : { cause });
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The onSync hook, told after a batch is durable; a hook that throws is ignored. */
function reportSync(onSync: OpenAuditLogOptions["onSync"], started: number, records: number): void {
  try {
    onSync?.((performance.now() - started) / 1000, records);
  } catch {
    // a metric never fails the audit
  }
}
