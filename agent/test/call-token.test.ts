import { randomUUID } from "node:crypto";
import {
  base64url,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from "jose";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { argumentsDigest } from "../../common/canonical.ts";
import {
  CallTokenError,
  createCallTokenVerifier,
  createReplayCache,
  type CallTokenErrorCode,
  type CallTokenVerifier,
} from "../src/call-token.ts";

const ISSUER = "zyx-agent-gateway";
const AUDIENCE = "zyx-agent-worker";
const KID = "gw-test-1";
const T0 = Date.UTC(2026, 10, 21, 3, 0, 0);
const T0_SEC = T0 / 1000;
const TOLERANCE = 2;
const ARGS = { ticket: "CHG-18422" };

let gatewayKey: JWK;
let otherKey: JWK;
let jwks: JSONWebKeySet;
let gatewayPublicKey: JWK;
let clock: number;

async function privateJwkFor(alg: "ES256" | "EdDSA", kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid },
    publicJwk: { ...(await exportJWK(publicKey)), kid },
  };
}

beforeAll(async () => {
  const gateway = await privateJwkFor("ES256", KID);
  gatewayKey = gateway.privateJwk;
  gatewayPublicKey = gateway.publicJwk;
  jwks = { keys: [gateway.publicJwk] };
  // An attacker's key that even claims the gateway's kid.
  otherKey = (await privateJwkFor("ES256", KID)).privateJwk;
});

beforeEach(() => {
  clock = T0;
});

function verifier(maxReplayEntries = 100): CallTokenVerifier {
  return createCallTokenVerifier({
    jwks,
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSec: TOLERANCE,
    maxReplayEntries,
    now: () => clock,
  });
}

interface TokenOptions {
  key?: JWK;
  header?: Record<string, unknown>;
  claims?: JWTPayload;
  iat?: number;
  ttl?: number;
  args?: unknown;
}

async function token(options: TokenOptions = {}): Promise<string> {
  const iat = options.iat ?? T0_SEC;
  const key = options.key ?? gatewayKey;
  return new SignJWT({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "u-engineer",
    act: { sub: "change-reviewer" },
    tool: "jira_read",
    args_sha256: argumentsDigest(options.args ?? ARGS),
    decision_id: "dec-0001",
    jti: randomUUID(),
    iat,
    exp: iat + (options.ttl ?? 30),
    ...options.claims,
  })
    .setProtectedHeader({ alg: "ES256", kid: KID, typ: "call+jwt", ...options.header })
    .sign(await importJWK(key, "ES256"));
}

async function refusal(promise: Promise<unknown>): Promise<CallTokenErrorCode> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CallTokenError) return error.code;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("call token verifier", () => {
  it("accepts a genuine token for the arguments received", async () => {
    const v = verifier();
    await expect(v.verify(await token(), { ticket: "CHG-18422" })).resolves.toEqual({
      tool: "jira_read",
      argumentsDigest: argumentsDigest(ARGS),
      decisionId: "dec-0001",
      user: "u-engineer",
      agent: "change-reviewer",
      jti: expect.any(String) as unknown,
      issuedAt: T0_SEC,
      expiresAt: T0_SEC + 30,
      kid: KID,
    });
    expect(v.replayEntries).toBe(1);
  });

  it("refuses a missing token", async () => {
    const v = verifier();
    expect(await refusal(v.verify(undefined, ARGS))).toBe("call_token_missing");
    expect(await refusal(v.verify("", ARGS))).toBe("call_token_missing");
  });

  it("refuses garbage and oversize tokens", async () => {
    const v = verifier();
    expect(await refusal(v.verify("not.a.jwt", ARGS))).toBe("call_token_invalid");
    expect(await refusal(v.verify("a".repeat(5000), ARGS))).toBe("call_token_invalid");
  });

  it("refuses a token forged with another key, even under the gateway's kid", async () => {
    expect(await refusal(verifier().verify(await token({ key: otherKey }), ARGS))).toBe(
      "call_token_invalid",
    );
  });

  it("refuses a token whose kid is not in the key set", async () => {
    const t = await token({ header: { kid: "someone-else" } });
    expect(await refusal(verifier().verify(t, ARGS))).toBe("call_token_invalid");
  });

  it('refuses alg "none"', async () => {
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "call+jwt", kid: KID }));
    const genuine = await token();
    const payload = genuine.split(".")[1] ?? "";
    expect(await refusal(verifier().verify(`${header}.${payload}.`, ARGS))).toBe(
      "call_token_invalid",
    );
  });

  it("refuses HS256 even when keyed with the public key material", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(gatewayPublicKey));
    const t = await new SignJWT({ ...ARGS })
      .setProtectedHeader({ alg: "HS256", kid: KID, typ: "call+jwt" })
      .sign(secret);
    expect(await refusal(verifier().verify(t, ARGS))).toBe("call_token_invalid");
  });

  it("refuses an expired token (frozen clock), and honours the small tolerance", async () => {
    const t = await token({ ttl: 10 });
    clock = T0 + (10 + TOLERANCE - 1) * 1000;
    await expect(verifier().verify(t, ARGS)).resolves.toBeDefined();
    clock = T0 + (10 + TOLERANCE) * 1000;
    expect(await refusal(verifier().verify(t, ARGS))).toBe("call_token_expired");
  });

  it("refuses a token that claims to live longer than 30 seconds", async () => {
    expect(await refusal(verifier().verify(await token({ ttl: 3600 }), ARGS))).toBe(
      "call_token_invalid",
    );
  });

  it("refuses a token issued too far in the past or in the future", async () => {
    clock = T0 + 40_000;
    expect(await refusal(verifier().verify(await token({ ttl: 60 }), ARGS))).toBe(
      "call_token_expired",
    );
    clock = T0;
    const future = await token({ iat: T0_SEC + 10 });
    expect(await refusal(verifier().verify(future, ARGS))).toBe("call_token_invalid");
  });

  it("refuses a wrong audience, a wrong issuer and a wrong typ", async () => {
    const v = verifier();
    expect(await refusal(v.verify(await token({ claims: { aud: "zyx-other" } }), ARGS))).toBe(
      "call_token_invalid",
    );
    expect(await refusal(v.verify(await token({ claims: { iss: "someone" } }), ARGS))).toBe(
      "call_token_invalid",
    );
    expect(await refusal(v.verify(await token({ header: { typ: "JWT" } }), ARGS))).toBe(
      "call_token_invalid",
    );
  });

  it("refuses malformed claims (tool outside the catalog, no act, bad digest)", async () => {
    const v = verifier();
    for (const claims of [
      { tool: "iam_attach_policy" },
      { act: "change-reviewer" },
      { args_sha256: "ABC" },
      { decision_id: "" },
    ]) {
      expect(await refusal(v.verify(await token({ claims }), ARGS))).toBe("call_token_invalid");
    }
    expect(v.replayEntries).toBe(0);
  });

  it("refuses arguments that differ from the signed digest", async () => {
    const v = verifier();
    const t = await token();
    expect(await refusal(v.verify(t, { ticket: "CHG-18423" }))).toBe("arguments_digest_mismatch");
    expect(await refusal(v.verify(t, { ticket: "CHG-18422", extra: 1 }))).toBe(
      "arguments_digest_mismatch",
    );
    expect(await refusal(v.verify(t, undefined))).toBe("arguments_digest_mismatch");
    expect(await refusal(v.verify(t, { ticket: "\uD800" }))).toBe("arguments_digest_mismatch");
    // Key order is not a difference.
    const multi = { b: 1, a: 2 };
    await expect(v.verify(await token({ args: multi }), { a: 2, b: 1 })).resolves.toBeDefined();
  });

  it("refuses the same token twice", async () => {
    const v = verifier();
    const t = await token();
    await expect(v.verify(t, ARGS)).resolves.toBeDefined();
    expect(await refusal(v.verify(t, ARGS))).toBe("call_token_replayed");
    clock += 20_000;
    expect(await refusal(v.verify(t, ARGS))).toBe("call_token_replayed");
  });

  it("when full, refuses new calls instead of forgetting unexpired jtis", async () => {
    const v = verifier(2);
    const first = await token();
    await v.verify(first, ARGS);
    await v.verify(await token(), ARGS);
    expect(await refusal(v.verify(await token(), ARGS))).toBe("replay_cache_full");
    // The remembered ones are still refused as replays, not forgotten.
    expect(await refusal(v.verify(first, ARGS))).toBe("call_token_replayed");
    expect(v.replayEntries).toBe(2);
  });

  it("evicts expired jtis first, then accepts new calls again", async () => {
    const v = verifier(2);
    const first = await token({ ttl: 5 });
    await v.verify(first, ARGS);
    await v.verify(await token({ ttl: 30 }), ARGS);
    // The first token can no longer verify (exp + tolerance passed): its jti may go.
    clock = T0 + (5 + TOLERANCE) * 1000;
    const fresh = await token({ iat: T0_SEC + 7 });
    await expect(v.verify(fresh, ARGS)).resolves.toBeDefined();
    expect(v.replayEntries).toBe(2);
    expect(await refusal(v.verify(first, ARGS))).toBe("call_token_expired");
    expect(await refusal(v.verify(fresh, ARGS))).toBe("call_token_replayed");
  });

  it("refuses unsafe configuration at construction", () => {
    const base = { issuer: ISSUER, audience: AUDIENCE, clockToleranceSec: 2, maxReplayEntries: 10 };
    expect(() => createCallTokenVerifier({ ...base, jwks: { keys: [gatewayKey] } })).toThrow(
      /public keys only/,
    );
    expect(() => createCallTokenVerifier({ ...base, jwks: { keys: [] } })).toThrow();
    expect(() =>
      createCallTokenVerifier({
        ...base,
        jwks: { keys: [{ kty: "oct", k: "c2VjcmV0", kid: "h" }] },
      }),
    ).toThrow(/EC P-256 or OKP Ed25519/);
    expect(() => createCallTokenVerifier({ ...base, jwks, clockToleranceSec: 60 })).toThrow(
      RangeError,
    );
    expect(() => createCallTokenVerifier({ ...base, jwks, maxReplayEntries: 0 })).toThrow(
      RangeError,
    );
  });
});

describe("replay cache", () => {
  it("remembers until forgetAt, is bounded, and fails closed when full", () => {
    const cache = createReplayCache(2);
    expect(cache.check("a", 100, 50)).toBe("accepted");
    expect(cache.check("b", 200, 50)).toBe("accepted");
    expect(cache.check("a", 100, 60)).toBe("replayed");
    expect(cache.check("c", 300, 60)).toBe("full");
    expect(cache.size).toBe(2);
    // "a" expires at 100: evicted first, making room for "c"; "b" stays.
    expect(cache.check("c", 300, 100)).toBe("accepted");
    expect(cache.check("b", 200, 150)).toBe("replayed");
    expect(cache.size).toBe(2);
  });

  it("evicts expired entries wherever they sit in insertion order", () => {
    const cache = createReplayCache(2);
    cache.check("long", 500, 0);
    cache.check("short", 10, 0);
    expect(cache.check("new", 600, 20)).toBe("accepted");
    expect(cache.check("long", 500, 20)).toBe("replayed");
  });
});
