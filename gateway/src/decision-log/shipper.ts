// Ships decision-log entries to an HTTP sink in batches, as OPA's decision-log plugin does:
// POST of a gzip-compressed JSON array (Content-Encoding: gzip), retried with exponential
// backoff and jitter while the sink is down.
//
// Invariants: shipping never blocks or fails a call (enqueue is synchronous and cannot throw);
// memory is bounded: the buffer holds at most `maxBuffered` entries and `maxBufferedBytes` of
// JSON (entries are kept serialised), and when full the OLDEST entries are dropped (OPA's choice: the newest decisions matter most) and counted; a batch the
// sink refuses as malformed (4xx other than 408/429) is dropped and counted rather than retried
// forever. One upload at a time, in order. Failure modes are logged once per change of state
// (sink down, sink back), not once per attempt. `flush(deadline)` returns by its deadline even
// while an upload is still in flight (a shutdown waits no longer than it said); a batch whose
// upload fails after `close()` is dropped and counted ("shutdown"), never put back in a buffer
// nothing will send again. What is logged of a failed upload is our own message or the error's
// code or name, never fetch's message: it quotes the URL (a password in its user info) and a
// header value it refuses (the bearer token).
import { gzip } from "node:zlib";
import { promisify } from "node:util";
import type { Log } from "../../../common/service.ts";
import { errorKind } from "../../../common/error-codes.ts";

const compress = promisify(gzip);

export type DropReason = "buffer_full" | "rejected" | "shutdown";

export interface ShipperEvents {
  /** `count` entries were dropped: the buffer overflowed, or the sink refused their batch. */
  dropped?(reason: DropReason, count: number): void;
  /** `count` entries reached the sink. */
  sent?(count: number): void;
  /** An upload failed (it will be retried). */
  failed?(): void;
}

export interface ShipperOptions {
  url: URL;
  /** Sent as `Authorization: Bearer …` when set. */
  token?: string | undefined;
  /** Most entries kept waiting (default 10 000). */
  maxBuffered?: number;
  /** Most bytes of JSON kept waiting (default 64 MiB): entries carry a call's input each. */
  maxBufferedBytes?: number;
  /** Most entries per upload (default 500). */
  maxBatch?: number;
  /** How long an entry may wait for a batch to fill (default 1 000 ms). */
  flushIntervalMs?: number;
  /** Backoff after a failed upload: from min, doubling, up to max (default 100 ms … 30 s). */
  backoff?: { minMs: number; maxMs: number };
  /** Per upload (default 10 s). */
  timeoutMs?: number;
  log: Log;
  events?: ShipperEvents;
  fetch?: typeof fetch;
}

export interface DecisionLogShipper {
  enqueue(entry: object): void;
  /** Uploads everything buffered now (retrying as configured); resolves when the buffer is empty or `deadlineMs` passed. */
  flush(deadlineMs?: number): Promise<void>;
  stats(): { buffered: number };
  /** Stops the timer; call flush() first to send what is left. */
  close(): void;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`${name} must be a positive integer`);
  return value;
}

function checked(options: ShipperOptions) {
  if (!(options.url instanceof URL) || !/^https?:$/.test(options.url.protocol)) {
    throw new TypeError("the decision-log url must be an http(s) URL");
  }
  const backoff = options.backoff ?? { minMs: 100, maxMs: 30_000 };
  positiveInteger("backoff.minMs", backoff.minMs);
  if (backoff.maxMs < backoff.minMs) throw new TypeError("backoff.maxMs must be at least minMs");
  return {
    maxBuffered: positiveInteger("maxBuffered", options.maxBuffered ?? 10_000),
    maxBufferedBytes: positiveInteger("maxBufferedBytes", options.maxBufferedBytes ?? 64 << 20),
    maxBatch: positiveInteger("maxBatch", options.maxBatch ?? 500),
    flushIntervalMs: positiveInteger("flushIntervalMs", options.flushIntervalMs ?? 1_000),
    timeoutMs: positiveInteger("timeoutMs", options.timeoutMs ?? 10_000),
    backoff,
  };
}

class UploadError extends Error {
  readonly retry: boolean;
  constructor(message: string, retry: boolean) {
    super(message);
    this.retry = retry;
  }
}

/** One POST of a gzip'd JSON array; throws an UploadError saying whether to retry. */
async function upload(
  options: ShipperOptions,
  timeoutMs: number,
  batch: readonly string[],
): Promise<void> {
  const body = await compress(Buffer.from(`[${batch.join(",")}]`));
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(options.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-encoding": "gzip",
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      },
      body,
      // Never followed: a 302/303 would re-send as a bodiless GET (entries counted as sent, lost)
      // and a 307/308 would post the decisions to whatever host the Location names.
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new UploadError(`sink unreachable (${errorKind(error)})`, true);
  }
  await response.body?.cancel();
  if (response.ok) return;
  if (response.status >= 300 && response.status < 400) {
    // A moved sink is a configuration to fix, not a malformed batch: kept and retried.
    throw new UploadError(
      `sink answered ${String(response.status)} (redirects are not followed)`,
      true,
    );
  }
  const retry = response.status >= 500 || response.status === 408 || response.status === 429;
  throw new UploadError(`sink answered ${String(response.status)}`, retry);
}

/** Resolves when `work` settles or at `deadline` (epoch ms), whichever comes first. */
async function untilDeadline(work: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((done) => {
    timer = setTimeout(done, Math.max(0, deadline - Date.now()));
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export function createDecisionLogShipper(options: ShipperOptions): DecisionLogShipper {
  const { maxBuffered, maxBufferedBytes, maxBatch, flushIntervalMs, timeoutMs, backoff } =
    checked(options);
  const { log, events = {} } = options;
  const tell = (report: () => void) => {
    try {
      report();
    } catch {
      // a failing metric never stops shipping
    }
  };
  // Entries as the JSON they are shipped as: their size is known, and they hold nothing else.
  let buffer: string[] = [];
  let bytes = 0;
  const sizeOf = (entries: readonly string[]) => entries.reduce((n, e) => n + e.length, 0);
  let failures = 0;
  let sending: Promise<void> | undefined;
  let retryAt = 0;
  let closed = false;

  const drop = (reason: DropReason, count: number) => {
    if (count > 0) tell(() => events.dropped?.(reason, count));
  };
  const bound = () => {
    let excess = Math.max(0, buffer.length - maxBuffered);
    let over = bytes - sizeOf(buffer.slice(0, excess)) - maxBufferedBytes;
    while (over > 0 && excess < buffer.length) {
      over -= buffer[excess]?.length ?? 0;
      excess++;
    }
    if (excess === 0) return;
    bytes -= sizeOf(buffer.slice(0, excess));
    buffer = buffer.slice(excess);
    drop("buffer_full", excess);
  };
  const sendOne = async (): Promise<void> => {
    const batch = buffer.slice(0, maxBatch);
    buffer = buffer.slice(batch.length);
    bytes -= sizeOf(batch);
    try {
      await upload(options, timeoutMs, batch);
      if (failures > 0)
        log("info", "decision log sink reachable again", { url: options.url.origin });
      failures = 0;
      tell(() => events.sent?.(batch.length));
    } catch (error) {
      const { message, retry } = error as UploadError;
      tell(() => events.failed?.());
      if (closed) {
        log("error", "decision log entries not shipped at shutdown: dropped", {
          error: message,
          entries: batch.length,
          url: options.url.origin,
        });
        drop("shutdown", batch.length);
        return;
      }
      if (!retry) {
        log("error", "decision log batch refused by the sink: dropped", {
          error: message,
          entries: batch.length,
        });
        drop("rejected", batch.length);
        return;
      }
      if (failures === 0)
        log("warn", "decision log sink unavailable: retrying with backoff", { error: message });
      failures++;
      const wait = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(failures - 1, 30));
      retryAt = Date.now() + wait / 2 + Math.random() * (wait / 2);
      buffer = [...batch, ...buffer];
      bytes += sizeOf(batch);
      bound();
    }
  };
  const pump = (): Promise<void> => {
    if (sending !== undefined) return sending;
    if (buffer.length === 0 || Date.now() < retryAt) return Promise.resolve();
    sending = sendOne().finally(() => {
      sending = undefined;
    });
    return sending;
  };
  const timer = setInterval(() => {
    void pump();
  }, flushIntervalMs);
  timer.unref();

  return {
    enqueue(entry) {
      let json: string;
      try {
        json = JSON.stringify(entry);
      } catch {
        drop("rejected", 1);
        return;
      }
      buffer.push(json);
      bytes += json.length;
      bound();
      if (buffer.length >= maxBatch) void pump();
    },
    async flush(deadlineMs = 10_000) {
      const deadline = Date.now() + deadlineMs;
      while (buffer.length > 0 || sending !== undefined) {
        if (Date.now() >= deadline) return;
        if (sending === undefined && Date.now() < retryAt) {
          await new Promise((done) => setTimeout(done, Math.min(retryAt, deadline) - Date.now()));
          continue;
        }
        await untilDeadline(pump(), deadline);
      }
    },
    stats: () => ({ buffered: buffer.length }),
    close() {
      closed = true;
      clearInterval(timer);
      if (buffer.length > 0) {
        log("error", "decision log entries not shipped at shutdown: dropped", {
          entries: buffer.length,
          url: options.url.origin,
        });
        drop("shutdown", buffer.length);
        buffer = [];
        bytes = 0;
      }
    },
  };
}
