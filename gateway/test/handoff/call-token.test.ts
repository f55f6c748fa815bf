import {
  createLocalJWKSet,
  jwtVerify,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
} from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { createCallTokenVerifier } from "../../../agent/src/call-token.ts";
import { argumentsDigest } from "../../../common/canonical.ts";
import { CALL_TOKEN_AUDIENCE, CALL_TOKEN_ISSUER } from "../../../common/worker-contract.ts";
import {
  CallTokenSignerError,
  createCallTokenSigner,
  type CallTokenClaimsInput,
} from "../../src/handoff/call-token.ts";

const NOW_MS = Date.UTC(2026, 10, 21, 3, 0, 0);
const ARGS = { ticket: "CHG-18422" };

let privateJwk: JWK;
let publicJwk: JWK;
let jwks: JSONWebKeySet;

async function keyPair(alg: "ES256" | "EdDSA", kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid },
    publicJwk: { ...(await exportJWK(publicKey)), kid },
  };
}

beforeAll(async () => {
  const pair = await keyPair("ES256", "gw-test-1");
  privateJwk = pair.privateJwk;
  publicJwk = pair.publicJwk;
  jwks = { keys: [pair.publicJwk] };
});

function claims(overrides: Partial<CallTokenClaimsInput> = {}): CallTokenClaimsInput {
  return {
    tool: "jira_read",
    argumentsDigest: argumentsDigest(ARGS),
    decisionId: "dec-0001",
    user: "u-engineer",
    agent: "change-reviewer",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    ...overrides,
  };
}

function signer(ttlSec = 30) {
  return createCallTokenSigner({
    privateJwk,
    issuer: CALL_TOKEN_ISSUER,
    audience: CALL_TOKEN_AUDIENCE,
    ttlSec,
    now: () => NOW_MS,
  });
}

describe("call token signer", () => {
  it("signs an ES256 call+jwt with the expected claims", async () => {
    const token = await signer(20).sign(claims());
    expect(decodeProtectedHeader(token)).toEqual({
      alg: "ES256",
      kid: "gw-test-1",
      typ: "call+jwt",
    });
    const payload = decodeJwt(token);
    const iat = Math.floor(NOW_MS / 1000);
    expect(payload).toEqual({
      iss: "zyx-agent-gateway",
      aud: "zyx-agent-worker",
      sub: "u-engineer",
      act: { sub: "change-reviewer" },
      tool: "jira_read",
      args_sha256: argumentsDigest(ARGS),
      decision_id: "dec-0001",
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      iat,
      exp: iat + 20,
    });
  });

  it("gives every token a fresh jti", async () => {
    const s = signer();
    const a = decodeJwt(await s.sign(claims()));
    const b = decodeJwt(await s.sign(claims()));
    expect(a.jti).not.toBe(b.jti);
  });

  it("omits trace_id when there is none", async () => {
    const input = claims();
    delete input.traceId;
    expect(decodeJwt(await signer().sign(input))).not.toHaveProperty("trace_id");
  });

  it.each([[0], [31], [60], [1.5], [-1], [Number.NaN]])(
    "refuses ttlSec %s at construction",
    (ttl) => {
      expect(() => signer(ttl)).toThrow(CallTokenSignerError);
    },
  );

  it("refuses a public key, a key without kid and an RSA/HMAC key at construction", () => {
    const base = { issuer: CALL_TOKEN_ISSUER, audience: CALL_TOKEN_AUDIENCE, ttlSec: 10 };
    const withoutKid = { ...privateJwk };
    delete withoutKid.kid;
    expect(() => createCallTokenSigner({ ...base, privateJwk: publicJwk })).toThrow(
      /not a private key/,
    );
    expect(() => createCallTokenSigner({ ...base, privateJwk: withoutKid })).toThrow(/kid/);
    expect(() =>
      createCallTokenSigner({ ...base, privateJwk: { kty: "oct", k: "c2VjcmV0", kid: "h" } }),
    ).toThrow(/ES256|EdDSA/);
    expect(() =>
      createCallTokenSigner({ ...base, privateJwk: { ...privateJwk, alg: "ES384" } }),
    ).toThrow(/does not match/);
  });

  it("refuses at construction a private key that cannot be imported", () => {
    const base = { issuer: CALL_TOKEN_ISSUER, audience: CALL_TOKEN_AUDIENCE, ttlSec: 10 };
    // A P-256 private key whose public point is not on the curve: no key, no signer.
    expect(() =>
      createCallTokenSigner({ ...base, privateJwk: { ...privateJwk, y: privateJwk.x ?? "" } }),
    ).toThrow(/cannot be imported/);
  });

  it("signs a compact JWS that jose verifies over the key set, for both algorithms", async () => {
    for (const alg of ["ES256", "EdDSA"] as const) {
      const pair = await keyPair(alg, `kid-${alg}`);
      const token = await createCallTokenSigner({
        privateJwk: pair.privateJwk,
        issuer: CALL_TOKEN_ISSUER,
        audience: CALL_TOKEN_AUDIENCE,
        ttlSec: 30,
      }).sign(claims());
      const { payload, protectedHeader } = await jwtVerify(
        token,
        createLocalJWKSet({ keys: [pair.publicJwk] }),
        { issuer: CALL_TOKEN_ISSUER, audience: CALL_TOKEN_AUDIENCE, typ: "call+jwt" },
      );
      expect(protectedHeader).toEqual({ alg, kid: `kid-${alg}`, typ: "call+jwt" });
      expect(payload).toMatchObject({ sub: "u-engineer", act: { sub: "change-reviewer" } });
      // One flipped signature byte: refused.
      const [head, body, signature] = token.split(".");
      const bytes = Buffer.from(signature ?? "", "base64url");
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      await expect(
        jwtVerify(
          `${head ?? ""}.${body ?? ""}.${bytes.toString("base64url")}`,
          createLocalJWKSet({ keys: [pair.publicJwk] }),
        ),
      ).rejects.toThrow(/signature/);
    }
  });

  it("refuses to sign malformed claims", async () => {
    const s = signer();
    await expect(s.sign(claims({ argumentsDigest: "abc" }))).rejects.toThrow(CallTokenSignerError);
    await expect(s.sign(claims({ decisionId: "" }))).rejects.toThrow(CallTokenSignerError);
    await expect(s.sign(claims({ user: "" }))).rejects.toThrow(CallTokenSignerError);
    await expect(
      s.sign({ ...claims(), tool: "iam_attach_policy" as CallTokenClaimsInput["tool"] }),
    ).rejects.toThrow(/catalog/);
  });

  it("carries the gateway's wait as timeout_ms, which the worker's verifier reads back", async () => {
    const token = await signer().sign(claims({ timeoutMs: 10_000 }));
    expect(decodeJwt(token)).toMatchObject({ timeout_ms: 10_000 });
    expect(decodeJwt(await signer().sign(claims()))).not.toHaveProperty("timeout_ms");
    const verifier = createCallTokenVerifier({
      jwks,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: 2,
      maxReplayEntries: 10,
      now: () => NOW_MS,
    });
    await expect(verifier.verify(token, ARGS)).resolves.toMatchObject({ timeoutMs: 10_000 });
  });

  it.each([[0], [120_001], [1.5], [Number.NaN]])(
    "refuses to sign a timeoutMs of %s",
    async (timeoutMs) => {
      await expect(signer().sign(claims({ timeoutMs }))).rejects.toThrow(
        "timeoutMs must be a whole number from 1 to 120000",
      );
    },
  );

  it("round-trips through the worker's verifier (ES256 and EdDSA)", async () => {
    const ed = await keyPair("EdDSA", "gw-test-ed");
    const verifier = createCallTokenVerifier({
      jwks: { keys: [...jwks.keys, ed.publicJwk] },
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: 2,
      maxReplayEntries: 10,
      now: () => NOW_MS + 29_000,
    });
    const es = await signer().sign(claims());
    await expect(verifier.verify(es, { ticket: "CHG-18422" })).resolves.toMatchObject({
      tool: "jira_read",
      decisionId: "dec-0001",
      user: "u-engineer",
      agent: "change-reviewer",
      kid: "gw-test-1",
    });
    const edSigner = createCallTokenSigner({
      privateJwk: ed.privateJwk,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      ttlSec: 30,
      now: () => NOW_MS,
    });
    expect(decodeProtectedHeader(await edSigner.sign(claims())).alg).toBe("EdDSA");
    await expect(verifier.verify(await edSigner.sign(claims()), ARGS)).resolves.toMatchObject({
      kid: "gw-test-ed",
    });
  });
});
