// Synchronous verification of compact JWS JWTs with node:crypto, for the token the hot path
// verifies on every call: the gateway's call token, at the worker (issue 18; its admin token
// too). jose 6 verifies only through WebCrypto: a job and a thread-pool round trip per token,
// about twice the CPU of `crypto.verify` on a KeyObject imported once (measured here: ~120 µs
// against ~65 µs for Ed25519). jose still signs and verifies every other token. (Measured and not
// adopted at the gateway's identity check: there two ES256 verifications per uncached call moved
// onto the thread that is the bottleneck at saturation, and calls/s fell 14 %.)
//
// Invariants (each a refusal, never a default), jose 6's where jose has one:
//   - at most 16 KiB; three base64url parts, each in its one canonical spelling (alphabet only,
//     no padding, no spare bits, none empty), so that no variant of a token verifies; header
//     and payload are UTF-8 (a malformed sequence is refused, not replaced) JSON objects;
//   - "alg" is ES256 or EdDSA and in the caller's allowlist before any key is looked at
//     ("none", HMAC and RSA never are); a "crit" header is refused (no extension is understood;
//     jose would accept crit ["b64"] with b64 true, which the gateway never sends);
//   - the key is the one the header's "kid" names, unique in the set, a verifying key, and of
//     the type "alg" needs: P-256 (raw r||s signatures, RFC 7518 §3.4) or Ed25519;
//   - claims, with jose 6's rules, messages and arithmetic (validateClaimsSet) over whole epoch
//     seconds: "typ" compared case-insensitively with an implied "application/"; the required
//     claims present (with "iss", "aud" and "iat"); "iss" exactly; "aud" equal or, as an array,
//     containing the audience; "iat", "nbf", "exp" finite numbers when present (jose takes
//     1e999, Infinity, for an "exp"); refused when nbf > now + tolerance, exp <= now - tolerance,
//     now - iat - tolerance > maxAge (too old) or iat > now + tolerance (from the future).
// The differential test (common/test/compact-jwt.test.ts) checks that jose's jwtVerify accepts
// whatever this accepts, over generated tokens of both algorithms.
//
// Failure modes: the constructor throws TypeError or RangeError for an unusable key set or
// option; `verify` throws only CompactJwtError, whose `code` says which check refused (its
// message is jose's for the same fault where jose has one).
import { createPublicKey, type KeyObject, verify as verifyBytes } from "node:crypto";
import type { JSONWebKeySet } from "jose";
import { callTokenAlgorithmOf, type CallTokenAlgorithm } from "./worker-contract.ts";

export type JwsAlgorithm = CallTokenAlgorithm;

export type CompactJwtErrorCode =
  | "malformed"
  | "alg_not_allowed"
  | "unknown_kid"
  | "key_unusable"
  | "signature_invalid"
  | "typ_invalid"
  | "claim_invalid"
  | "not_yet_valid"
  | "expired"
  | "too_old";

export class CompactJwtError extends Error {
  readonly code: CompactJwtErrorCode;

  constructor(code: CompactJwtErrorCode, message: string) {
    super(message);
    this.name = "CompactJwtError";
    this.code = code;
  }
}

/** node:crypto's digest for each algorithm (none for EdDSA). */
const DIGEST: Readonly<Record<JwsAlgorithm, string | null>> = { ES256: "sha256", EdDSA: null };

/** Both algorithms' signatures are 64 bytes: P-256's r||s, and Ed25519's. */
const SIGNATURE_BYTES = 64;

function isJwsAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === "string" && Object.hasOwn(DIGEST, value);
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });
/** Longer tokens are refused before any parsing. */
export const MAX_COMPACT_JWT_CHARS = 16_384;

// --- Step 1: the token's structure and protected header ------------------------------------

interface ParsedCompactJws {
  header: Record<string, unknown> & { alg: JwsAlgorithm };
  /** The three encoded parts, as received. */
  parts: { header: string; payload: string; signature: string };
  /** The payload's and the signature's bytes (the payload not yet trusted). */
  payloadBytes: Buffer;
  signatureBytes: Buffer;
}

/**
 * The bytes of a base64url part in its one canonical form: the alphabet only, no padding, and
 * nothing Buffer would silently drop (a last lone character, non-zero spare bits). Otherwise
 * undefined. One token, one spelling: no variant of a signature or payload verifies.
 */
function decodeBase64url(part: string): Buffer | undefined {
  if (!BASE64URL.test(part)) return undefined;
  const bytes = Buffer.from(part, "base64url");
  return bytes.toString("base64url") === part ? bytes : undefined;
}

function decodeJsonObject(bytes: Buffer | undefined): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(UTF8.decode(bytes));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // Not UTF-8 or not JSON: the caller names the part.
  }
  return undefined;
}

/** Splits the token and checks its header's "alg" against `algorithms`. */
function parseCompactJws(token: string, algorithms: ReadonlySet<string>): ParsedCompactJws {
  if (token.length > MAX_COMPACT_JWT_CHARS) throw new CompactJwtError("malformed", "too long");
  const split = token.split(".");
  if (split.length !== 3) throw new CompactJwtError("malformed", "Invalid Compact JWS");
  const [header = "", payload = "", signature = ""] = split;
  const decoded = decodeJsonObject(decodeBase64url(header));
  if (decoded === undefined) {
    throw new CompactJwtError("malformed", "JWS Protected Header is invalid");
  }
  if ("crit" in decoded) {
    throw new CompactJwtError("malformed", '"crit" (Critical) Header Parameter is not supported');
  }
  const { alg } = decoded;
  if (typeof alg !== "string" || alg === "") {
    throw new CompactJwtError(
      "malformed",
      'JWS "alg" (Algorithm) Header Parameter missing or invalid',
    );
  }
  if (!algorithms.has(alg) || !isJwsAlgorithm(alg)) {
    throw new CompactJwtError(
      "alg_not_allowed",
      '"alg" (Algorithm) Header Parameter value not allowed',
    );
  }
  const payloadBytes = decodeBase64url(payload);
  if (payloadBytes === undefined) throw new CompactJwtError("malformed", "JWS Payload is invalid");
  const signatureBytes = decodeBase64url(signature);
  if (signatureBytes === undefined) {
    throw new CompactJwtError("malformed", "Failed to base64url decode the signature");
  }
  return {
    header: { ...decoded, alg },
    parts: { header, payload, signature },
    payloadBytes,
    signatureBytes,
  };
}

// --- Step 2: the signature, with a key of the right type -----------------------------------

/** A public key and the one algorithm it verifies (its type decides: P-256 or Ed25519). */
export interface VerificationKey {
  alg: JwsAlgorithm;
  key: KeyObject;
}

/** Verifies the signature with `entry` and returns the decoded claims; else a CompactJwtError. */
function verifyCompactJws(
  parsed: ParsedCompactJws,
  entry: VerificationKey,
): Record<string, unknown> {
  const { alg } = parsed.header;
  if (entry.alg !== alg) {
    throw new CompactJwtError("key_unusable", `the token's key verifies ${entry.alg}, not ${alg}`);
  }
  const { key } = entry;
  const digest = DIGEST[alg];
  const signature = parsed.signatureBytes;
  const input = Buffer.from(`${parsed.parts.header}.${parsed.parts.payload}`, "ascii");
  let valid = false;
  if (signature.length === SIGNATURE_BYTES) {
    try {
      valid =
        digest === null
          ? verifyBytes(null, input, key, signature)
          : verifyBytes(digest, input, { key, dsaEncoding: "ieee-p1363" }, signature);
    } catch {
      valid = false;
    }
  }
  if (!valid) throw new CompactJwtError("signature_invalid", "signature verification failed");
  const payload = decodeJsonObject(parsed.payloadBytes);
  if (payload === undefined) {
    throw new CompactJwtError("malformed", "JWT Claims Set must be a top-level JSON object");
  }
  return payload;
}

// --- Step 3: the claims ---------------------------------------------------------------------

interface ClaimRules {
  typ: string;
  issuer: string;
  audience: string;
  /** Claims that must be present (jose's requiredClaims), beyond iss, aud and iat. */
  requiredClaims: readonly string[];
  clockToleranceSec: number;
  /** Oldest accepted "iat", in seconds ("iat" is then required). */
  maxTokenAgeSec: number;
}

const normalizeTyp = (value: string): string => {
  const lower = value.toLowerCase();
  return value.includes("/") ? lower : `application/${lower}`;
};

function numericDate(payload: Record<string, unknown>, claim: string): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  // Finite, unlike jose: JSON's 1e999 parses to Infinity, an "exp" that never comes.
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new CompactJwtError("claim_invalid", `"${claim}" claim must be a number`);
  }
  return value;
}

function checkPresence(payload: Record<string, unknown>, rules: ClaimRules): void {
  const claims = [...rules.requiredClaims, "iat", "aud", "iss"];
  for (const claim of new Set(claims.reverse())) {
    if (!Object.hasOwn(payload, claim)) {
      throw new CompactJwtError("claim_invalid", `missing required "${claim}" claim`);
    }
  }
}

/** Checks the header's "typ" and the claims at `now` (epoch seconds); else a CompactJwtError. */
function checkJwtClaims(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  rules: ClaimRules,
  now: number,
): void {
  const { typ } = header;
  if (typeof typ !== "string" || normalizeTyp(typ) !== normalizeTyp(rules.typ)) {
    throw new CompactJwtError("typ_invalid", 'unexpected "typ" JWT header value');
  }
  checkPresence(payload, rules);
  if (payload["iss"] !== rules.issuer) {
    throw new CompactJwtError("claim_invalid", 'unexpected "iss" claim value');
  }
  const { aud } = payload;
  if (!(aud === rules.audience || (Array.isArray(aud) && aud.includes(rules.audience)))) {
    throw new CompactJwtError("claim_invalid", 'unexpected "aud" claim value');
  }
  const tolerance = rules.clockToleranceSec;
  const iat = numericDate(payload, "iat");
  const nbf = numericDate(payload, "nbf");
  if (nbf !== undefined && nbf > now + tolerance) {
    throw new CompactJwtError("not_yet_valid", '"nbf" claim timestamp check failed');
  }
  const exp = numericDate(payload, "exp");
  if (exp !== undefined && exp <= now - tolerance) {
    throw new CompactJwtError("expired", '"exp" claim timestamp check failed');
  }
  if (iat !== undefined) {
    const age = now - iat;
    if (age - tolerance > rules.maxTokenAgeSec) {
      throw new CompactJwtError(
        "too_old",
        '"iat" claim timestamp check failed (too far in the past)',
      );
    }
    if (age < -tolerance) {
      throw new CompactJwtError(
        "claim_invalid",
        '"iat" claim timestamp check failed (it should be in the past)',
      );
    }
  }
}

function checkClaimRules(rules: ClaimRules): void {
  for (const name of ["typ", "issuer", "audience"] as const) {
    if (typeof rules[name] !== "string" || rules[name] === "") {
      throw new TypeError(`${name} must be a non-empty string`);
    }
  }
  for (const [name, value] of [
    ["clockToleranceSec", rules.clockToleranceSec],
    ["maxTokenAgeSec", rules.maxTokenAgeSec],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`${name} must be a number of seconds, 0 or more`);
    }
  }
}

// --- The whole check against a key set (the worker's call and admin tokens) -----------------

export interface CompactJwtVerifierOptions extends ClaimRules {
  /** Public keys, each with a unique kid, none with private members: imported once, here. */
  jwks?: JSONWebKeySet;
  /**
   * Or the keys in use, asked at every verification (importCompactJwtKeys' result, which a key
   * set reloaded without a restart replaces whole: agent/src/gateway-keys.ts). One or the other.
   */
  keys?: () => CompactJwtKeys;
  algorithms: readonly JwsAlgorithm[];
}

/** Imported verification keys by kid (importCompactJwtKeys). */
export type CompactJwtKeys = ReadonlyMap<string, VerificationKey>;

export interface VerifiedCompactJwt {
  header: ParsedCompactJws["header"] & { kid: string };
  payload: Record<string, unknown>;
}

export interface CompactJwtVerifier {
  /** The header and claims of a token that passes every check; else a CompactJwtError. */
  verify(token: string, nowSec: number): VerifiedCompactJwt;
}

/**
 * Imports a key set, every check of the constructor's: at least one key, each EC P-256 or OKP
 * Ed25519, public only, with a unique kid, for signing and verifying. Throws TypeError.
 */
export function importCompactJwtKeys(jwks: JSONWebKeySet): CompactJwtKeys {
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    throw new TypeError("jwks must hold at least one key");
  }
  const keys = new Map<string, VerificationKey>();
  for (const jwk of jwks.keys) {
    const alg = callTokenAlgorithmOf(jwk);
    if (alg === undefined) throw new TypeError("jwks keys must be EC P-256 or OKP Ed25519");
    if ("d" in jwk) throw new TypeError("jwks must hold public keys only (a key has `d`)");
    const { kid } = jwk;
    if (typeof kid !== "string" || kid === "") throw new TypeError("every jwks key needs a kid");
    if (keys.has(kid)) throw new TypeError(`jwks kid "${kid}" is not unique`);
    if (jwk.use !== undefined && jwk.use !== "sig") {
      throw new TypeError(`jwks key "${kid}" is not a signing key (use ${jwk.use})`);
    }
    if (jwk.key_ops !== undefined && !jwk.key_ops.includes("verify")) {
      throw new TypeError(`jwks key "${kid}" is not for verifying (key_ops)`);
    }
    if (jwk.alg !== undefined && jwk.alg !== alg) {
      throw new TypeError(`jwks key "${kid}" says alg ${jwk.alg}, its type is ${alg}`);
    }
    keys.set(kid, { alg, key: createPublicKey({ key: jwk, format: "jwk" }) });
  }
  return keys;
}

function keysOf(options: CompactJwtVerifierOptions): () => CompactJwtKeys {
  const { jwks, keys } = options;
  if (keys !== undefined && jwks === undefined) return keys;
  if (jwks === undefined || keys !== undefined)
    throw new TypeError("give jwks or keys, one of them");
  const fixed = importCompactJwtKeys(jwks);
  return () => fixed;
}

export function createCompactJwtVerifier(options: CompactJwtVerifierOptions): CompactJwtVerifier {
  checkClaimRules(options);
  if (options.algorithms.length === 0) throw new TypeError("algorithms must not be empty");
  const keys = keysOf(options);
  const algorithms: ReadonlySet<string> = new Set(options.algorithms);
  return {
    verify(token, nowSec) {
      const parsed = parseCompactJws(token, algorithms);
      const { kid } = parsed.header;
      const key = typeof kid === "string" ? keys().get(kid) : undefined;
      if (typeof kid !== "string" || key === undefined) {
        throw new CompactJwtError("unknown_kid", "no key in the key set matches the token's kid");
      }
      const payload = verifyCompactJws(parsed, key);
      checkJwtClaims(parsed.header, payload, options, nowSec);
      return { header: { ...parsed.header, kid }, payload };
    },
  };
}
