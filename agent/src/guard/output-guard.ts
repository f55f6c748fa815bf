// The worker's output guard: every tool result passes here before it leaves the worker.
//
// 1. Secrets are redacted, not just detected: inside every string (and object key), substrings
//    that look like credentials become "[REDACTED:<kind>]" (common/secrets.ts: AWS access key
//    ids and secret keys, private keys, GitHub and Slack tokens, JWTs, bearer tokens, passwords
//    in assignments and URLs); a value under a key that names a secret (password, api_key,
//    client_secret...) becomes "[REDACTED:secret_field]" whatever it is. The rest is unchanged.
//    Code under review stays readable: an assignment whose value only says where a secret comes
//    from (`password = var.db_password`, `token: string`, `${{ secrets.TOKEN }}`) is kept, so
//    the reviewer can tell it from a hard-coded one (`password = "hunter2"`, masked).
// 2. Prompt injection is flagged, not removed: every string is scanned for instructions aimed
//    at the model (./injection.ts) and the result says which indicators it found. The reviewer
//    still sees the text; the gateway marks the session tainted.
//
// The result is a JSON value (what JSON.stringify would keep: undefined members dropped,
// non-finite numbers null, dates as ISO strings; cycles become "[circular]"). Pure: no I/O.
import { isSecretKey, redactSecrets, secretMarker } from "../../../common/secrets.ts";
import {
  orderIndicators,
  scanText,
  type InjectionIndicator,
  type InjectionScanOptions,
} from "./injection.ts";

export {
  DEFAULT_INTERNAL_DOMAINS,
  INJECTION_INDICATORS,
  detectInjection,
  type InjectionIndicator,
  type InjectionScanOptions,
} from "./injection.ts";

export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface InjectionReport {
  /** Whether any indicator was found. */
  suspected: boolean;
  /** Stable ids (INJECTION_INDICATORS), each once, in that order. */
  indicators: InjectionIndicator[];
}

export interface GuardResult {
  /** The result, secrets redacted, the rest unchanged. */
  value: JsonValue;
  /** How many secrets were redacted (substrings plus values under secret keys). */
  redactions: number;
  injection: InjectionReport;
}

export type GuardOptions = InjectionScanOptions;

/** What a value under a secret key becomes. */
export const SECRET_FIELD_MARKER = secretMarker("secret_field");

/** Deeper than this is not a tool result; the rest is replaced by a marker. */
const MAX_DEPTH = 64;

interface Walk {
  redactions: number;
  indicators: Set<InjectionIndicator>;
  ancestors: Set<object>;
  options: InjectionScanOptions;
}

function guardString(text: string, walk: Walk): string {
  scanText(text, walk.indicators, walk.options);
  const redacted = redactSecrets(text, { keepReferences: true });
  walk.redactions += redacted.redactions;
  return redacted.text;
}

function walkValue(value: unknown, depth: number, walk: Walk): JsonValue | undefined {
  switch (typeof value) {
    case "string":
      return guardString(value, walk);
    case "number":
      return Number.isFinite(value) ? value : null;
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    case "object":
      break;
  }
  if (value === null) return null;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return `[binary ${String(value.byteLength)} bytes]`;
  }
  if (walk.ancestors.has(value)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[truncated: too deep]";
  walk.ancestors.add(value);
  try {
    if (value instanceof Error) {
      return walkObject({ name: value.name, message: value.message }, depth, walk);
    }
    if (value instanceof Map) {
      const entries: Record<string, unknown> = {};
      for (const [key, item] of value) entries[String(key)] = item;
      return walkObject(entries, depth, walk);
    }
    if (value instanceof Set || Array.isArray(value)) {
      return [...(value as Iterable<unknown>)].map(
        (item) => walkValue(item, depth + 1, walk) ?? null,
      );
    }
    const { toJSON } = value as { toJSON?: unknown };
    if (typeof toJSON === "function") {
      const json: unknown = toJSON.call(value);
      if (json !== value) return walkValue(json, depth + 1, walk);
    }
    return walkObject(value, depth, walk);
  } finally {
    walk.ancestors.delete(value);
  }
}

function walkObject(source: object, depth: number, walk: Walk): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const rawKey of Object.keys(source)) {
    const item: unknown = (source as Record<string, unknown>)[rawKey];
    const key = guardString(rawKey, walk);
    if (
      isSecretKey(rawKey) &&
      item !== null &&
      item !== undefined &&
      typeof item !== "boolean" &&
      item !== SECRET_FIELD_MARKER
    ) {
      walk.redactions++;
      defineMember(out, key, SECRET_FIELD_MARKER);
      continue;
    }
    const guarded = walkValue(item, depth + 1, walk);
    if (guarded !== undefined) defineMember(out, key, guarded);
  }
  return out;
}

/** Own data property even for "__proto__". */
function defineMember(target: Record<string, JsonValue>, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Redacts the secrets of a tool result and reports the prompt-injection indicators in it. */
export function guardOutput(value: unknown, options: GuardOptions = {}): GuardResult {
  const walk: Walk = {
    redactions: 0,
    indicators: new Set(),
    ancestors: new Set(),
    options,
  };
  const guarded = walkValue(value, 0, walk) ?? null;
  const indicators = orderIndicators(walk.indicators);
  return {
    value: guarded,
    redactions: walk.redactions,
    injection: { suspected: indicators.length > 0, indicators },
  };
}
