// Access-token verification: the happy path, and each way a token can be forged, replayed where it
// does not belong or be malformed, asserted by error code and message. The clock is frozen.
import {
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from "jose";
import { describe, expect, it } from "vitest";
import { bearerToken, createAccessTokenVerifier } from "../../src/identity/access-token.ts";
import type { AccessTokenVerifierOptions, KeySource } from "../../src/identity/types.ts";
import { GatewayError } from "../../src/lib/errors.ts";

const T0 = 1_779_242_400;
const ISSUER = "zyx-dev-idp";
const AUDIENCE = "zyx-agent-gateway";
const USER = "engineer@zyxbank.example";
const AGENT = "change-reviewer";
const GROUPS = ["grp-ai-users", "grp-ai-devops-readonly"];

interface Signer {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

async function newSigner(alg = "ES256"): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { alg, kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: "sig" } };
}

const idp = await newSigner();
const stranger = await newSigner();
const KEYS: KeySource = { kind: "jwks", jwks: { keys: [idp.publicJwk] } };

function claims(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: USER,
    email: USER,
    groups: GROUPS,
    act: { sub: AGENT },
    iat: T0,
    exp: T0 + 900,
    jti: "tok-1",
    ...overrides,
  };
}

function without(payload: JWTPayload, ...names: string[]): JWTPayload {
  return Object.fromEntries(Object.entries(payload).filter(([name]) => !names.includes(name)));
}

interface SignOptions {
  signer?: Signer;
  /** null: no typ header. */
  typ?: string | null;
  /** Header kid; default the signer's. */
  kid?: string;
}

async function sign(payload: JWTPayload, options: SignOptions = {}): Promise<string> {
  const signer = options.signer ?? idp;
  const typ = options.typ === undefined ? "at+jwt" : options.typ;
  return new SignJWT(payload)
    .setProtectedHeader({
      alg: signer.alg,
      kid: options.kid ?? signer.kid,
      ...(typ === null ? {} : { typ }),
    })
    .sign(signer.privateKey);
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

function verifier(extra: Partial<AccessTokenVerifierOptions> = {}) {
  return createAccessTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: KEYS,
    now: () => T0,
    ...extra,
  });
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected a rejection");
}

describe("createAccessTokenVerifier: valid tokens", () => {
  it("returns the principal: subject, email, groups, acting agent, token id, expiry", async () => {
    expect(await verifier().verify(await sign(claims()))).toStrictEqual({
      subject: USER,
      email: USER,
      groups: GROUPS,
      agent: AGENT,
      tokenId: "tok-1",
      expiresAt: T0 + 900,
    });
  });

  it("omits email and tokenId when the claims are absent or not strings", async () => {
    const token = await sign(without(claims({ email: 42, sub: "svc-batch" }), "jti"));
    expect(await verifier().verify(token)).toStrictEqual({
      subject: "svc-batch",
      groups: GROUPS,
      agent: AGENT,
      expiresAt: T0 + 900,
    });
  });

  it("accepts an empty groups array, an aud array naming the gateway, and application/at+jwt", async () => {
    const token = await sign(claims({ groups: [], aud: ["other", AUDIENCE] }), {
      typ: "application/at+jwt",
    });
    expect((await verifier().verify(token)).groups).toEqual([]);
  });

  it("reads the groups from the configured claim", async () => {
    const token = await sign(without(claims({ roles: ["grp-ai-users"] }), "groups"));
    expect((await verifier({ groupsClaim: "roles" }).verify(token)).groups).toEqual([
      "grp-ai-users",
    ]);
  });

  it.each(["EdDSA", "RS256", "PS256"])("accepts %s by default", async (alg) => {
    const signer = await newSigner(alg);
    const keys: KeySource = { kind: "jwks", jwks: { keys: [signer.publicJwk] } };
    const principal = await verifier({ keys }).verify(await sign(claims(), { signer }));
    expect(principal.subject).toBe(USER);
  });

  it("honours the clock tolerance on exp and nbf (30 s by default)", async () => {
    const late = await sign(claims({ exp: T0 - 29 }));
    const early = await sign(claims({ nbf: T0 + 29 }));
    expect((await verifier().verify(late)).expiresAt).toBe(T0 - 29);
    expect((await verifier().verify(early)).subject).toBe(USER);
    expect(await failure(verifier({ clockToleranceSec: 0 }).verify(late))).toEqual({
      code: "token_expired",
      message: "token has expired (exp)",
    });
  });
});

describe("createAccessTokenVerifier: attacks and malformed tokens", () => {
  const cases: [string, () => Promise<string>, string, string][] = [
    [
      'alg "none" (unsigned)',
      () => Promise.resolve(`${b64({ alg: "none", typ: "at+jwt" })}.${b64(claims())}.`),
      "token_invalid",
      'token "alg" (algorithm) is not allowed',
    ],
    [
      "HS256 signed with the public JWK as the HMAC secret",
      () =>
        new SignJWT(claims())
          .setProtectedHeader({ alg: "HS256", kid: idp.kid, typ: "at+jwt" })
          .sign(new TextEncoder().encode(JSON.stringify(idp.publicJwk))),
      "token_invalid",
      'token "alg" (algorithm) is not allowed',
    ],
    [
      "HS256 signed with the public key PEM as the HMAC secret",
      async () =>
        new SignJWT(claims())
          .setProtectedHeader({ alg: "HS256", kid: idp.kid, typ: "at+jwt" })
          .sign(new TextEncoder().encode(await exportSPKI(idp.publicKey))),
      "token_invalid",
      'token "alg" (algorithm) is not allowed',
    ],
    [
      "an algorithm outside the allow-list (ES384)",
      async () => sign(claims(), { signer: await newSigner("ES384") }),
      "token_invalid",
      'token "alg" (algorithm) is not allowed',
    ],
    [
      "wrong issuer",
      () => sign(claims({ iss: "https://evil.example" })),
      "token_invalid",
      'unexpected "iss" claim value',
    ],
    [
      "wrong audience",
      () => sign(claims({ aud: "zyx-payments-api" })),
      "token_invalid",
      'unexpected "aud" claim value',
    ],
    [
      "a token minted for other audiences only",
      () => sign(claims({ aud: ["zyx-payments-api", "zyx-hr-portal"] })),
      "token_invalid",
      'unexpected "aud" claim value',
    ],
    [
      "expired beyond the tolerance",
      () => sign(claims({ iat: T0 - 1000, exp: T0 - 31 })),
      "token_expired",
      "token has expired (exp)",
    ],
    [
      "not yet valid beyond the tolerance",
      () => sign(claims({ nbf: T0 + 31 })),
      "token_invalid",
      "token is not yet valid (nbf)",
    ],
    [
      "no exp",
      () => sign(without(claims(), "exp")),
      "token_invalid",
      'missing required "exp" claim',
    ],
    [
      "no sub",
      () => sign(without(claims(), "sub")),
      "token_invalid",
      'missing required "sub" claim',
    ],
    [
      "unknown kid (signed by a key outside the set)",
      () => sign(claims(), { signer: stranger }),
      "token_invalid",
      'no key in the key set matches the token (unknown "kid")',
    ],
    [
      "the trusted kid, signed by another key",
      () => sign(claims(), { signer: stranger, kid: idp.kid }),
      "token_invalid",
      "token signature verification failed",
    ],
    [
      "tampered payload (a group added, signature kept)",
      async () => {
        const [header, payload, signature] = (await sign(claims())).split(".");
        const forged = JSON.parse(Buffer.from(payload ?? "", "base64url").toString()) as JWTPayload;
        forged["groups"] = [...GROUPS, "grp-ai-admins"];
        return `${header ?? ""}.${b64(forged)}.${signature ?? ""}`;
      },
      "token_invalid",
      "token signature verification failed",
    ],
    [
      "typ JWT instead of at+jwt",
      () => sign(claims(), { typ: "JWT" }),
      "token_invalid",
      'unexpected "typ" header value (expected "at+jwt")',
    ],
    [
      "no typ header",
      () => sign(claims(), { typ: null }),
      "token_invalid",
      'unexpected "typ" header value (expected "at+jwt")',
    ],
    [
      "a posture token (posture+jwt) signed by the identity provider's key",
      () => sign(claims({ compliant: true, checked_at: T0 }), { typ: "posture+jwt" }),
      "token_invalid",
      'unexpected "typ" header value (expected "at+jwt")',
    ],
    [
      "missing groups claim",
      () => sign(without(claims(), "groups")),
      "token_invalid",
      'missing "groups" claim',
    ],
    [
      "groups claim not an array of strings",
      () => sign(claims({ groups: ["grp-ai-users", 7] })),
      "token_invalid",
      '"groups" claim must be an array of strings',
    ],
    [
      "groups claim a string",
      () => sign(claims({ groups: "grp-ai-users" })),
      "token_invalid",
      '"groups" claim must be an array of strings',
    ],
    [
      "no act claim",
      () => sign(without(claims(), "act")),
      "token_agent_missing",
      "token has no acting agent (act.sub)",
    ],
    [
      "act without sub",
      () => sign(claims({ act: { client_id: AGENT } })),
      "token_agent_missing",
      "token has no acting agent (act.sub)",
    ],
    [
      "act.sub not a string",
      () => sign(claims({ act: { sub: 12 } })),
      "token_agent_missing",
      "token has no acting agent (act.sub)",
    ],
    [
      "act a string",
      () => sign(claims({ act: AGENT })),
      "token_agent_missing",
      "token has no acting agent (act.sub)",
    ],
    [
      "sub not a string",
      () => sign(claims({ sub: 42 as unknown as string })),
      "token_invalid",
      '"sub" claim must be a non-empty string',
    ],
    [
      "sub longer than 512 characters",
      () => sign(claims({ sub: "u".repeat(513) })),
      "token_invalid",
      '"sub" claim must be at most 512 characters',
    ],
    [
      "email longer than 512 characters",
      () => sign(claims({ email: `${"e".repeat(500)}@zyxbank.example` })),
      "token_invalid",
      '"email" claim must be 1 to 512 characters',
    ],
    [
      "an email that is blank once trimmed",
      () => sign(claims({ email: "   " })),
      "token_invalid",
      '"email" claim must be 1 to 512 characters',
    ],
    [
      "an email longer than 512 characters once lower-cased",
      () => sign(claims({ email: `${"İ".repeat(300)}@x.example` })),
      "token_invalid",
      '"email" claim must be 1 to 512 characters',
    ],
    [
      "an empty group",
      () => sign(claims({ groups: ["grp-ai-users", ""] })),
      "token_invalid",
      '"groups" claim must hold at most 512 groups of 1 to 256 characters',
    ],
    [
      "a group longer than 256 characters",
      () => sign(claims({ groups: ["g".repeat(257)] })),
      "token_invalid",
      '"groups" claim must hold at most 512 groups of 1 to 256 characters',
    ],
    [
      "more than 512 groups",
      () => sign(claims({ groups: Array.from({ length: 513 }, (_, i) => `grp-${String(i)}`) })),
      "token_invalid",
      '"groups" claim must hold at most 512 groups of 1 to 256 characters',
    ],
    [
      "act.sub longer than 200 characters",
      () => sign(claims({ act: { sub: "a".repeat(201) } })),
      "token_invalid",
      '"act.sub" claim must be at most 200 characters',
    ],
    [
      "not a JWT",
      () => Promise.resolve("not-a-jwt"),
      "token_invalid",
      "malformed token: Invalid Compact JWS",
    ],
    [
      "a header that is not JSON",
      () => Promise.resolve(`bm90LWpzb24.${b64(claims())}.c2ln`),
      "token_invalid",
      "malformed token: JWS Protected Header is invalid",
    ],
    [
      "a token longer than 16 KiB",
      () => Promise.resolve(`${"a".repeat(16_385)}.b.c`),
      "token_invalid",
      "token is too long",
    ],
  ];

  it.each(cases)("rejects %s", async (_name, make, code, message) => {
    expect(await failure(verifier().verify(await make()))).toEqual({ code, message });
  });

  it("rejects an empty token as missing", async () => {
    expect(await failure(verifier().verify(""))).toEqual({
      code: "token_missing",
      message: "no access token",
    });
  });

  it("answers 401 for token errors", async () => {
    const error = await verifier()
      .verify("not-a-jwt")
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(401);
  });
});

describe("createAccessTokenVerifier: options are checked at construction", () => {
  it.each<[string, Partial<AccessTokenVerifierOptions>, string]>([
    ["none", { algorithms: ["none"] }, '"algorithms" must not contain "none"'],
    ["HS256", { algorithms: ["ES256", "HS256"] }, 'symmetric algorithm "HS256"'],
    ["hs512", { algorithms: ["hs512"] }, 'symmetric algorithm "hs512"'],
    ["an unknown alg", { algorithms: ["XYZ"] }, 'unsupported algorithm "XYZ"'],
    ["an empty allow-list", { algorithms: [] }, '"algorithms" must be a non-empty array'],
    ["a negative tolerance", { clockToleranceSec: -1 }, '"clockToleranceSec" must be a number'],
    ["a tolerance above 120", { clockToleranceSec: 121 }, '"clockToleranceSec" must be a number'],
    ["a NaN tolerance", { clockToleranceSec: Number.NaN }, '"clockToleranceSec" must be a number'],
    ["an empty issuer", { issuer: "" }, '"issuer" must be a non-empty string'],
    ["an empty audience", { audience: " " }, '"audience" must be a non-empty string'],
    ["an empty groups claim", { groupsClaim: "" }, '"groupsClaim" must be a non-empty string'],
    ["a zero-size cache", { cache: { maxEntries: 0 } }, '"cache.maxEntries" must be an integer'],
    [
      "a private key in the key set",
      { keys: { kind: "jwks", jwks: { keys: [{ ...idp.publicJwk, d: "AAAA" }] } } },
      "must hold public keys only",
    ],
    [
      "a symmetric key in the key set",
      { keys: { kind: "jwks", jwks: { keys: [{ kty: "oct", k: "AAAA" }] } } },
      "must hold public keys only",
    ],
    ["an empty key set", { keys: { kind: "jwks", jwks: { keys: [] } } }, 'non-empty "keys" array'],
    [
      "a missing key set file",
      { keys: { kind: "file", path: "/nonexistent/idp.jwks.json" } },
      "cannot read the key set file /nonexistent/idp.jwks.json",
    ],
    [
      "a plain-http remote set on another host",
      { keys: { kind: "remote", url: new URL("http://idp.zyxbank.example/jwks") } },
      '"keys.url" must use https (or http on a loopback host)',
    ],
    [
      "a negative remote timeout",
      { keys: { kind: "remote", url: new URL("https://idp.zyxbank.example/jwks"), timeoutMs: -1 } },
      '"keys.timeoutMs" must be a non-negative integer',
    ],
  ])("throws on %s", (_name, options, message) => {
    expect(() => verifier(options)).toThrow(message);
  });

  it("accepts plain http on another host only when allowed", () => {
    const url = new URL("http://idp.dev.internal/jwks");
    expect(() => verifier({ keys: { kind: "remote", url, allowHttp: true } })).not.toThrow();
  });
});

describe("bearerToken", () => {
  it("extracts the token (scheme case-insensitive)", () => {
    expect(bearerToken("Bearer abc.def.ghi")).toBe("abc.def.ghi");
    expect(bearerToken("bearer  abc.def.ghi ")).toBe("abc.def.ghi");
  });

  it.each<[string | undefined, string]>([
    [undefined, "no Authorization header"],
    ["", "no Authorization header"],
    ["   ", "no Authorization header"],
    ["Bearer", 'Authorization header is not "Bearer <token>"'],
    ["Bearer ", 'Authorization header is not "Bearer <token>"'],
    ["Basic dXNlcjpwYXNz", 'Authorization header is not "Bearer <token>"'],
    ["Bearer a b", 'Authorization header is not "Bearer <token>"'],
    ["abc.def.ghi", 'Authorization header is not "Bearer <token>"'],
  ])("throws token_missing for %j", (header, message) => {
    expect(() => bearerToken(header)).toThrow(
      expect.objectContaining({ code: "token_missing", message }),
    );
  });
});

describe("createAccessTokenVerifier: token age (RFC 8725 §3.10)", () => {
  it("refuses an iat a year in the future, even within exp", async () => {
    const year = 365 * 86_400;
    const token = await sign(claims({ iat: T0 + year, exp: T0 + year + 900 }));
    expect(await failure(verifier().verify(token))).toEqual({
      code: "token_invalid",
      message: '"iat" claim timestamp check failed (it should be in the past)',
    });
  });

  it("accepts an iat within the clock tolerance ahead", async () => {
    const token = await sign(claims({ iat: T0 + 20 }));
    expect((await verifier().verify(token)).subject).toBe(USER);
  });

  it("refuses a token older than the maximum age, though its exp is far off", async () => {
    const token = await sign(claims({ iat: T0 - 7_200, exp: T0 + 86_400 }));
    expect(await failure(verifier({ maxTokenAgeSec: 3_600 }).verify(token))).toEqual({
      code: "token_expired",
      message: '"iat" claim timestamp check failed (too far in the past)',
    });
  });

  it("requires iat when an age is enforced, and not when it is off", async () => {
    const token = await sign(without(claims(), "iat"));
    expect((await failure(verifier().verify(token))).code).toBe("token_invalid");
    expect((await verifier({ maxTokenAgeSec: 0 }).verify(token)).subject).toBe(USER);
  });

  it("a cached token is not served once expired (exp plus the clock tolerance)", async () => {
    let now = T0;
    const cached = verifier({ now: () => now, cache: { maxEntries: 10 } });
    const token = await sign(claims({ iat: T0, exp: T0 + 120 }));
    expect((await cached.verify(token)).subject).toBe(USER);
    now = T0 + 120 + 31;
    expect((await failure(cached.verify(token))).code).toBe("token_expired");
  });

  it("the cache serves only the very token it verified: another audience, a forged twin", async () => {
    const cached = verifier({ cache: { maxEntries: 10 } });
    const token = await sign(claims());
    expect((await cached.verify(token)).subject).toBe(USER);
    // Same claims but for another service: never verified, so refused, cache or not.
    const elsewhere = await sign(claims({ aud: "another-service" }));
    expect((await failure(cached.verify(elsewhere))).code).toBe("token_invalid");
    // The cached token's header and claims with a stranger's signature: a different token.
    const [head, body] = token.split(".");
    const forged = await sign(claims(), { signer: stranger });
    const twin = `${head ?? ""}.${body ?? ""}.${forged.split(".")[2] ?? ""}`;
    expect((await failure(cached.verify(twin))).code).toBe("token_invalid");
    // And the claims changed under the cached token's signature.
    const changed = `${head ?? ""}.${b64({ ...claims(), groups: ["grp-ai-admins"] })}.${token.split(".")[2] ?? ""}`;
    expect((await failure(cached.verify(changed))).code).toBe("token_invalid");
  });

  it("a cached token is not served once it has grown too old", async () => {
    let now = T0;
    const cached = verifier({ maxTokenAgeSec: 600, now: () => now, cache: { maxEntries: 10 } });
    const token = await sign(claims({ iat: T0, exp: T0 + 3_600 }));
    expect((await cached.verify(token)).subject).toBe(USER);
    now = T0 + 700;
    expect((await failure(cached.verify(token))).code).toBe("token_expired");
  });

  it("checks the option", () => {
    expect(() => verifier({ maxTokenAgeSec: -1 })).toThrow(
      '"maxTokenAgeSec" must be an integer from 0 to 2592000',
    );
  });
});
