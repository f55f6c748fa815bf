// The synchronous signature path (common/jwt-fast.ts) behind every verifier with a local key set:
// on the same tokens it must accept exactly what jose's own jwtVerify accepts (it may only
// accept, never refuse on its own), and a good token must be verified without WebCrypto.
import { createPrivateKey, sign } from "node:crypto";
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet, type JWK } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateDevKey, publicJwk } from "../../../common/keys.ts";
import { createJwtChecker } from "../../../common/jwks.ts";

const ISSUER = "https://idp.test";
const AUDIENCE = "zyx-agent-gateway";
const TYP = "at+jwt";
const NOW = 1_779_242_400;

const es256 = await generateDevKey("ES256");
const ed25519 = await generateDevKey("EdDSA");
/** Another key under es256's kid: a forger who knows the kid. */
const impostor: JWK = { ...(await generateDevKey("ES256")), kid: es256.kid ?? "" };
const jwks: JSONWebKeySet = { keys: [publicJwk(es256), publicJwk(ed25519)] };

const options = {
  issuer: ISSUER,
  audience: AUDIENCE,
  algorithms: ["ES256", "EdDSA"],
  typ: TYP,
  clockTolerance: 30,
  requiredClaims: ["exp", "sub"],
  maxTokenAge: 86_400,
  currentDate: new Date(NOW * 1000),
};

async function mint(
  key: JWK,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const alg = key.kty === "OKP" ? "EdDSA" : "ES256";
  const { importJWK } = await import("jose");
  const payload = {
    sub: "u-1",
    groups: ["g"],
    act: { sub: "agent" },
    iss: ISSUER,
    aud: AUDIENCE,
    iat: NOW - 10,
    exp: NOW + 600,
    ...claims,
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg, kid: key.kid ?? "", typ: TYP, ...header })
    .sign(await importJWK(key, alg));
}

/** A token whose header jose will not sign (a "crit" extension), signed with es256 by hand. */
function signedByHand(header: Record<string, unknown>): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const payload = { sub: "u-1", iss: ISSUER, aud: AUDIENCE, iat: NOW - 10, exp: NOW + 600 };
  const input = `${b64(header)}.${b64(payload)}`;
  const key = createPrivateKey({ key: es256, format: "jwk" });
  const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}

/** Flip one character of a segment (0 header, 1 payload, 2 signature), keeping it base64url. */
function tamper(token: string, segment: number): string {
  const parts = token.split(".");
  const text = parts[segment] ?? "";
  const at = Math.floor(text.length / 2);
  parts[segment] = `${text.slice(0, at)}${text[at] === "A" ? "B" : "A"}${text.slice(at + 1)}`;
  return parts.join(".");
}

async function joseAlone(token: string): Promise<boolean> {
  return jwtVerify(token, createLocalJWKSet(jwks), options).then(
    () => true,
    () => false,
  );
}

const checker = createJwtChecker(
  { issuer: ISSUER, audience: AUDIENCE, keys: { kind: "jwks", jwks }, now: () => NOW },
  TYP,
  "test",
);

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the synchronous signature path for local key sets", () => {
  it("accepts exactly what jose's jwtVerify accepts, token by token", async () => {
    const good = await mint(es256);
    const cases: [string, string][] = [
      ["ES256, good", good],
      ["EdDSA, good", await mint(ed25519)],
      ["payload changed", tamper(good, 1)],
      ["signature changed", tamper(good, 2)],
      ["header changed", tamper(good, 0)],
      ["signed by another key under the same kid", await mint(impostor)],
      ["unknown kid", await mint({ ...es256, kid: "no-such-kid" })],
      [
        "a crit header",
        signedByHand({ alg: "ES256", kid: es256.kid, typ: TYP, crit: ["x"], x: 1 }),
      ],
      ["an extra header member", await mint(es256, {}, { "x-note": 1 })],
      ["another typ", await mint(es256, {}, { typ: "JWT" })],
      ["expired", await mint(es256, { exp: NOW - 3_600 })],
      ["not yet valid", await mint(es256, { nbf: NOW + 3_600 })],
      ["another audience", await mint(es256, { aud: "someone-else" })],
      ["another issuer", await mint(es256, { iss: "https://evil.test" })],
      ["no sub", await mint(es256, { sub: undefined })],
      ["signature with a trailing character", `${good}A`],
      ["signature cut", good.slice(0, -2)],
      ["alg none", `${good.split(".").slice(0, 2).join(".")}.`],
    ];
    const results = await Promise.all(
      cases.map(async ([name, token]) => [name, (await checker(token)).ok, await joseAlone(token)]),
    );
    for (const [name, ours, jose] of results) expect([name, ours]).toEqual([name, jose]);
    // The cases are not all refusals: the good tokens pass (an unknown header member is jose's
    // to accept, through its own path), everything else is refused.
    expect(results.filter(([, ours]) => ours).map(([name]) => name)).toEqual([
      "ES256, good",
      "EdDSA, good",
      "an extra header member",
    ]);
  });

  it("verifies a good token without WebCrypto, and leaves a bad one to jose", async () => {
    const subtleVerify = vi.spyOn(globalThis.crypto.subtle, "verify");
    const good = await mint(ed25519);
    expect((await checker(good)).ok).toBe(true);
    expect(subtleVerify).not.toHaveBeenCalled();
    const refused = await checker(tamper(good, 2));
    expect(refused).toMatchObject({ ok: false, reason: "token signature verification failed" });
    expect(subtleVerify).toHaveBeenCalledTimes(1);
  });
});
