// Synchronous verification of a compact JWS JWT with node:crypto, for the one token the hot path
// verifies on every call: the gateway's call token, at the worker (issue 18). jose 6 verifies only
// through WebCrypto: a job and a thread-pool round trip per token, about twice the CPU of
// `crypto.verify` on a KeyObject imported once (measured here: ~120 µs against ~65 µs for
// Ed25519). jose still mints and verifies every other token; this module covers the two
// algorithms call tokens use and nothing else.
//
// Invariants (each is a refusal, never a default):
//   - at most 16 KiB; three strict base64url parts (alphabet only, no padding, none empty); header and payload
//     are JSON objects;
//   - "alg" is in the verifier's allowlist (ES256 and EdDSA only: never "none", HMAC or RSA)
//     before any key is looked at; a "crit" header is refused, since no extension is understood;
//   - the key is the one whose "kid" the header names, and its type must be the one "alg" needs
//     (an EdDSA header never meets a P-256 key); kids are unique in the key set;
//   - ES256 signatures are raw r||s (RFC 7518 §3.4), 64 bytes; EdDSA is Ed25519, 64 bytes;
//   - claims, with jose 6's arithmetic (validateClaimsSet) over whole epoch seconds: "typ"
//     exactly (no "application/" prefix, no case folding: stricter than jose); "iss" exactly;
//     "aud" equal or, as an array, containing the audience; "exp" required and a number, refused
//     when exp <= now - tolerance; "nbf" when present a number, refused when nbf > now +
//     tolerance; "iat" required and a number, refused when now - iat - tolerance > maxAge (too
//     old: expired) or iat > now + tolerance (from the future).
// The differential test (common/test/compact-jwt.test.ts) checks that nothing jose refuses is
// accepted here, over mutated tokens of both algorithms.
//
// Failure modes: the constructor throws TypeError or RangeError for an unusable key set or
// option; `verify` throws only CompactJwtError, whose `code` says which check refused.
import { createPublicKey, verify as verifyBytes, type KeyObject } from "node:crypto";
import type { JSONWebKeySet, JWK } from "jose";

export type CompactJwtAlgorithm = "ES256" | "EdDSA";

export type CompactJwtErrorCode =
  | "malformed"
  | "alg_not_allowed"
  | "unknown_kid"
  | "signature_invalid"
  | "claim_invalid"
  | "expired";

export class CompactJwtError extends Error {
  readonly code: CompactJwtErrorCode;

  constructor(code: CompactJwtErrorCode, message: string) {
    super(message);
    this.name = "CompactJwtError";
    this.code = code;
  }
}

export interface CompactJwtVerifierOptions {
  /** Public keys: EC P-256 or OKP Ed25519, each with a unique kid, none with private members. */
  jwks: JSONWebKeySet;
  algorithms: readonly CompactJwtAlgorithm[];
  typ: string;
  issuer: string;
  audience: string;
  clockToleranceSec: number;
  /** Oldest accepted "iat", in seconds. */
  maxTokenAgeSec: number;
}

export interface VerifiedCompactJwt {
  header: Record<string, unknown> & { alg: CompactJwtAlgorithm; kid: string };
  payload: Record<string, unknown>;
}

export interface CompactJwtVerifier {
  /** The header and claims of a token that passes every check; else a CompactJwtError. */
  verify(token: string, nowSec: number): VerifiedCompactJwt;
}

interface VerificationKey {
  alg: CompactJwtAlgorithm;
  key: KeyObject;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Longer tokens are refused before any parsing. */
export const MAX_COMPACT_JWT_CHARS = 16_384;
const SIGNATURE_BYTES = 64;

/** The algorithm a public JWK verifies, or undefined for a key type call tokens never use. */
export function compactJwtAlgorithmOf(jwk: JWK): CompactJwtAlgorithm | undefined {
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  return undefined;
}

function importKeys(jwks: JSONWebKeySet): Map<string, VerificationKey> {
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    throw new TypeError("jwks must hold at least one key");
  }
  const keys = new Map<string, VerificationKey>();
  for (const jwk of jwks.keys) {
    const alg = compactJwtAlgorithmOf(jwk);
    if (alg === undefined) throw new TypeError("jwks keys must be EC P-256 or OKP Ed25519");
    if ("d" in jwk) throw new TypeError("jwks must hold public keys only (a key has `d`)");
    const { kid } = jwk;
    if (typeof kid !== "string" || kid === "") throw new TypeError("every jwks key needs a kid");
    if (keys.has(kid)) throw new TypeError(`jwks kid "${kid}" is not unique`);
    if (jwk.alg !== undefined && jwk.alg !== alg) {
      throw new TypeError(`jwks key "${kid}" says alg ${jwk.alg}, its type is ${alg}`);
    }
    if (jwk.use !== undefined && jwk.use !== "sig") {
      throw new TypeError(`jwks key "${kid}" is not a signing key (use ${jwk.use})`);
    }
    keys.set(kid, { alg, key: createPublicKey({ key: jwk, format: "jwk" }) });
  }
  return keys;
}

function checkOptions(options: CompactJwtVerifierOptions): void {
  for (const name of ["typ", "issuer", "audience"] as const) {
    if (typeof options[name] !== "string" || options[name] === "") {
      throw new TypeError(`${name} must be a non-empty string`);
    }
  }
  if (options.algorithms.length === 0) throw new TypeError("algorithms must not be empty");
  for (const [name, value] of [
    ["clockToleranceSec", options.clockToleranceSec],
    ["maxTokenAgeSec", options.maxTokenAgeSec],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${name} must be a whole number of seconds, 0 or more`);
    }
  }
}

export function createCompactJwtVerifier(options: CompactJwtVerifierOptions): CompactJwtVerifier {
  checkOptions(options);
  const keys = importKeys(options.jwks);
  const algorithms: ReadonlySet<string> = new Set(options.algorithms);
  return {
    verify(token, nowSec) {
      const parts = splitToken(token);
      const header = protectedHeader(parts.header, algorithms, options.typ);
      const entry = keys.get(header.kid);
      if (entry?.alg !== header.alg) {
        throw new CompactJwtError("unknown_kid", "no key in the key set matches the token's kid");
      }
      if (!signatureHolds(entry, parts)) {
        throw new CompactJwtError("signature_invalid", "signature verification failed");
      }
      const payload = jsonObject(parts.payload, "payload");
      checkClaims(payload, options, nowSec);
      return { header, payload };
    },
  };
}

interface TokenParts {
  header: string;
  payload: string;
  signature: string;
}

function splitToken(token: string): TokenParts {
  if (token.length > MAX_COMPACT_JWT_CHARS) throw new CompactJwtError("malformed", "too long");
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) {
    throw new CompactJwtError("malformed", "not a compact JWS of three base64url parts");
  }
  const [header = "", payload = "", signature = ""] = parts;
  return { header, payload, signature };
}

function jsonObject(part: string, label: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw new CompactJwtError("malformed", `the ${label} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CompactJwtError("malformed", `the ${label} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function protectedHeader(
  part: string,
  algorithms: ReadonlySet<string>,
  typ: string,
): VerifiedCompactJwt["header"] {
  const header = jsonObject(part, "header");
  const { alg, kid } = header;
  if (typeof alg !== "string" || !algorithms.has(alg)) {
    throw new CompactJwtError("alg_not_allowed", 'the token\'s "alg" is not allowed');
  }
  if ("crit" in header) throw new CompactJwtError("malformed", '"crit" header is not supported');
  if (header["typ"] !== typ) {
    throw new CompactJwtError("claim_invalid", `unexpected "typ" (expected "${typ}")`);
  }
  if (typeof kid !== "string" || kid === "") {
    throw new CompactJwtError("unknown_kid", 'the token header has no "kid"');
  }
  return { ...header, alg: alg as CompactJwtAlgorithm, kid };
}

function signatureHolds(entry: VerificationKey, parts: TokenParts): boolean {
  const signature = Buffer.from(parts.signature, "base64url");
  if (signature.length !== SIGNATURE_BYTES) return false;
  const input = Buffer.from(`${parts.header}.${parts.payload}`, "ascii");
  try {
    return entry.alg === "ES256"
      ? verifyBytes("sha256", input, { key: entry.key, dsaEncoding: "ieee-p1363" }, signature)
      : verifyBytes(null, input, entry.key, signature);
  } catch {
    return false;
  }
}

function numericClaim(payload: Record<string, unknown>, name: string): number | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new CompactJwtError("claim_invalid", `"${name}" claim must be a number`);
  }
  return value;
}

function checkClaims(
  payload: Record<string, unknown>,
  options: CompactJwtVerifierOptions,
  now: number,
): void {
  if (payload["iss"] !== options.issuer) {
    throw new CompactJwtError("claim_invalid", 'unexpected "iss" claim value');
  }
  const { aud } = payload;
  if (!(aud === options.audience || (Array.isArray(aud) && aud.includes(options.audience)))) {
    throw new CompactJwtError("claim_invalid", 'unexpected "aud" claim value');
  }
  const tolerance = options.clockToleranceSec;
  const exp = numericClaim(payload, "exp");
  const iat = numericClaim(payload, "iat");
  const nbf = numericClaim(payload, "nbf");
  if (exp === undefined || iat === undefined) {
    throw new CompactJwtError("claim_invalid", '"exp" and "iat" claims are required');
  }
  if (nbf !== undefined && nbf > now + tolerance) {
    throw new CompactJwtError("claim_invalid", "token is not yet valid (nbf)");
  }
  if (exp <= now - tolerance) throw new CompactJwtError("expired", "token has expired (exp)");
  const age = now - iat;
  if (age - tolerance > options.maxTokenAgeSec) {
    throw new CompactJwtError("expired", "token is too old (iat)");
  }
  if (age < -tolerance) throw new CompactJwtError("claim_invalid", '"iat" is in the future');
}
