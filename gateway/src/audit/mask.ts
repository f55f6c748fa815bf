// What the audit log may keep of a value: a JSON-safe copy with secrets masked and sizes bounded.
//
// Two kinds of masking. A value under a key that names a secret (password, api_key, Authorization,
// clientSecret...) becomes "[REDACTED]" whatever it is. Inside every string (object keys too), substrings that look
// like credentials become "[REDACTED:<kind>]": the one detector the worker's output guard uses too
// (common/secrets.ts: provider token formats, PEM and PGP private keys, JWTs, Authorization
// headers, passwords in assignments, comparisons and URLs...). Unlike the guard, the mask keeps no
// assignment for looking like a reference: the audit log fails closed. Nothing is masked for
// merely looking random: ticket keys, digests, resource ids and CIDRs stay readable.
//
// Then bounds: long strings are cut (with a marker saying how much), and depth, keys per object,
// items per array and the total number of nodes are capped, so one call cannot bloat the log.
import { isOrderSensitiveKey } from "../../../common/canonical.ts";
import { jsonCopy, type JsonValue } from "../../../common/json-copy.ts";
import { shortStringMemo } from "../../../common/short-string-memo.ts";
import { isJwkPrivateMember, isSecretKey, redactSecrets } from "../../../common/secrets.ts";

export type { JsonValue };

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

export interface SortedMaskResult extends MaskResult {
  /**
   * Every object of `value` has its keys in RFC 8785 order and none that
   * JSON.stringify would reorder or that canonicalisation treats apart (index-like keys,
   * "__proto__", keys the mask rewrote, a key-count marker), so `JSON.stringify(value)` is its
   * canonical JSON. False means: canonicalise it the general way.
   */
  canonicalOrder: boolean;
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

/**
 * Mask secret-looking substrings of one string. Short strings are remembered (every record
 * repeats its member names and most of its values; common/short-string-memo.ts).
 */
export const redactString: (text: string) => { text: string; redactions: number } = shortStringMemo(
  redact,
  { maxLength: 64, maxEntries: 4096 },
);

function redact(text: string): { text: string; redactions: number } {
  const { text: masked, redactions } = redactSecrets(text);
  return { text: masked, redactions };
}

// ---------------------------------------------------------------------------------------------
// The walk (common/json-copy.ts), with masking and bounds

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 0 ? Math.floor(value) : fallback;
}

function truncateString(text: string, max: number, counts: { truncations: number }): string {
  const wellFormed = text.toWellFormed();
  if (wellFormed.length <= max) return wellFormed;
  counts.truncations++;
  // Keep the result within `max`, marker included, so masking twice changes nothing. The marker
  // is sized for the whole length: the count it finally shows has no more digits than that.
  let keep = Math.max(0, max - `…[truncated ${String(wellFormed.length)} chars]`.length);
  const last = wellFormed.charCodeAt(keep - 1);
  if (keep > 0 && last >= 0xd800 && last <= 0xdbff) keep--; // do not split a surrogate pair
  return `${wellFormed.slice(0, keep)}…[truncated ${String(wellFormed.length - keep)} chars]`;
}

/** A JSON-safe copy of `value` with secrets masked and sizes bounded, and what was done. */
export function maskSecretsWithCount(value: unknown, options: MaskOptions = {}): MaskResult {
  const { canonicalOrder: _, ...result } = maskWalk(value, options, false);
  return result;
}

/**
 * As maskSecretsWithCount, with members copied in RFC 8785 key order (see `canonicalOrder`), so
 * the audit log can hash and write the copy without sorting it again (issue 18).
 *
 * The same JSON value as maskSecretsWithCount, always. The bounds (maxNodes, maxKeys) keep what
 * the walk meets first, and the walk's order decides which members survive: a sorted walk would
 * let a caller's oversized `details` (sorted early) use up the budget and blank `tool`, `user`
 * or `timestamp` after it. So a walk that hit any bound is thrown away and redone in insertion
 * order (the record's own members first, the caller's data last), and the log canonicalises
 * that copy the general way. Only records within every bound, the common case, take the fast
 * path, and for them the order of the walk changes nothing but the order of the keys.
 */
export function maskSecretsSorted(value: unknown, options: MaskOptions = {}): SortedMaskResult {
  const sorted = maskWalk(value, options, true);
  if (sorted.truncations === 0) return sorted;
  return maskWalk(value, options, false);
}

function maskWalk(value: unknown, options: MaskOptions, sorted: boolean): SortedMaskResult {
  const maxStringLength = Math.max(32, positive(options.maxStringLength, DEFAULTS.maxStringLength));
  const counts = { redactions: 0, truncations: 0 };
  let canonicalOrder = sorted;
  const masked = jsonCopy(
    value,
    {
      string: (text) => {
        const redacted = redactString(text);
        counts.redactions += redacted.redactions;
        return truncateString(redacted.text, maxStringLength, counts);
      },
      key: (rawKey) => {
        // A key is text the caller chose too: a token or a URL with a password can be one.
        const redacted = redactString(rawKey);
        counts.redactions += redacted.redactions;
        const key = truncateString(redacted.text, MAX_KEY_LENGTH, counts);
        if (key !== rawKey || isOrderSensitiveKey(key)) canonicalOrder = false;
        return key;
      },
      member: (rawKey, item, parent) => {
        if (
          (!isSecretKey(rawKey) && !isJwkPrivateMember(rawKey, parent)) ||
          item === null ||
          item === undefined ||
          typeof item === "boolean"
        ) {
          return undefined;
        }
        counts.redactions++;
        return REDACTED;
      },
      truncated: () => {
        counts.truncations++;
      },
    },
    {
      maxDepth: positive(options.maxDepth, DEFAULTS.maxDepth),
      maxKeys: positive(options.maxKeys, DEFAULTS.maxKeys),
      maxItems: positive(options.maxItems, DEFAULTS.maxItems),
      maxNodes: Math.max(1, positive(options.maxNodes, DEFAULTS.maxNodes)),
      sortKeys: sorted,
    },
  );
  return {
    value: masked,
    redactions: counts.redactions,
    truncations: counts.truncations,
    // A bound's marker ("…" key, cut strings) is where sorted raw keys and canonical order part.
    canonicalOrder: canonicalOrder && counts.truncations === 0,
  };
}

/** A JSON-safe copy of `value` with secrets masked and sizes bounded. */
export function maskSecrets(value: unknown, options: MaskOptions = {}): JsonValue {
  return maskSecretsWithCount(value, options).value;
}
