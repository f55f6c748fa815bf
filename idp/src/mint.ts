// Mints the tokens of the local development identity provider and device-trust service: RFC 9068
// access tokens ("typ": "at+jwt") with the acting agent in RFC 8693 "act", and posture tokens
// ("typ": "posture+jwt"). Development and tests only.
import { randomUUID } from "node:crypto";
import { importJWK, SignJWT, type JWK, type JWTPayload } from "jose";
import { ACCESS_TOKEN_TYP, POSTURE_TOKEN_TYP } from "../../common/jwks.ts";

export interface MintAccessTokenOptions {
  /** The issuer's private JWK, with "kid" and "alg" (see ensureDevKeys). */
  privateJwk: JWK;
  issuer: string;
  audience: string;
  /** The subject; also the "email" claim when it contains "@". */
  user: string;
  groups: readonly string[];
  /** The acting agent ("act.sub"); omitted means no "act" claim. */
  agent?: string;
  /** Lifetime in seconds (> 0). */
  ttlSec: number;
  /** Issue time, epoch seconds. Default: now. */
  now?: number;
  /** The "nbf" claim, epoch seconds. Default: none. */
  notBefore?: number;
}

export interface MintDelegatedAccessTokenOptions {
  /** The issuer's private JWK, with "kid" and "alg". */
  privateJwk: JWK;
  issuer: string;
  audience: string;
  /** The user ("sub"), copied from the subject token. */
  subject: string;
  /** The "email" claim, copied from the subject token when it has one. */
  email?: string;
  groups: readonly string[];
  /** The acting agent: "act.sub" (RFC 8693 section 4.1). */
  actor: string;
  /** The OAuth client that obtained the token: "client_id" (RFC 9068 section 2.2). */
  clientId: string;
  /** Lifetime in seconds (> 0). */
  ttlSec: number;
  /** Issue time, epoch seconds. Default: now. */
  now?: number;
}

export interface MintPostureTokenOptions {
  /** The device-trust service's private JWK, with "kid" and "alg". */
  privateJwk: JWK;
  issuer: string;
  audience: string;
  user: string;
  compliant: boolean;
  /** When the device was checked, epoch seconds. */
  checkedAt: number;
  /** Lifetime in seconds (> 0). */
  ttlSec: number;
  deviceId?: string;
  /** Issue time, epoch seconds. Default: now. */
  now?: number;
}

export async function mintAccessToken(options: MintAccessTokenOptions): Promise<string> {
  const user = nonEmpty("user", options.user);
  if (!Array.isArray(options.groups) || !options.groups.every((g) => typeof g === "string")) {
    throw new TypeError('"groups" must be an array of strings');
  }
  const claims: JWTPayload = { groups: [...options.groups] };
  if (user.includes("@")) claims["email"] = user;
  if (options.agent !== undefined) claims["act"] = { sub: nonEmpty("agent", options.agent) };
  if (options.notBefore !== undefined) claims.nbf = epochSeconds("notBefore", options.notBefore);
  return sign(claims, ACCESS_TOKEN_TYP, options);
}

/**
 * An access token issued by a token exchange (RFC 8693): the user's claims as given, the acting
 * agent in "act" and the client in "client_id". Unlike mintAccessToken, "email" is only what the
 * caller passes (the subject token's own claim), never derived from the subject.
 */
export async function mintDelegatedAccessToken(
  options: MintDelegatedAccessTokenOptions,
): Promise<string> {
  const subject = nonEmpty("subject", options.subject);
  if (!Array.isArray(options.groups) || !options.groups.every((g) => typeof g === "string")) {
    throw new TypeError('"groups" must be an array of strings');
  }
  const claims: JWTPayload = {
    groups: [...options.groups],
    act: { sub: nonEmpty("actor", options.actor) },
    client_id: nonEmpty("clientId", options.clientId),
  };
  if (options.email !== undefined) claims["email"] = nonEmpty("email", options.email);
  return sign(claims, ACCESS_TOKEN_TYP, { ...options, user: subject });
}

export async function mintPostureToken(options: MintPostureTokenOptions): Promise<string> {
  nonEmpty("user", options.user);
  if (typeof options.compliant !== "boolean") throw new TypeError('"compliant" must be a boolean');
  const claims: JWTPayload = {
    compliant: options.compliant,
    checked_at: epochSeconds("checkedAt", options.checkedAt),
  };
  if (options.deviceId !== undefined) claims["device_id"] = nonEmpty("deviceId", options.deviceId);
  return sign(claims, POSTURE_TOKEN_TYP, options);
}

interface SignOptions {
  privateJwk: JWK;
  issuer: string;
  audience: string;
  user: string;
  ttlSec: number;
  now?: number;
}

async function sign(claims: JWTPayload, typ: string, options: SignOptions): Promise<string> {
  const { privateJwk } = options;
  if (typeof privateJwk.kid !== "string" || typeof privateJwk.alg !== "string") {
    throw new TypeError('"privateJwk" must have "kid" and "alg"');
  }
  if (privateJwk.d === undefined) throw new TypeError('"privateJwk" must be a private key');
  if (!Number.isInteger(options.ttlSec) || options.ttlSec <= 0) {
    throw new TypeError('"ttlSec" must be a positive integer');
  }
  const now = epochSeconds("now", options.now ?? Math.floor(Date.now() / 1000));
  const key = await importJWK(privateJwk, privateJwk.alg);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: privateJwk.alg, kid: privateJwk.kid, typ })
    .setIssuer(nonEmpty("issuer", options.issuer))
    .setAudience(nonEmpty("audience", options.audience))
    .setSubject(options.user)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSec)
    .setJti(randomUUID())
    .sign(key);
}

function nonEmpty(name: string, value: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`"${name}" must be a non-empty string`);
  }
  return value;
}

function epochSeconds(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new TypeError(`"${name}" must be epoch seconds (a non-negative integer)`);
  }
  return value;
}
