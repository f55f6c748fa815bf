// The call token: what the gateway hands the agent worker with every allowed call.
//
// The token's shape (typ, issuer, audience, claims, lifetime) is the wire contract shared with the
// worker: common/worker-contract.ts. An asymmetric JWT (the worker holds only the public key, so a compromised worker cannot mint
// calls) that names one tool, binds the exact arguments by their RFC 8785 SHA-256 digest, the
// decision that allowed them, the user (sub) and the acting agent (act.sub, RFC 8693), and
// lives at most 30 seconds. Its random jti lets the worker refuse a replay.
//
// Header: { alg: "ES256" | "EdDSA", kid, typ: "call+jwt" }.
// Claims: iss, aud, sub, act { sub }, tool, args_sha256, decision_id, trace_id?, timeout_ms?,
// jti, iat, exp. timeout_ms is how long the gateway waits for the worker's answer: the worker
// stops the call before then (agent/src/connectors/deadline.ts).
//
// Cost: the token is signed on every allowed call, so it is signed synchronously with
// node:crypto on a KeyObject imported once, at construction (no WebCrypto job and thread-pool hop
// per call; the compact JWS is the same bytes jose would produce). A key node cannot import fails
// construction: the gateway does not start without a usable signing key.
import { createPrivateKey, randomUUID, sign as signBytes, type KeyObject } from "node:crypto";
import type { JWK } from "jose";
import { ARGUMENTS_DIGEST } from "../../../common/canonical.ts";
import { isToolName, type ToolName } from "../../../common/catalog.ts";
import { IDENTITY_LIMITS } from "../../../common/identity.ts";
import {
  CALL_TIMEOUT_MAX_MS,
  CALL_TOKEN_MAX_TTL_SEC,
  CALL_TOKEN_TYPE,
  callTokenAlgorithmOf,
  type CallTokenAlgorithm,
} from "../../../common/worker-contract.ts";

export interface CallTokenSignerOptions {
  /** Private signing key: EC P-256 (ES256) or OKP Ed25519 (EdDSA), with a `kid`. */
  privateJwk: JWK;
  issuer: string;
  audience: string;
  /** Lifetime in whole seconds, 1..30. Checked here, at construction. */
  ttlSec: number;
  /** Clock in epoch milliseconds (default Date.now); tests freeze it. */
  now?: () => number;
}

export interface CallTokenClaimsInput {
  tool: ToolName;
  /** argumentsDigest(arguments) from common/canonical.ts: 64 lower-case hex digits. */
  argumentsDigest: string;
  decisionId: string;
  /** The verified user on whose behalf the agent acts (becomes `sub`). */
  user: string;
  /** The acting agent (becomes `act.sub`). */
  agent: string;
  traceId?: string;
  /** How long the gateway waits for the worker's answer, in ms (1..CALL_TIMEOUT_MAX_MS). */
  timeoutMs?: number;
}

export interface CallTokenSigner {
  /** Key id placed in the header, for the worker's key lookup. */
  readonly kid: string;
  readonly ttlSec: number;
  sign(claims: CallTokenClaimsInput): Promise<string>;
}

/** Thrown for a signer misconfiguration or an unsignable claim. */
export class CallTokenSignerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CallTokenSignerError";
  }
}

function algorithmOf(jwk: JWK): CallTokenAlgorithm {
  const alg = callTokenAlgorithmOf(jwk);
  if (alg === undefined) {
    throw new CallTokenSignerError(
      "call token key must be EC P-256 (ES256) or OKP Ed25519 (EdDSA)",
    );
  }
  return alg;
}

function requireText(label: string, value: unknown, max = 256): string {
  if (typeof value !== "string" || value === "" || value.length > max) {
    throw new CallTokenSignerError(`${label} must be a non-empty string of at most ${max} chars`);
  }
  return value;
}

export function createCallTokenSigner(options: CallTokenSignerOptions): CallTokenSigner {
  const { privateJwk, ttlSec } = options;
  if (!Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > CALL_TOKEN_MAX_TTL_SEC) {
    throw new CallTokenSignerError(
      `ttlSec must be a whole number of seconds from 1 to ${CALL_TOKEN_MAX_TTL_SEC}`,
    );
  }
  const alg = algorithmOf(privateJwk);
  if (typeof privateJwk.d !== "string" || privateJwk.d === "") {
    throw new CallTokenSignerError("privateJwk has no `d` member: it is not a private key");
  }
  if (privateJwk.alg !== undefined && privateJwk.alg !== alg) {
    throw new CallTokenSignerError(`privateJwk.alg ${privateJwk.alg} does not match ${alg}`);
  }
  const kid = requireText("privateJwk.kid", privateJwk.kid);
  const issuer = requireText("issuer", options.issuer);
  const audience = requireText("audience", options.audience);
  const now = options.now ?? Date.now;

  const key = importSigningKey(privateJwk);
  const header = base64url(JSON.stringify({ alg, kid, typ: CALL_TOKEN_TYPE }));

  return {
    kid,
    ttlSec,
    sign(claims) {
      try {
        const payload = base64url(JSON.stringify(claimsOf(claims, issuer, audience, now, ttlSec)));
        const input = `${header}.${payload}`;
        return Promise.resolve(`${input}.${signInput(alg, key, input)}`);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
  };
}

function importSigningKey(privateJwk: JWK): KeyObject {
  try {
    return createPrivateKey({ key: privateJwk, format: "jwk" });
  } catch (error) {
    throw new CallTokenSignerError(`privateJwk cannot be imported: ${String(error)}`);
  }
}

function base64url(text: string): string {
  return Buffer.from(text, "utf8").toString("base64url");
}

/** The JWS signature of `input`: raw r||s for ES256 (RFC 7518 §3.4), as jose writes it. */
function signInput(alg: CallTokenAlgorithm, key: KeyObject, input: string): string {
  const data = Buffer.from(input, "ascii");
  const signature =
    alg === "ES256"
      ? signBytes("sha256", data, { key, dsaEncoding: "ieee-p1363" })
      : signBytes(null, data, key);
  return signature.toString("base64url");
}

/** The claims, each checked (a CallTokenSignerError for a malformed one). */
function claimsOf(
  claims: CallTokenClaimsInput,
  issuer: string,
  audience: string,
  now: () => number,
  ttlSec: number,
): Record<string, unknown> {
  if (!isToolName(claims.tool)) throw new CallTokenSignerError("tool is not in the catalog");
  if (!ARGUMENTS_DIGEST.test(claims.argumentsDigest)) {
    throw new CallTokenSignerError("argumentsDigest must be 64 lower-case hex digits");
  }
  const decisionId = requireText("decisionId", claims.decisionId);
  // The identity's own limits (common/identity.ts), as the worker's contract holds them.
  const user = requireText("user", claims.user, IDENTITY_LIMITS.subject);
  const agent = requireText("agent", claims.agent, IDENTITY_LIMITS.agent);
  const traceId = claims.traceId === undefined ? undefined : requireText("traceId", claims.traceId);
  const timeoutMs = claims.timeoutMs;
  if (
    timeoutMs !== undefined &&
    (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > CALL_TIMEOUT_MAX_MS)
  ) {
    throw new CallTokenSignerError(
      `timeoutMs must be a whole number from 1 to ${CALL_TIMEOUT_MAX_MS}`,
    );
  }
  const iat = Math.floor(now() / 1000);
  return {
    tool: claims.tool,
    args_sha256: claims.argumentsDigest,
    decision_id: decisionId,
    act: { sub: agent },
    ...(traceId === undefined ? {} : { trace_id: traceId }),
    ...(timeoutMs === undefined ? {} : { timeout_ms: timeoutMs }),
    iss: issuer,
    aud: audience,
    sub: user,
    jti: randomUUID(),
    iat,
    exp: iat + ttlSec,
  };
}
