// Chain verification: walk the log from the first line and name the FIRST record that is wrong,
// with its line and what happened to it. And a small summary of what a log holds.
//
// A record's own hash catches an edit (even of the last record). seq and prev_hash catch records
// removed, inserted or moved. When a line breaks the chain, the rest of the file is scanned again
// to tell these apart (a genuine record still links to its neighbours wherever it stands; a forged
// one links to nothing, or competes with the genuine record for its seq).
//
// What a hash chain without a key cannot show: records cut off the END of the file, or a forger
// who rewrites every record after the one changed. The gateway's signed checkpoints answer the
// forger and a cut after the last checkpoint (checkpoint-verify.ts, `verify --keys`); a cut back
// to a checkpoint needs a head kept elsewhere (the gateway logs each checkpoint's; `hashAt` and
// `verify --expect-head` check it).
import { createReadStream } from "node:fs";
import { GENESIS_HASH, parseStoredLine } from "./record.ts";

export type VerifyProblem = "altered" | "removed" | "inserted" | "moved" | "malformed";

export type VerifyResult =
  | {
      ok: true;
      /** Every record of the chain, checkpoints included. */
      records: number;
      lastHash: string;
      /** The verified lines' length in bytes, newlines included: read no further than this. */
      bytes: number;
      /** How many of them are signed checkpoints (present when there are any). */
      checkpoints?: number;
      /**
       * A live log's last line without its newline (a write in progress when the file was read),
       * not verified and not counted: only with `live`, where it is no failure.
       */
      unterminated?: { line: number; bytes: number };
    }
  | {
      ok: false;
      /** Records verified before the bad one (all lines before `line`). */
      records: number;
      /** 1-based line of the first bad record. */
      line: number;
      /** The seq that line claims, when it has one. */
      seq?: number;
      problem: VerifyProblem;
      message: string;
    };

interface RecordEntry {
  kind: "record";
  line: number;
  /** The line's length in bytes, without its newline. */
  bytes: number;
  seq: number;
  prevHash: string;
  hash: string;
  hashValid: boolean;
  canonical: boolean;
  checkpoint: boolean;
}

interface MalformedEntry {
  kind: "malformed";
  line: number;
  seq?: number;
  reason: string;
  /** For a last line without its newline: its length in bytes. */
  unterminated?: number;
}

type Entry = RecordEntry | MalformedEntry;

interface RawLine {
  line: number;
  bytes: Buffer;
  /** false for bytes after the last newline (a write cut short). */
  terminated: boolean;
}

/** The file's lines as bytes, without their newline; with `end`, of its first `end` bytes only. */
export async function* readLines(path: string, end?: number): AsyncGenerator<RawLine> {
  if (end !== undefined && end <= 0) return;
  const stream = createReadStream(path, {
    highWaterMark: 1024 * 1024,
    ...(end === undefined ? {} : { end: end - 1 }),
  });
  let carry: Buffer[] = [];
  let line = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline === -1) break;
      const piece = chunk.subarray(start, newline);
      const bytes = carry.length === 0 ? piece : Buffer.concat([...carry, piece]);
      carry = [];
      line++;
      yield { line, bytes, terminated: true };
      start = newline + 1;
    }
    if (start < chunk.length) carry.push(chunk.subarray(start));
  }
  if (carry.length > 0) {
    line++;
    yield { line, bytes: Buffer.concat(carry), terminated: false };
  }
}

export function decode(bytes: Buffer): string | undefined {
  try {
    // ignoreBOM: a byte order mark is kept in the text (and fails the line), not silently
    // dropped: the log never writes one, and a reader that does not drop it sees no record.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

async function* readEntries(path: string): AsyncGenerator<Entry> {
  for await (const raw of readLines(path)) {
    const text = decode(raw.bytes);
    if (!raw.terminated) {
      // Checked first: a write cut short may end inside a character.
      const entry: MalformedEntry = {
        kind: "malformed",
        line: raw.line,
        reason: "incomplete last line (no trailing newline: a write was cut short)",
        unterminated: raw.bytes.length,
      };
      const parsed = text === undefined ? undefined : parseStoredLine(text);
      const seq = parsed === undefined ? undefined : parsed.ok ? parsed.record.seq : parsed.seq;
      if (seq !== undefined) entry.seq = seq;
      yield entry;
      continue;
    }
    if (text === undefined) {
      yield { kind: "malformed", line: raw.line, reason: "not valid UTF-8" };
      continue;
    }
    if (text.trim() === "") {
      yield { kind: "malformed", line: raw.line, reason: "empty line" };
      continue;
    }
    const parsed = parseStoredLine(text);
    if (!parsed.ok) {
      const entry: MalformedEntry = { kind: "malformed", line: raw.line, reason: parsed.reason };
      if (parsed.seq !== undefined) entry.seq = parsed.seq;
      yield entry;
      continue;
    }
    yield {
      kind: "record",
      line: raw.line,
      bytes: raw.bytes.length,
      seq: parsed.record.seq,
      prevHash: parsed.record.prev_hash,
      hash: parsed.record.hash,
      hashValid: parsed.hashValid,
      canonical: parsed.canonical,
      checkpoint: parsed.record.event === "checkpoint",
    };
  }
}

function at(line: number, seq?: number): string {
  return seq === undefined ? `line ${String(line)}` : `line ${String(line)} (seq ${String(seq)})`;
}

function failure(
  line: number,
  seq: number | undefined,
  problem: VerifyProblem,
  what: string,
): VerifyResult {
  const result: VerifyResult = {
    ok: false,
    records: line - 1,
    line,
    problem,
    message: `${at(line, seq)}: ${what}`,
  };
  if (seq !== undefined) result.seq = seq;
  return result;
}

export interface VerifyOptions {
  /**
   * The gateway may be writing the log: a last line without its newline is a write in progress,
   * left out (`unterminated`) rather than a malformed record. Every whole line is still checked.
   */
  live?: boolean;
}

/** Verify a log file's chain. Rejects only when the file cannot be read. */
export async function verifyAuditFile(
  path: string,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  let previous = { line: 0, seq: 0, hash: GENESIS_HASH };
  let checkpoints = 0;
  let bytes = 0;
  let unterminated: { line: number; bytes: number } | undefined;
  for await (const entry of readEntries(path)) {
    if (entry.kind === "malformed" && entry.unterminated !== undefined && options.live === true) {
      unterminated = { line: entry.line, bytes: entry.unterminated };
      break;
    }
    if (entry.kind === "malformed") {
      return failure(entry.line, entry.seq, "malformed", `malformed record (${entry.reason})`);
    }
    if (!entry.hashValid) {
      return failure(entry.line, entry.seq, "altered", "record was altered (hash mismatch)");
    }
    if (!entry.canonical) {
      // Same content, different text: duplicate members, reformatting. Still not what was written.
      return failure(
        entry.line,
        entry.seq,
        "altered",
        "record was altered (its text is not the canonical form the log writes)",
      );
    }
    if (entry.seq === previous.seq + 1 && entry.prevHash === previous.hash) {
      previous = { line: entry.line, seq: entry.seq, hash: entry.hash };
      bytes += entry.bytes + 1;
      if (entry.checkpoint) checkpoints++;
      continue;
    }
    return classify(path, entry, previous);
  }
  const result: VerifyResult = { ok: true, records: previous.seq, lastHash: previous.hash, bytes };
  if (checkpoints > 0) result.checkpoints = checkpoints;
  if (unterminated !== undefined) result.unterminated = unterminated;
  return result;
}

interface Context {
  /** First line after the bad one holding the seq expected there. */
  expectedLater?: { line: number; linked: boolean };
  /** Another line claiming the bad record's seq with a different hash. */
  sameSeq?: number;
  /** Another line that is a byte-for-byte copy of the bad record (same hash). */
  copyOf?: number;
  /** The record the bad one links back to (its prev_hash), if it is in the file. */
  predecessor?: { line: number; seq: number };
  /** Whether some record links to the bad one as its predecessor. */
  hasSuccessor: boolean;
}

/** Rescan the file for what tells removed, inserted, moved and re-hashed records apart. */
async function gatherContext(
  path: string,
  bad: RecordEntry,
  previous: { seq: number; hash: string },
): Promise<Context> {
  const context: Context = { hasSuccessor: false };
  const expected = previous.seq + 1;
  for await (const entry of readEntries(path)) {
    if (entry.kind !== "record" || entry.line === bad.line || !entry.hashValid) continue;
    if (entry.line > bad.line && entry.seq === expected) {
      const linked = entry.prevHash === previous.hash;
      if (context.expectedLater === undefined || (linked && !context.expectedLater.linked)) {
        context.expectedLater = { line: entry.line, linked };
      }
    }
    if (entry.hash === bad.hash) context.copyOf ??= entry.line;
    else if (entry.seq === bad.seq) context.sameSeq ??= entry.line;
    if (entry.hash === bad.prevHash && entry.seq === bad.seq - 1) {
      context.predecessor ??= { line: entry.line, seq: entry.seq };
    }
    if (entry.prevHash === bad.hash && entry.seq === bad.seq + 1) context.hasSuccessor = true;
  }
  return context;
}

/** A record whose seq jumps ahead: records missing here, moved elsewhere, or one inserted. */
function forwardJump(
  bad: RecordEntry,
  expected: number,
  context: Awaited<ReturnType<typeof gatherContext>>,
  belongs: boolean,
): VerifyResult {
  const { line, seq } = bad;
  // Records missing here. Elsewhere in the file (moved) or gone (removed)?
  const later = context.expectedLater;
  if (later !== undefined) {
    if (context.sameSeq !== undefined || !belongs) {
      return failure(
        line,
        seq,
        "inserted",
        `record was inserted (expected seq ${String(expected)}, which is on line ${String(later.line)}; ` +
          (context.sameSeq === undefined
            ? "this record links to no other record)"
            : `line ${String(context.sameSeq)} also claims seq ${String(seq)})`),
      );
    }
    return failure(
      line,
      seq,
      "moved",
      `record was moved (expected seq ${String(expected)} here, found on line ${String(later.line)})`,
    );
  }
  const missing = seq - expected;
  return failure(
    line,
    seq,
    "removed",
    `${String(missing)} record(s) removed before this line (expected seq ${String(expected)}, found seq ${String(seq)})`,
  );
}

async function classify(
  path: string,
  bad: RecordEntry,
  previous: { line: number; seq: number; hash: string },
): Promise<VerifyResult> {
  const context = await gatherContext(path, bad, previous);
  const expected = previous.seq + 1;
  const { line, seq } = bad;
  const genesisLinked = bad.seq === 1 && bad.prevHash === GENESIS_HASH;
  const belongs = context.predecessor !== undefined || genesisLinked || context.hasSuccessor;

  if (context.copyOf !== undefined) {
    return failure(
      line,
      seq,
      "inserted",
      `record was inserted (a copy of line ${String(context.copyOf)})`,
    );
  }

  if (seq > expected) return forwardJump(bad, expected, context, belongs);

  if (seq < expected) {
    // seq goes backwards or repeats: two records claim one place. The one the chain goes on
    // from is genuine; if that is this one, the lines since its predecessor were inserted.
    const from = context.predecessor?.line ?? (genesisLinked ? 0 : undefined);
    if (from !== undefined && from < line - 1 && context.hasSuccessor) {
      const first = from + 1;
      const count = line - first;
      const resumes =
        from === 0
          ? `which starts at line ${String(line)}`
          : `which goes on from line ${String(from)} at line ${String(line)}`;
      return failure(
        first,
        first, // every line before `line` verified, so line k holds seq k
        "inserted",
        `record was inserted (${String(count)} record(s) on lines ${String(first)}–${String(line - 1)} are not in the chain, ${resumes})`,
      );
    }
    return failure(
      line,
      seq,
      "inserted",
      `record was inserted (seq ${String(seq)} ${seq === previous.seq ? "repeats" : "goes backwards"}: expected seq ${String(expected)})`,
    );
  }

  // seq is the expected one but prev_hash does not link to the previous record.
  if (context.expectedLater?.linked === true) {
    return failure(
      line,
      seq,
      "inserted",
      `record was inserted (its prev_hash links to no record; the genuine seq ${String(seq)} is on line ${String(context.expectedLater.line)})`,
    );
  }
  if (previous.line === 0) {
    return failure(
      line,
      seq,
      "altered",
      "record was altered (the first record's prev_hash is not the genesis hash)",
    );
  }
  return failure(
    previous.line,
    previous.seq,
    "altered",
    `record was altered and re-hashed (line ${String(line)}'s prev_hash does not match it)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Summary

export interface ToolCounts {
  decisions: number;
  allowed: number;
  denied: number;
}

export interface AuditSummary {
  records: number;
  /** Lines that are not records (they are counted, not read). */
  malformed: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  events: Map<string, number>;
  /** outcome.status of outcome events. */
  outcomes: Map<string, number>;
  /** Decisions per tool. */
  tools: Map<string, ToolCounts>;
  /** Reason codes of denied decisions. */
  denialsByReason: Map<string, number>;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function member(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** Counts per event, outcome status and tool, and denials per reason code. Does not verify. */
export async function summarizeAuditFile(path: string): Promise<AuditSummary> {
  const summary: AuditSummary = {
    records: 0,
    malformed: 0,
    events: new Map(),
    outcomes: new Map(),
    tools: new Map(),
    denialsByReason: new Map(),
  };
  for await (const raw of readLines(path)) {
    const text = decode(raw.bytes);
    let record: unknown;
    try {
      record = text === undefined ? undefined : JSON.parse(text);
    } catch {
      record = undefined;
    }
    const event = member(record, "event");
    if (typeof event !== "string") {
      summary.malformed++;
      continue;
    }
    summary.records++;
    bump(summary.events, event);
    const timestamp = member(record, "timestamp");
    if (typeof timestamp === "string") {
      summary.firstTimestamp ??= timestamp;
      summary.lastTimestamp = timestamp;
    }
    if (event === "outcome") {
      const status = member(member(record, "outcome"), "status");
      if (typeof status === "string") bump(summary.outcomes, status);
    }
    if (event === "decision") {
      const tool = member(record, "tool");
      const decision = member(record, "decision");
      const allow = member(decision, "allow");
      if (typeof tool === "string") {
        const counts = summary.tools.get(tool) ?? { decisions: 0, allowed: 0, denied: 0 };
        counts.decisions++;
        if (allow === true) counts.allowed++;
        if (allow === false) counts.denied++;
        summary.tools.set(tool, counts);
      }
      const reasons = member(decision, "reasons");
      if (allow === false && Array.isArray(reasons)) {
        for (const reason of reasons as unknown[]) {
          const code = member(reason, "code");
          if (typeof code === "string") bump(summary.denialsByReason, code);
        }
      }
    }
  }
  return summary;
}

/**
 * The hash of the record with this seq in a chain-verified log (the record on line `seq`), or
 * undefined when the log holds fewer records. For checking a head kept elsewhere.
 */
export async function hashAt(path: string, seq: number): Promise<string | undefined> {
  for await (const raw of readLines(path)) {
    if (raw.line < seq) continue;
    const parsed = parseStoredLine(decode(raw.bytes) ?? "");
    return parsed.ok ? parsed.record.hash : undefined;
  }
  return undefined;
}
