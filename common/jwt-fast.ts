// The signature of a JWT checked synchronously with node:crypto on KeyObjects imported once, for
// key sets held locally (a file or an in-memory set): no WebCrypto job and thread-pool round trip
// per token (issue 18: two verifications per call when an agent sends new tokens). jose still
// checks the claims, with the very options jwtVerify gets (UnsecuredJWT.decode runs jose's
// validateClaimsSet), once the signature is known good.
//
// Invariant: this path can only ACCEPT. It decides only the plain case (a header of nothing but
// "alg", "kid" and "typ"; an allowed ES256 or EdDSA "alg"; a "kid" naming exactly one signing key
// of that type in the set; base64url segments in their canonical form; a valid signature; claims
// that jose accepts). Anything else, a bad signature included, answers undefined and the caller
// runs jose's jwtVerify, whose refusal and reason are then the answer: the fast path never
// changes what is refused or why, and it never accepts what jose would refuse (tested in
// gateway/test/identity/jwt-fast.test.ts against the same tokens through jose alone).
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { UnsecuredJWT, type JSONWebKeySet, type JWTPayload, type JWTVerifyOptions } from "jose";

type FastAlg = "ES256" | "EdDSA";

interface SigningKey {
  alg: FastAlg;
  key: KeyObject;
}

/** Verifies `token` when it is the plain case, else undefined (the caller asks jose). */
export type FastJwtVerifier = (token: string, claims: JWTVerifyOptions) => JWTPayload | undefined;

const SEGMENTS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{86})$/;
const PLAIN_HEADER_MEMBERS = new Set(["alg", "kid", "typ"]);

function algOf(jwk: Record<string, unknown>): FastAlg | undefined {
  if (jwk["kty"] === "EC" && jwk["crv"] === "P-256") return "ES256";
  if (jwk["kty"] === "OKP" && jwk["crv"] === "Ed25519") return "EdDSA";
  return undefined;
}

/** The set's keys this path may use: by kid, each kid once, for signatures, of a known type. */
function signingKeys(jwks: JSONWebKeySet): Map<string, SigningKey> {
  const byKid = new Map<string, SigningKey | null>();
  for (const raw of jwks.keys as unknown as Record<string, unknown>[]) {
    const kid = raw["kid"];
    if (typeof kid !== "string" || kid === "") continue;
    const alg = algOf(raw);
    const usable =
      alg !== undefined &&
      (raw["alg"] === undefined || raw["alg"] === alg) &&
      (raw["use"] === undefined || raw["use"] === "sig") &&
      (raw["key_ops"] === undefined ||
        (Array.isArray(raw["key_ops"]) && raw["key_ops"].includes("verify")));
    // A kid seen twice is left to jose (its matching rules decide between the two).
    if (byKid.has(kid) || !usable) {
      byKid.set(kid, null);
      continue;
    }
    try {
      byKid.set(kid, { alg, key: createPublicKey({ key: raw, format: "jwk" }) });
    } catch {
      byKid.set(kid, null);
    }
  }
  const keys = new Map<string, SigningKey>();
  for (const [kid, key] of byKid) if (key !== null) keys.set(kid, key);
  return keys;
}

/** The header when it is plain ({alg, kid, typ?}, strings only), else undefined. */
function plainHeader(segment: string): { alg: string; kid: string; typ?: string } | undefined {
  const bytes = Buffer.from(segment, "base64url");
  if (bytes.toString("base64url") !== segment) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) return undefined;
  const members = Object.entries(header);
  if (
    !members.every(([name, value]) => PLAIN_HEADER_MEMBERS.has(name) && typeof value === "string")
  )
    return undefined;
  const { alg, kid, typ } = header as Record<string, string | undefined>;
  if (alg === undefined || kid === undefined) return undefined;
  return { alg, kid, ...(typ === undefined ? {} : { typ }) };
}

function signatureValid(signing: SigningKey, input: string, segment: string): boolean {
  const signature = Buffer.from(segment, "base64url");
  if (signature.length !== 64 || signature.toString("base64url") !== segment) return false;
  const data = Buffer.from(input, "ascii");
  return signing.alg === "ES256"
    ? verify("sha256", data, { key: signing.key, dsaEncoding: "ieee-p1363" }, signature)
    : verify(null, data, signing.key, signature);
}

export function createFastJwtVerifier(
  jwks: JSONWebKeySet,
  algorithms: readonly string[],
): FastJwtVerifier | undefined {
  const keys = signingKeys(jwks);
  if (keys.size === 0) return undefined;
  const allowed = new Set(algorithms);
  return (token, claims) => {
    const parts = SEGMENTS.exec(token);
    if (parts === null) return undefined;
    const [, headerSegment = "", payloadSegment = "", signatureSegment = ""] = parts;
    const header = plainHeader(headerSegment);
    if (header === undefined || !allowed.has(header.alg)) return undefined;
    const signing = keys.get(header.kid);
    if (signing?.alg !== header.alg) return undefined;
    if (!signatureValid(signing, `${headerSegment}.${payloadSegment}`, signatureSegment))
      return undefined;
    // The signature is good: jose checks the claims exactly as jwtVerify would.
    const unsecuredHeader = Buffer.from(
      JSON.stringify({ alg: "none", ...(header.typ === undefined ? {} : { typ: header.typ }) }),
    ).toString("base64url");
    try {
      return UnsecuredJWT.decode(`${unsecuredHeader}.${payloadSegment}.`, claims).payload;
    } catch {
      return undefined;
    }
  };
}
