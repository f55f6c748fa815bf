// The worker's synchronous JWT check against jose, its reference: every case has a hand-written
// expected outcome, and jose's jwtVerify (same keys, same options) must never refuse what it
// accepts, over generated headers, claims and clocks. Tokens are built here with node:crypto,
// not by the code under test.
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import fc from "fast-check";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import {
  CompactJwtError,
  createCompactJwtVerifier,
  type JwsAlgorithm,
  type CompactJwtErrorCode,
} from "../compact-jwt.ts";

const ISSUER = "zyx-agent-gateway";
const AUDIENCE = "zyx-agent-worker";
const TYP = "call+jwt";
const NOW = 1_795_000_000;
const TOLERANCE = 2;
const MAX_AGE = 30;

interface SigningKey {
  alg: JwsAlgorithm;
  kid: string;
  privateKey: KeyObject;
  publicJwk: JWK;
}

function signingKey(alg: JwsAlgorithm, kid: string): SigningKey {
  const pair =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : generateKeyPairSync("ed25519");
  return {
    alg,
    kid,
    privateKey: pair.privateKey,
    publicJwk: { ...pair.publicKey.export({ format: "jwk" }), kid },
  };
}

const KEYS = { ES256: signingKey("ES256", "gw-ec"), EdDSA: signingKey("EdDSA", "gw-ed") };
/** Keys an attacker holds, under the gateway's kids. */
const FORGED = { ES256: signingKey("ES256", "gw-ec"), EdDSA: signingKey("EdDSA", "gw-ed") };
const JWKS: JSONWebKeySet = { keys: [KEYS.ES256.publicJwk, KEYS.EdDSA.publicJwk] };

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value), "utf8").toString(
    "base64url",
  );

function signature(key: SigningKey, input: string, encoding: "raw" | "der" = "raw"): string {
  const data = Buffer.from(input, "ascii");
  const bytes =
    key.alg === "ES256"
      ? sign("sha256", data, {
          key: key.privateKey,
          dsaEncoding: encoding === "raw" ? "ieee-p1363" : "der",
        })
      : sign(null, data, key.privateKey);
  return bytes.toString("base64url");
}

interface Build {
  key?: SigningKey;
  signer?: SigningKey;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  drop?: readonly string[];
}

function claimsFor(overrides: Record<string, unknown> = {}, drop: readonly string[] = []) {
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "u-engineer",
    jti: "jti-1",
    iat: NOW,
    exp: NOW + 30,
    ...overrides,
  };
  for (const name of drop) Reflect.deleteProperty(claims, name);
  return claims;
}

function build(options: Build = {}): string {
  const key = options.key ?? KEYS.EdDSA;
  const header = { alg: key.alg, kid: key.kid, typ: TYP, ...options.header };
  const input = `${b64(header)}.${b64(claimsFor(options.claims, options.drop))}`;
  return `${input}.${signature(options.signer ?? key, input)}`;
}

/** The last character of `part` with its unused low bits set: the same bytes to a lenient decoder. */
function spareBits(part: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const spare = part.length % 4 === 2 ? 0b1111 : 0b11;
  return alphabet[alphabet.indexOf(part.at(-1) ?? "A") | spare] ?? "";
}

/** `usual` most of the time, else anything `other` generates. */
function mostly<T>(usual: T, other: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: fc.constant(usual), weight: 4 }, { arbitrary: other, weight: 1 });
}

/** Any value a claim might hold, well- or ill-formed. */
const claimValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: NOW - 80, max: NOW + 80 }),
  fc.double({ min: NOW - 80, max: NOW + 80, noNaN: true }),
  fc.constantFrom(ISSUER, AUDIENCE, "x", null, [AUDIENCE], ["x", AUDIENCE], [], {}),
);

/** The options of every verifier here but its key set. */
const RULES = {
  algorithms: ["ES256", "EdDSA"] as const,
  typ: TYP,
  issuer: ISSUER,
  audience: AUDIENCE,
  clockToleranceSec: TOLERANCE,
  maxTokenAgeSec: MAX_AGE,
  requiredClaims: ["exp", "iat"],
};
const verifier = createCompactJwtVerifier({ ...RULES, jwks: JWKS });
const joseKeys = createLocalJWKSet(JWKS);

function ours(token: string, now = NOW): "accepted" | CompactJwtErrorCode {
  try {
    verifier.verify(token, now);
    return "accepted";
  } catch (error) {
    if (error instanceof CompactJwtError) return error.code;
    throw error;
  }
}

async function joseAccepts(token: string, now = NOW): Promise<boolean> {
  try {
    // The verifier's own options, in jose's words: the comparison cannot drift from them.
    await jwtVerify(token, joseKeys, {
      algorithms: [...RULES.algorithms],
      typ: RULES.typ,
      issuer: RULES.issuer,
      audience: RULES.audience,
      clockTolerance: RULES.clockToleranceSec,
      maxTokenAge: RULES.maxTokenAgeSec,
      currentDate: new Date(now * 1000),
      requiredClaims: RULES.requiredClaims,
    });
    return true;
  } catch {
    return false;
  }
}

/** Our outcome, after checking that jose accepts whatever we accept. */
async function outcome(token: string, now = NOW): Promise<"accepted" | CompactJwtErrorCode> {
  const result = ours(token, now);
  if (result === "accepted") expect(await joseAccepts(token, now)).toBe(true);
  return result;
}

describe.each(["ES256", "EdDSA"] as const)("compact JWT verifier, %s", (alg) => {
  const key = KEYS[alg];
  const other = KEYS[alg === "ES256" ? "EdDSA" : "ES256"];

  it("accepts a genuine token, as jose does, and returns its header and claims", async () => {
    const token = build({ key });
    expect(await outcome(token)).toBe("accepted");
    expect(verifier.verify(token, NOW)).toEqual({
      header: { alg, kid: key.kid, typ: TYP },
      payload: claimsFor(),
    });
  });

  it.each<[string, Build, CompactJwtErrorCode]>([
    ['alg "none"', { header: { alg: "none" } }, "alg_not_allowed"],
    ["HS256", { header: { alg: "HS256" } }, "alg_not_allowed"],
    ["RS256", { header: { alg: "RS256" } }, "alg_not_allowed"],
    ["no alg", { header: { alg: undefined } }, "malformed"],
    ["no kid", { header: { kid: undefined } }, "unknown_kid"],
    ["an unknown kid", { header: { kid: "someone" } }, "unknown_kid"],
    ["typ JWT", { header: { typ: "JWT" } }, "typ_invalid"],
    ["no typ", { header: { typ: undefined } }, "typ_invalid"],
    ["a crit header", { header: { crit: ["b64"], b64: false } }, "malformed"],
    ["a wrong issuer", { claims: { iss: "someone" } }, "claim_invalid"],
    ["no issuer", { drop: ["iss"] }, "claim_invalid"],
    ["a wrong audience", { claims: { aud: "zyx-other" } }, "claim_invalid"],
    ["an audience list without us", { claims: { aud: ["a", "b"] } }, "claim_invalid"],
    ["no exp", { drop: ["exp"] }, "claim_invalid"],
    ["no iat", { drop: ["iat"] }, "claim_invalid"],
    ["a string exp", { claims: { exp: String(NOW + 30) } }, "claim_invalid"],
    ["a string nbf", { claims: { nbf: String(NOW) } }, "claim_invalid"],
    ["exp at now - tolerance", { claims: { exp: NOW - TOLERANCE } }, "expired"],
    ["iat too old", { claims: { iat: NOW - MAX_AGE - TOLERANCE - 1 } }, "too_old"],
    ["iat from the future", { claims: { iat: NOW + TOLERANCE + 1 } }, "claim_invalid"],
    ["nbf beyond the tolerance", { claims: { nbf: NOW + TOLERANCE + 1 } }, "not_yet_valid"],
  ])("refuses %s", async (_label, options, code) => {
    expect(await outcome(build({ key, ...options }))).toBe(code);
  });

  it.each<[string, Build]>([
    ["an audience list with us", { claims: { aud: ["x", AUDIENCE] } }],
    ["exp just inside the tolerance", { claims: { exp: NOW - TOLERANCE + 1 } }],
    ["iat at the oldest accepted age", { claims: { iat: NOW - MAX_AGE - TOLERANCE } }],
    ["iat at the tolerance in the future", { claims: { iat: NOW + TOLERANCE } }],
    ["nbf at the tolerance", { claims: { nbf: NOW + TOLERANCE } }],
    ["typ in another case, with its media type", { header: { typ: "application/CALL+JWT" } }],
  ])("accepts %s, as jose does", async (_label, options) => {
    expect(await outcome(build({ key, ...options }))).toBe("accepted");
  });

  it("refuses a signature by another key under our kid, and the other algorithm's key", async () => {
    expect(await outcome(build({ key, signer: FORGED[alg] }))).toBe("signature_invalid");
    // The header names our kid for this algorithm but claims the other algorithm.
    expect(await outcome(build({ key, header: { alg: other.alg } }))).toBe("key_unusable");
  });

  it("refuses a tampered payload, a cut or empty signature, and broken structure", async () => {
    const [header = "", payload = "", sig = ""] = build({ key }).split(".");
    const forged = b64(claimsFor({ sub: "u-admin" }));
    expect(await outcome(`${header}.${forged}.${sig}`)).toBe("signature_invalid");
    const cut = Buffer.from(sig, "base64url").subarray(0, -3).toString("base64url");
    expect(await outcome(`${header}.${payload}.${cut}`)).toBe("signature_invalid");
    expect(await outcome(`${header}.${payload}.`)).toBe("malformed");
    // Not UTF-8: jose refuses it, and so must this check (never a replacement character).
    const latin1 = Buffer.from(JSON.stringify(claimsFor({ sub: "u-\u00e9" })), "latin1");
    const input = `${header}.${latin1.toString("base64url")}`;
    expect(await outcome(`${input}.${signature(key, input)}`)).toBe("malformed");
    expect(await outcome(`${header}.${payload}`)).toBe("malformed");
    expect(await outcome(`${header}.${payload}.${sig}.`)).toBe("malformed");
    expect(await outcome(`${header}.${payload}.${sig}=`)).toBe("malformed");
    expect(await outcome(` ${header}.${payload}.${sig}`)).toBe("malformed");
    // Over 16 KiB, though well-formed and genuinely signed.
    expect(await outcome(build({ key, claims: { pad: "x".repeat(16_384) } }))).toBe("malformed");
    // One token, one spelling: a character more (which Buffer may drop) in any part, and a
    // last character with non-zero spare bits, are refused.
    for (const part of [0, 1, 2]) {
      const parts = build({ key }).split(".");
      parts[part] = `${parts[part] ?? ""}A`;
      expect(await outcome(parts.join("."))).not.toBe("accepted");
    }
    expect(await outcome(`${header}.${payload}.${sig.slice(0, -1)}${spareBits(sig)}`)).toBe(
      "malformed",
    );
    // A signature one byte too long.
    const long = Buffer.concat([Buffer.from(sig, "base64url"), Buffer.alloc(1)]);
    expect(await outcome(`${header}.${payload}.${long.toString("base64url")}`)).toBe(
      "signature_invalid",
    );
  });

  it("refuses an exp that never comes (1e999 parses to Infinity), which jose would take", () => {
    const text = JSON.stringify(claimsFor()).replace(`"exp":${String(NOW + 30)}`, '"exp":1e999');
    expect(text).toContain('"exp":1e999');
    const input = `${b64({ alg, kid: key.kid, typ: TYP })}.${b64(text)}`;
    expect(ours(`${input}.${signature(key, input)}`)).toBe("claim_invalid");
  });

  it("refuses a header or payload that is not a JSON object", async () => {
    for (const [headerPart, payloadPart] of [
      [b64("not json"), b64(claimsFor())],
      [b64([{ alg, kid: key.kid, typ: TYP }]), b64(claimsFor())],
      [b64({ alg, kid: key.kid, typ: TYP }), b64([claimsFor()])],
      [b64({ alg, kid: key.kid, typ: TYP }), b64("null")],
    ] as const) {
      const input = `${headerPart}.${payloadPart}`;
      expect(await outcome(`${input}.${signature(key, input)}`)).toBe("malformed");
    }
  });

  it("agrees with jose over arbitrary claims, headers and clocks (never accepts more)", async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          iss: mostly(ISSUER, claimValue),
          aud: mostly(AUDIENCE, claimValue),
          exp: mostly(NOW + 30, claimValue),
          iat: mostly(NOW, claimValue),
          nbf: mostly(undefined, claimValue),
        }),
        fc.record({
          alg: mostly<unknown>(alg, fc.constantFrom(other.alg, "none", "HS256", undefined)),
          kid: mostly<unknown>(key.kid, fc.constantFrom(other.kid, "x", undefined, 1)),
          typ: mostly<unknown>(TYP, fc.constantFrom("CALL+JWT", "application/call+jwt", "JWT")),
        }),
        mostly(NOW, fc.integer({ min: NOW - 60, max: NOW + 60 })),
        async (claims, header, now) => {
          const token = build({ key, header, claims });
          const ok = ours(token, now) === "accepted";
          if (ok) accepted += 1;
          if (ok) expect(await joseAccepts(token, now)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
    // The property saw both verdicts: it could have failed.
    expect(accepted).toBeGreaterThan(10);
    expect(accepted).toBeLessThan(390);
  });
});

describe("compact JWT verifier, ES256 encodings", () => {
  it("refuses a DER-encoded ES256 signature (JWS signatures are raw r||s)", async () => {
    const key = KEYS.ES256;
    const input = `${b64({ alg: "ES256", kid: key.kid, typ: TYP })}.${b64(claimsFor())}`;
    expect(await outcome(`${input}.${signature(key, input, "der")}`)).toBe("signature_invalid");
  });
});

describe("compact JWT verifier construction", () => {
  const create =
    (keys: JWK[], extra: object = {}) =>
    () =>
      createCompactJwtVerifier({ ...RULES, jwks: { keys }, ...extra });

  it("refuses key sets a call token could be forged or confused under", () => {
    const privateJwk = { ...KEYS.EdDSA.privateKey.export({ format: "jwk" }), kid: "p" };
    expect(create([])).toThrow("jwks must hold at least one key");
    expect(create([privateJwk])).toThrow("jwks must hold public keys only (a key has `d`)");
    expect(create([{ kty: "oct", k: "c2VjcmV0", kid: "h" }])).toThrow(
      "jwks keys must be EC P-256 or OKP Ed25519",
    );
    const { kid: _kid, ...withoutKid } = KEYS.EdDSA.publicJwk;
    expect(create([withoutKid])).toThrow("every jwks key needs a kid");
    expect(create([KEYS.EdDSA.publicJwk, { ...KEYS.ES256.publicJwk, kid: "gw-ed" }])).toThrow(
      'jwks kid "gw-ed" is not unique',
    );
    expect(create([{ ...KEYS.EdDSA.publicJwk, alg: "ES256" }])).toThrow(
      'jwks key "gw-ed" says alg ES256, its type is EdDSA',
    );
    expect(create([{ ...KEYS.EdDSA.publicJwk, key_ops: ["sign"] }])).toThrow(
      'jwks key "gw-ed" is not for verifying (key_ops)',
    );
    expect(create([{ ...KEYS.EdDSA.publicJwk, use: "enc" }])).toThrow(
      'jwks key "gw-ed" is not a signing key (use enc)',
    );
  });

  it("refuses empty names, and negative or non-numeric seconds", () => {
    const keys = [KEYS.EdDSA.publicJwk];
    expect(create(keys, { issuer: "" })).toThrow("issuer must be a non-empty string");
    expect(create(keys, { algorithms: [] })).toThrow("algorithms must not be empty");
    expect(create(keys, { clockToleranceSec: -1 })).toThrow(RangeError);
    expect(create(keys, { maxTokenAgeSec: Number.NaN })).toThrow(RangeError);
  });
});
