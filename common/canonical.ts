// Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and the digest that binds a call
// token to the exact arguments of one call. The gateway signs argumentsDigest(arguments); the
// worker recomputes it over the arguments it received. Same JSON value, same digest, whatever
// the key order or whitespace on the wire.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/**
 * RFC 8785 text of a JSON value. Throws on what JSON cannot carry faithfully: undefined at the
 * top level, functions, NaN and infinities, cycles and lone surrogates.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}

/** Lower-case hex SHA-256 of the UTF-8 canonical JSON of the arguments. */
export function argumentsDigest(args: unknown): string {
  return createHash("sha256").update(canonicalJson(args), "utf8").digest("hex");
}

/** Shape of an argumentsDigest value. */
export const ARGUMENTS_DIGEST = /^[0-9a-f]{64}$/;
