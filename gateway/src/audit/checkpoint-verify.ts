// Checks a log's signed checkpoints against a public key set, once its hash chain is intact
// (verifyAuditFile first: this module assumes every line is a well-linked record).
//
// What it reports, each with a stable code:
//   checkpoint_unknown_key        a checkpoint signed by a key that is not in the key set
//   checkpoint_signature_invalid  a checkpoint whose signature does not verify (re-signed, edited)
//   checkpoint_malformed          a checkpoint record without the members it needs
//   log_rechained                 a checkpoint whose signed head is not the record before it: the
//                                 records it covers were rewritten and the chain recomputed
//   checkpoint_missing            more records between two checkpoints (or before the first)
//                                 than the gateway's interval allows, or records spanning more
//                                 than twice its `every_seconds` with no checkpoint among them
//                                 (its timer seals within one interval); with allowUnsealed, an
//                                 unsealed tail older than that at `now`: a checkpoint was
//                                 removed (or the gateway's timer stopped)
//   log_unsealed                  the log does not end with a closing checkpoint: cut after its
//                                 last checkpoint (or the gateway is running, or crashed)
// and, as a note, each "open" checkpoint: the gateway found the log not closed when it reopened
// it (a crash, or a cut before the restart). The first problem of each kind is kept, and a count.
import type { KeyObject } from "node:crypto";
import type { Checkpoint } from "./checkpoint.ts";
import {
  CHECKPOINT_EVENT,
  CHECKPOINT_REASONS,
  DEFAULT_EVERY_RECORDS,
  DEFAULT_EVERY_SECONDS,
  checkSignature,
} from "./checkpoint.ts";
import { GENESIS_HASH } from "./record.ts";
import { CALL_TIMEOUT_MAX_MS } from "../../../common/worker-contract.ts";
import { decode, readLines } from "./verify.ts";

export type CheckpointProblemCode =
  | "checkpoint_unknown_key"
  | "checkpoint_signature_invalid"
  | "checkpoint_malformed"
  | "log_rechained"
  | "checkpoint_missing"
  | "log_unsealed";

export interface CheckpointProblem {
  code: CheckpointProblemCode;
  /** The seq of the record concerned (the checkpoint, or the record where the gap shows). */
  seq: number;
  message: string;
}

export interface CheckpointReport {
  ok: boolean;
  checkpoints: number;
  /** Key ids of the valid checkpoints. */
  keyIds: string[];
  lastCheckpointSeq?: number;
  /** Records after the last checkpoint. */
  unsealedRecords: number;
  problems: CheckpointProblem[];
  notes: string[];
}

export interface CheckpointVerifyOptions {
  keys: ReadonlyMap<string, KeyObject>;
  /** The interval expected before the first checkpoint says its own (default 1000). */
  everyRecords?: number;
  /**
   * The timer expected before the first checkpoint says its own, seconds (default 60, the
   * gateway's AUDIT_CHECKPOINT_SECONDS default): a log stripped of every checkpoint is held to
   * the rule the first one would have set.
   */
  everySeconds?: number;
  /** A live log may end unsealed: report it as a note, not a problem. */
  allowUnsealed?: boolean;
  /** Walk only the first `lines` lines (those the chain pass verified); default all. */
  lines?: number;
  /** The verifier's clock, epoch ms (default Date.now): how old a live log's unsealed tail is. */
  now?: () => number;
}

interface WalkState {
  report: CheckpointReport;
  previous: { seq: number; hash: string };
  sinceCheckpoint: number;
  gapReported: boolean;
  everyRecords: number;
  /** The interval timer of the last checkpoint (undefined before the first). */
  everySeconds: number | undefined;
  /** Earliest and latest record time since the last checkpoint (epoch ms). */
  unsealedSpan: { first: number; last: number } | undefined;
  lastClose: boolean;
}

function isCheckpoint(value: unknown): value is Checkpoint {
  const c = value as Partial<Checkpoint> | null;
  return (
    typeof c === "object" &&
    c !== null &&
    c.v === 1 &&
    Number.isSafeInteger(c.covers_seq) &&
    typeof c.covers_hash === "string" &&
    typeof c.reason === "string" &&
    CHECKPOINT_REASONS.includes(c.reason) &&
    Number.isSafeInteger(c.every_records) &&
    (c.every_records ?? 0) > 0 &&
    typeof c.every_seconds === "number" &&
    typeof c.kid === "string" &&
    typeof c.sig === "string"
  );
}

/**
 * The members a checkpoint record may carry: what its signature binds (checkpoint, timestamp,
 * replica) and the chain's own. Anything else is unsigned: on the head record (a closing
 * checkpoint, which no later record chains over) a forger could add it and re-hash undetected.
 */
const CHECKPOINT_MEMBERS: ReadonlySet<string> = new Set([
  "event",
  "timestamp",
  "checkpoint",
  "replica",
  "seq",
  "prev_hash",
  "hash",
]);

function problem(state: WalkState, code: CheckpointProblemCode, seq: number, message: string) {
  state.report.problems.push({ code, seq, message });
}

function onCheckpoint(
  state: WalkState,
  record: Record<string, unknown>,
  options: CheckpointVerifyOptions,
) {
  const seq = record["seq"] as number;
  const checkpoint = record["checkpoint"];
  state.report.checkpoints++;
  if (!isCheckpoint(checkpoint)) {
    problem(state, "checkpoint_malformed", seq, `seq ${String(seq)}: checkpoint lacks its members`);
    return;
  }
  const unsigned = Object.keys(record).filter((key) => !CHECKPOINT_MEMBERS.has(key));
  if (
    unsigned.length > 0 ||
    (record["replica"] !== undefined && typeof record["replica"] !== "string")
  ) {
    problem(
      state,
      "checkpoint_malformed",
      seq,
      `seq ${String(seq)}: checkpoint record carries members its signature does not cover (${unsigned.join(", ") || "replica"})`,
    );
    return;
  }
  const replica = typeof record["replica"] === "string" ? record["replica"] : undefined;
  const signature = checkSignature(checkpoint, String(record["timestamp"]), replica, options.keys);
  if (signature === "unknown_key") {
    problem(
      state,
      "checkpoint_unknown_key",
      seq,
      `seq ${String(seq)}: checkpoint signed by an unknown key (kid ${checkpoint.kid})`,
    );
    return;
  }
  if (signature === "invalid") {
    problem(
      state,
      "checkpoint_signature_invalid",
      seq,
      `seq ${String(seq)}: checkpoint signature does not verify (kid ${checkpoint.kid})`,
    );
    return;
  }
  if (
    checkpoint.covers_seq !== state.previous.seq ||
    checkpoint.covers_hash !== state.previous.hash
  ) {
    problem(
      state,
      "log_rechained",
      seq,
      `seq ${String(seq)}: the checkpoint signed seq ${String(checkpoint.covers_seq)} with hash ${checkpoint.covers_hash.slice(0, 12)}…, ` +
        `but the log holds seq ${String(state.previous.seq)} with hash ${state.previous.hash.slice(0, 12)}…: records before it were rewritten and re-chained`,
    );
    return;
  }
  // The gap this checkpoint closes, against the interval then in force (its own for the first).
  const limit =
    state.report.lastCheckpointSeq === undefined ? checkpoint.every_records : state.everyRecords;
  if (!state.gapReported && state.sinceCheckpoint > limit) {
    problem(
      state,
      "checkpoint_missing",
      seq,
      `seq ${String(seq)}: ${String(state.sinceCheckpoint)} records before this checkpoint, more than the interval of ${String(limit)}: a checkpoint is missing`,
    );
  }
  // The interval then in force, or this checkpoint's own (the first; or a longer new one).
  const every = Math.max(checkpoint.every_seconds, state.everySeconds ?? 0);
  if (!state.gapReported) checkSpan(state, every, seq, "before this checkpoint");
  if (!state.report.keyIds.includes(checkpoint.kid)) state.report.keyIds.push(checkpoint.kid);
  if (checkpoint.reason === "open") {
    state.report.notes.push(
      `seq ${String(seq)}: the gateway reopened a log that had not been closed (crash, or records cut before the restart)`,
    );
  }
  state.report.lastCheckpointSeq = seq;
  state.sinceCheckpoint = 0;
  state.gapReported = false;
  state.everyRecords = checkpoint.every_records;
  state.everySeconds = checkpoint.every_seconds;
  state.unsealedSpan = undefined;
  state.lastClose = checkpoint.reason === "close";
}

/**
 * How much older than its append a record's timestamp may be: a call's outcome and alert records
 * carry the time its decision was made, and are appended when the worker answered (at most the
 * gateway's longest worker wait later), plus time for the pipeline around it.
 */
export const RECORD_LAG_ALLOWANCE_MS = CALL_TIMEOUT_MAX_MS + 30_000;

/** How far ahead of the verifier's clock a live log's records may be stamped (clock skew). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The longest span of record times one checkpoint may seal: two intervals and the lag. */
function sealWindowMs(everySeconds: number): number {
  return 2 * everySeconds * 1000 + RECORD_LAG_ALLOWANCE_MS;
}

/**
 * The timer rule: the gateway seals records within `everySeconds` of their arrival (a timer
 * that ticks every interval), so records spanning more than twice that (and a call's lag, above)
 * with no checkpoint among them mean one was removed. Before the first checkpoint, that
 * checkpoint's own interval. True when it reported the gap.
 */
function checkSpan(state: WalkState, everySeconds: number, seq: number, where: string): boolean {
  const span = state.unsealedSpan;
  if (span === undefined) return false;
  if (span.last - span.first <= sealWindowMs(everySeconds)) return false;
  state.gapReported = true;
  problem(
    state,
    "checkpoint_missing",
    seq,
    `seq ${String(seq)}: records from ${new Date(span.first).toISOString()} to ${new Date(span.last).toISOString()} ${where} with no checkpoint among them, longer than the gateway's timer allows (twice ${String(everySeconds)} s, and ${String(RECORD_LAG_ALLOWANCE_MS / 1000)} s for a call's records): a checkpoint is missing`,
  );
  return true;
}

/** Widens the unsealed records' time span by one record's timestamp (ignored if unreadable). */
function widenSpan(state: WalkState, timestamp: unknown): void {
  const at = typeof timestamp === "string" ? Date.parse(timestamp) : Number.NaN;
  if (Number.isNaN(at)) return;
  const span = state.unsealedSpan;
  state.unsealedSpan =
    span === undefined
      ? { first: at, last: at }
      : { first: Math.min(span.first, at), last: Math.max(span.last, at) };
}

function onRecord(state: WalkState, seq: number) {
  state.sinceCheckpoint++;
  state.lastClose = false;
  if (state.sinceCheckpoint > state.everyRecords && !state.gapReported) {
    state.gapReported = true;
    const after = state.report.lastCheckpointSeq;
    problem(
      state,
      "checkpoint_missing",
      seq,
      `seq ${String(seq)}: more than ${String(state.everyRecords)} records ` +
        (after === undefined
          ? "before the first checkpoint"
          : `since the checkpoint at seq ${String(after)}`) +
        ": a checkpoint is missing",
    );
  }
}

/** The timer rule on the unsealed tail; for a live log, also against the verifier's clock. */
function checkTail(state: WalkState, options: CheckpointVerifyOptions): void {
  const every = state.everySeconds ?? options.everySeconds ?? DEFAULT_EVERY_SECONDS;
  if (state.gapReported) return;
  if (checkSpan(state, every, state.previous.seq, "at the end of the log")) return;
  const first = state.unsealedSpan?.first;
  if (options.allowUnsealed !== true || first === undefined) return;
  const now = (options.now ?? Date.now)();
  // Unsealed records stamped ahead of the verifier's clock (beyond any sane skew): only a
  // rewrite does that, and it would keep a forged tail "fresh" for ever.
  if ((state.unsealedSpan?.last ?? first) - now > MAX_CLOCK_SKEW_MS) {
    state.gapReported = true;
    problem(
      state,
      "checkpoint_missing",
      state.previous.seq,
      `the unsealed tail holds records stamped after the verifier's clock (${new Date(now).toISOString()}) by more than ${String(MAX_CLOCK_SKEW_MS / 60_000)} minutes: rewritten, or a clock is wrong`,
    );
    return;
  }
  if (now - first <= sealWindowMs(every)) return;
  state.gapReported = true;
  problem(
    state,
    "checkpoint_missing",
    state.previous.seq,
    `the unsealed tail's oldest record (${new Date(first).toISOString()}) is older than a running gateway leaves a record unsealed (twice ${String(every)} s, and ${String(RECORD_LAG_ALLOWANCE_MS / 1000)} s for a call's records): a checkpoint is missing, or the gateway's timer stopped`,
  );
}

function finish(state: WalkState, options: CheckpointVerifyOptions): void {
  const { report } = state;
  report.unsealedRecords = state.sinceCheckpoint;
  checkTail(state, options);
  if (state.previous.seq > 0 && !state.lastClose) {
    const after = report.lastCheckpointSeq;
    const message =
      `the log ends at seq ${String(state.previous.seq)} without a closing checkpoint ` +
      `(${String(state.sinceCheckpoint)} record(s) after ` +
      (after === undefined
        ? "the start, none sealed"
        : `the last checkpoint at seq ${String(after)}`) +
      "): records after it may have been cut, or the gateway is still running or did not stop cleanly";
    if (options.allowUnsealed === true) report.notes.push(message);
    else problem(state, "log_unsealed", state.previous.seq, message);
  }
  report.ok = report.problems.length === 0;
}

/** Walk a chain-verified log and check its checkpoints. Rejects only when it cannot be read. */
export async function verifyCheckpoints(
  path: string,
  options: CheckpointVerifyOptions,
): Promise<CheckpointReport> {
  const state: WalkState = {
    report: { ok: true, checkpoints: 0, keyIds: [], unsealedRecords: 0, problems: [], notes: [] },
    previous: { seq: 0, hash: GENESIS_HASH },
    sinceCheckpoint: 0,
    gapReported: false,
    everyRecords: options.everyRecords ?? DEFAULT_EVERY_RECORDS,
    everySeconds: undefined,
    unsealedSpan: undefined,
    lastClose: false,
  };
  for await (const raw of readLines(path)) {
    // Only the lines the chain pass verified: a live log grows meanwhile, and its last line may
    // be half written.
    if (options.lines !== undefined && raw.line > options.lines) break;
    const record = JSON.parse(decode(raw.bytes) ?? "null") as Record<string, unknown>;
    const seq = record["seq"] as number;
    if (record["event"] === CHECKPOINT_EVENT) onCheckpoint(state, record, options);
    else {
      onRecord(state, seq);
      widenSpan(state, record["timestamp"]);
    }
    state.previous = { seq, hash: record["hash"] as string };
  }
  finish(state, options);
  return state.report;
}
