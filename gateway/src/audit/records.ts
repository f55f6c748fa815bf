// Reading audit records back for forensics (replay, session timeline, detections): every line of
// one or more logs as a parsed object, tagged with its file, merged in time order.
//
// Invariants: records are returned in timestamp order, ties kept in file order then seq order, so
// the logs of several replicas interleave as they happened. This module does not verify the
// chain (verify does); a line that is not a JSON object with an `event` is counted as
// malformed, never silently read as a record. Rejects only when a file cannot be read.
import { decode, readLines } from "./verify.ts";

export interface LoadedRecord {
  file: string;
  /** 1-based line in its file. */
  line: number;
  record: Record<string, unknown>;
}

/**
 * A log to read: its path, or its path and how many of its first bytes to read (the part whose
 * chain was verified: a live log grows while it is read, and its last line may be half written).
 */
export type LogSource = string | { file: string; bytes: number };

export interface LoadedLogs {
  records: LoadedRecord[];
  malformed: { file: string; line: number }[];
}

/**
 * Every record of the logs, or, with `containing`, only those whose line holds that text (a
 * cheap filter before any JSON is parsed: the console reads one session's records out of a
 * log of millions without holding the rest in memory). Lines filtered out are not counted as
 * malformed either.
 */
export async function loadRecords(
  sources: readonly LogSource[],
  containing?: string,
): Promise<LoadedLogs> {
  const records: LoadedRecord[] = [];
  const malformed: LoadedLogs["malformed"] = [];
  const needle = containing === undefined ? undefined : Buffer.from(containing, "utf8");
  const files = sources.map((source) => (typeof source === "string" ? source : source.file));
  for (const [index, file] of files.entries()) {
    const source = sources[index];
    const end = typeof source === "object" ? source.bytes : undefined;
    for await (const raw of readLines(file, end)) {
      if (needle !== undefined && !raw.bytes.includes(needle)) continue;
      const text = decode(raw.bytes);
      let value: unknown;
      try {
        value = text === undefined ? undefined : JSON.parse(text);
      } catch {
        value = undefined;
      }
      if (
        typeof value !== "object" ||
        value === null ||
        Array.isArray(value) ||
        typeof (value as { event?: unknown }).event !== "string"
      ) {
        malformed.push({ file, line: raw.line });
        continue;
      }
      records.push({ file, line: raw.line, record: value as Record<string, unknown> });
    }
  }
  const order = new Map(files.map((file, index) => [file, index]));
  records.sort(
    (a, b) =>
      timeOf(a) - timeOf(b) ||
      (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) ||
      a.line - b.line,
  );
  return { records, malformed };
}

function timeOf(entry: LoadedRecord): number {
  const value = entry.record["timestamp"];
  const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

/** A member of an object, or undefined (no prototype lookups). */
export function member(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** A dotted path through objects ("outcome.status"). */
export function path(value: unknown, dotted: string): unknown {
  let current = value;
  for (const key of dotted.split(".")) current = member(current, key);
  return current;
}

export function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
