// What the audit log may keep of a value: a JSON-safe copy with secrets masked and sizes bounded.
//
// Two kinds of masking. A value under a key that names a secret (password, api_key, Authorization,
// clientSecret...) becomes "[REDACTED]" whatever it is. Inside every string, substrings that look
// like credentials (AWS access key ids, PEM private keys, JWTs, GitHub and Slack tokens, bearer
// tokens, password assignments, passwords in URLs) become "[REDACTED:<kind>]". Nothing is masked
// for merely looking random: ticket keys, digests, resource ids and CIDRs stay readable.
//
// Then bounds: long strings are cut (with a marker saying how much), and depth, keys per object,
// items per array and the total number of nodes are capped, so one call cannot bloat the log.
import { isSecretKey, redactSecrets } from "../../../common/secrets.ts";

export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface MaskOptions {
  /** Longest string kept, marker included (default 2048). */
  maxStringLength?: number | undefined;
  /** Deepest nesting kept; deeper values become a marker (default 8). */
  maxDepth?: number | undefined;
  /** Most members kept per object (default 100). */
  maxKeys?: number | undefined;
  /** Most items kept per array (default 100). */
  maxItems?: number | undefined;
  /** Most values (of any kind) kept in total (default 10000). */
  maxNodes?: number | undefined;
}

export interface MaskResult {
  value: JsonValue;
  /** Secrets masked: values under secret keys plus secret substrings. */
  redactions: number;
  /** Values shortened or dropped by a bound. */
  truncations: number;
}

export const REDACTED = "[REDACTED]";

const DEFAULTS = {
  maxStringLength: 2048,
  maxDepth: 8,
  maxKeys: 100,
  maxItems: 100,
  maxNodes: 10_000,
} as const;

const MAX_KEY_LENGTH = 256;

// ---------------------------------------------------------------------------------------------
// What a secret looks like: common/secrets.ts, shared with the worker's output guard.

export { isSecretKey };

/** Mask secret-looking substrings of one string. */
export function redactString(text: string): { text: string; redactions: number } {
  const { text: masked, redactions } = redactSecrets(text);
  return { text: masked, redactions };
}

// ---------------------------------------------------------------------------------------------
// The walk

interface Limits {
  maxStringLength: number;
  maxDepth: number;
  maxKeys: number;
  maxItems: number;
  maxNodes: number;
}

interface Walk {
  limits: Limits;
  redactions: number;
  truncations: number;
  nodes: number;
  ancestors: Set<object>;
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 0 ? Math.floor(value) : fallback;
}

function truncateString(text: string, max: number, walk: Walk): string {
  const wellFormed = text.toWellFormed();
  if (wellFormed.length <= max) return wellFormed;
  walk.truncations++;
  // Keep the result within `max`, marker included, so masking twice changes nothing. The marker
  // is sized for the whole length: the count it finally shows has no more digits than that.
  let keep = Math.max(0, max - `…[truncated ${String(wellFormed.length)} chars]`.length);
  const last = wellFormed.charCodeAt(keep - 1);
  if (keep > 0 && last >= 0xd800 && last <= 0xdbff) keep--; // do not split a surrogate pair
  return `${wellFormed.slice(0, keep)}…[truncated ${String(wellFormed.length - keep)} chars]`;
}

function maskString(text: string, walk: Walk): string {
  const redacted = redactString(text);
  walk.redactions += redacted.redactions;
  return truncateString(redacted.text, walk.limits.maxStringLength, walk);
}

function walkValue(value: unknown, depth: number, walk: Walk): JsonValue | undefined {
  walk.nodes++;
  if (walk.nodes > walk.limits.maxNodes) {
    walk.truncations++;
    return "[truncated: too many values]";
  }
  switch (typeof value) {
    case "string":
      return maskString(value, walk);
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
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? null : value.toISOString();
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return `[binary ${String(value.byteLength)} bytes]`;
  }
  if (walk.ancestors.has(value)) return "[circular]";
  if (depth >= walk.limits.maxDepth) {
    walk.truncations++;
    return "[truncated: too deep]";
  }
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
      return walkArray([...(value as Iterable<unknown>)], depth, walk);
    }
    const { toJSON } = value as { toJSON?: unknown };
    if (typeof toJSON === "function") {
      const json: unknown = toJSON.call(value);
      // depth + 1: a toJSON that returns fresh objects forever still ends at maxDepth.
      if (json !== value) return walkValue(json, depth + 1, walk);
    }
    return walkObject(value, depth, walk);
  } finally {
    walk.ancestors.delete(value);
  }
}

function walkArray(items: readonly unknown[], depth: number, walk: Walk): JsonValue[] {
  const out: JsonValue[] = [];
  const kept = Math.min(items.length, walk.limits.maxItems);
  for (let index = 0; index < kept; index++) {
    out.push(walkValue(items[index], depth + 1, walk) ?? null);
  }
  if (items.length > kept) {
    walk.truncations++;
    out.push(`…[truncated ${String(items.length - kept)} items]`);
  }
  return out;
}

function walkObject(source: object, depth: number, walk: Walk): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  const keys = Object.keys(source);
  const kept = Math.min(keys.length, walk.limits.maxKeys);
  for (let index = 0; index < kept; index++) {
    const rawKey = keys[index] ?? "";
    const item: unknown = (source as Record<string, unknown>)[rawKey];
    const key = truncateString(rawKey, MAX_KEY_LENGTH, walk);
    if (isSecretKey(rawKey) && item !== null && item !== undefined && typeof item !== "boolean") {
      walk.nodes++;
      walk.redactions++;
      defineMember(out, key, REDACTED);
      continue;
    }
    const masked = walkValue(item, depth + 1, walk);
    if (masked !== undefined) defineMember(out, key, masked);
  }
  if (keys.length > kept) {
    walk.truncations++;
    defineMember(out, "…", `[truncated ${String(keys.length - kept)} keys]`);
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

/** A JSON-safe copy of `value` with secrets masked and sizes bounded, and what was done. */
export function maskSecretsWithCount(value: unknown, options: MaskOptions = {}): MaskResult {
  const walk: Walk = {
    limits: {
      maxStringLength: Math.max(32, positive(options.maxStringLength, DEFAULTS.maxStringLength)),
      maxDepth: positive(options.maxDepth, DEFAULTS.maxDepth),
      maxKeys: positive(options.maxKeys, DEFAULTS.maxKeys),
      maxItems: positive(options.maxItems, DEFAULTS.maxItems),
      maxNodes: Math.max(1, positive(options.maxNodes, DEFAULTS.maxNodes)),
    },
    redactions: 0,
    truncations: 0,
    nodes: 0,
    ancestors: new Set(),
  };
  const masked = walkValue(value, 0, walk) ?? null;
  return { value: masked, redactions: walk.redactions, truncations: walk.truncations };
}

/** A JSON-safe copy of `value` with secrets masked and sizes bounded. */
export function maskSecrets(value: unknown, options: MaskOptions = {}): JsonValue {
  return maskSecretsWithCount(value, options).value;
}
