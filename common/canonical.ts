// Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and the digest that binds a call
// token to the exact arguments of one call. The gateway signs argumentsDigest(arguments); the
// worker recomputes it over the arguments it received. Same JSON value, same digest, whatever
// the key order or whitespace on the wire.
//
// Cost (issue 18: every call canonicalises its arguments and two audit records): a value that is
// plain JSON (plain objects and arrays, well-formed strings, finite numbers, booleans, null; no
// key that is an array index, nothing deeper than 64 levels) is copied with its keys sorted by
// UTF-16 code units and written by the engine's own JSON.stringify, whose string and number
// output is the one RFC 8785 prescribes (§3.2.2). Anything else (undefined, toJSON, boxed values,
// class instances, index-like keys, which JSON.stringify would put first, a cycle) goes to the
// `canonicalize` library, which keeps its exact semantics, errors included. Tested: the two
// agree on arbitrary values (common/test/canonical.test.ts).
import { hash } from "node:crypto";
import canonicalize from "canonicalize";

/** Thrown inside the fast path when the value is not plain JSON: the library then decides. */
class NotPlainJson extends Error {}
const NOT_PLAIN = new NotPlainJson("not plain JSON");
const MAX_PLAIN_DEPTH = 64;
/** Keys JSON.stringify (V8's property order) would put before the others, numerically. */
const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;

/**
 * A key JSON.stringify would not write where RFC 8785 puts it (an array index, which V8 writes
 * first) or that an assignment would not define ("__proto__"). Serialisers that write
 * JSON.stringify's output as canonical text (here, the audit log) send such keys the slow way.
 */
export function isOrderSensitiveKey(key: string): boolean {
  const first = key.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39) return INDEX_LIKE.test(key);
  return key === "__proto__";
}

function isSpecialKey(key: string): boolean {
  return isOrderSensitiveKey(key) || !key.isWellFormed();
}

function sortedCopy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) throw NOT_PLAIN;
      return value;
    case "number":
      if (!Number.isFinite(value)) throw NOT_PLAIN;
      return value;
    case "boolean":
      return value;
    case "object":
      break;
    case "bigint":
    case "function":
    case "symbol":
    case "undefined":
      throw NOT_PLAIN;
  }
  if (value === null) return null;
  if (depth >= MAX_PLAIN_DEPTH) throw NOT_PLAIN;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) throw NOT_PLAIN;
    const items = value as unknown[];
    const out = new Array<unknown>(items.length);
    for (let i = 0; i < items.length; i++) out[i] = sortedCopy(items[i], depth + 1);
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw NOT_PLAIN;
  const record = value as Record<string, unknown>;
  if (typeof record["toJSON"] === "function") throw NOT_PLAIN;
  const keys = Object.keys(record).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    // An index-like key (JSON.stringify would put it first) or "__proto__" (an assignment
    // would set the copy's prototype): the library.
    if (isSpecialKey(key)) throw NOT_PLAIN;
    out[key] = sortedCopy(record[key], depth + 1);
  }
  return out;
}

/**
 * RFC 8785 text of a JSON value. Throws on what JSON cannot carry faithfully: undefined at the
 * top level, functions, NaN and infinities, cycles and lone surrogates.
 */
export function canonicalJson(value: unknown): string {
  let plain: unknown;
  try {
    plain = sortedCopy(value, 0);
  } catch (thrown) {
    if (thrown !== NOT_PLAIN) throw thrown;
    return libraryCanonicalJson(value);
  }
  return JSON.stringify(plain);
}

/** The `canonicalize` library's RFC 8785 text (the reference the fast path is tested against). */
export function libraryCanonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}

/** Lower-case hex SHA-256 of the UTF-8 canonical JSON of the arguments. */
export function argumentsDigest(args: unknown): string {
  return hash("sha256", canonicalJson(args), "hex");
}

/** Shape of an argumentsDigest value. */
export const ARGUMENTS_DIGEST = /^[0-9a-f]{64}$/;
