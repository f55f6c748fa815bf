// Posture-token verification: the device-trust service's own keys, issuer and typ; the subject
// bound to the access token's; staleness left to the policy. The clock is frozen.
import { SignJWT, importJWK, type JWK, type JWTPayload } from "jose";
import { describe, expect, it } from "vitest";
import {
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
  generateDevKey,
  publicJwk,
} from "../../../common/keys.ts";
import { mintAccessToken, mintPostureToken } from "../../../idp/src/mint.ts";
import { createPostureVerifier } from "../../src/identity/posture.ts";
import type { PostureVerifierOptions } from "../../src/identity/types.ts";
import { GatewayError } from "../../src/lib/errors.ts";

const T0 = 1_779_242_400;
const USER = "engineer@zyxbank.example";
const deviceTrust = await generateDevKey();
const idp = await generateDevKey();

function verifier(extra: Partial<PostureVerifierOptions> = {}) {
  return createPostureVerifier({
    issuer: DEV_POSTURE_ISSUER,
    audience: GATEWAY_AUDIENCE,
    keys: { kind: "jwks", jwks: { keys: [publicJwk(deviceTrust)] } },
    now: () => T0,
    ...extra,
  });
}

function posture(overrides: Partial<Parameters<typeof mintPostureToken>[0]> = {}) {
  return mintPostureToken({
    privateJwk: deviceTrust,
    issuer: DEV_POSTURE_ISSUER,
    audience: GATEWAY_AUDIENCE,
    user: USER,
    compliant: true,
    checkedAt: T0 - 60,
    ttlSec: 600,
    now: T0 - 60,
    deviceId: "laptop-7731",
    ...overrides,
  });
}

/** A posture token with hand-written claims, signed by `key` (default the device-trust key). */
async function signed(claims: JWTPayload, key: JWK = deviceTrust, typ = "posture+jwt") {
  return new SignJWT({
    iss: DEV_POSTURE_ISSUER,
    aud: GATEWAY_AUDIENCE,
    sub: USER,
    iat: T0,
    exp: T0 + 600,
    ...claims,
  })
    .setProtectedHeader({ alg: "ES256", kid: key.kid ?? "", typ })
    .sign(await importJWK(key, "ES256"));
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

describe("createPostureVerifier", () => {
  it("returns subject, compliance, check time and device id", async () => {
    expect(await verifier().verify(await posture(), USER)).toStrictEqual({
      subject: USER,
      compliant: true,
      checkedAt: T0 - 60,
      deviceId: "laptop-7731",
    });
  });

  it("omits deviceId when absent and returns a non-compliant verdict as such", async () => {
    const token = await signed({ compliant: false, checked_at: T0 - 5 });
    expect(await verifier().verify(token, USER)).toStrictEqual({
      subject: USER,
      compliant: false,
      checkedAt: T0 - 5,
    });
  });

  it("does not judge staleness: a 30-day-old check in a valid JWT comes back with its checkedAt", async () => {
    const checkedAt = T0 - 30 * 86_400;
    const verified = await verifier().verify(await posture({ checkedAt }), USER);
    expect(verified.checkedAt).toBe(checkedAt);
  });

  it("rejects a posture token for another subject", async () => {
    const token = await posture({ user: "someone.else@zyxbank.example" });
    expect(await failure(verifier().verify(token, USER))).toEqual({
      code: "posture_subject_mismatch",
      message: "posture token is for another subject than the access token",
    });
  });

  it.each([undefined, ""])("rejects a missing token (%j)", async (token) => {
    expect(await failure(verifier().verify(token, USER))).toEqual({
      code: "posture_missing",
      message: "no device posture token",
    });
  });

  const invalid: [string, () => Promise<string>, string][] = [
    [
      "signed by the wrong key (the identity provider's)",
      () => posture({ privateJwk: idp }),
      'no key in the key set matches the token (unknown "kid")',
    ],
    [
      "the access token offered as the posture token",
      () =>
        mintAccessToken({
          privateJwk: idp,
          issuer: DEV_ISSUER,
          audience: GATEWAY_AUDIENCE,
          user: USER,
          groups: ["grp-ai-users"],
          agent: "change-reviewer",
          ttlSec: 900,
          now: T0,
        }),
      'no key in the key set matches the token (unknown "kid")',
    ],
    [
      "an at+jwt token signed with the device-trust key",
      () => signed({ compliant: true, checked_at: T0 }, deviceTrust, "at+jwt"),
      'unexpected "typ" header value (expected "posture+jwt")',
    ],
    ["another issuer", () => posture({ issuer: DEV_ISSUER }), 'unexpected "iss" claim value'],
    [
      "another audience",
      () => posture({ audience: "zyx-payments-api" }),
      'unexpected "aud" claim value',
    ],
    [
      "an expired posture JWT",
      () => posture({ now: T0 - 700, ttlSec: 600, checkedAt: T0 - 700 }),
      "token has expired (exp)",
    ],
    ["no compliant claim", () => signed({ checked_at: T0 }), 'missing "compliant" claim'],
    [
      "compliant not a boolean",
      () => signed({ compliant: "true", checked_at: T0 }),
      '"compliant" claim must be a boolean',
    ],
    ["no checked_at claim", () => signed({ compliant: true }), 'missing "checked_at" claim'],
    [
      "checked_at not a number",
      () => signed({ compliant: true, checked_at: "2026-05-20T10:00:00Z" }),
      '"checked_at" claim must be a NumericDate (epoch seconds)',
    ],
    [
      "checked_at in the future",
      () => signed({ compliant: true, checked_at: T0 + 3600 }),
      '"checked_at" claim is in the future',
    ],
    [
      "device_id not a string",
      () => signed({ compliant: true, checked_at: T0, device_id: 7731 }),
      '"device_id" claim must be a string',
    ],
    ["not a JWT", () => Promise.resolve("garbage"), "malformed token: Invalid Compact JWS"],
  ];

  it.each(invalid)("rejects %s as posture_invalid", async (_name, make, reason) => {
    expect(await failure(verifier().verify(await make(), USER))).toEqual({
      code: "posture_invalid",
      message: `posture token rejected: ${reason}`,
    });
  });

  it("checks its options at construction", () => {
    expect(() => verifier({ algorithms: ["HS256"] })).toThrow('symmetric algorithm "HS256"');
    expect(() => verifier({ algorithms: ["none"] })).toThrow('must not contain "none"');
    expect(() => verifier({ clockToleranceSec: 500 })).toThrow('"clockToleranceSec"');
  });
});

describe("posture verifier cache", () => {
  it("still binds a cached posture to the access token's subject", async () => {
    const v = verifier({ cache: { maxEntries: 10 } });
    const token = await posture();
    await expect(v.verify(token, USER)).resolves.toMatchObject({ subject: USER });
    await expect(v.verify(token, "other@zyxbank.example")).rejects.toMatchObject({
      code: "posture_subject_mismatch",
      message: "posture token is for another subject than the access token",
    });
  });

  it("forgets a cached posture at the token's expiry", async () => {
    let now = T0;
    const v = verifier({ cache: { maxEntries: 10 }, now: () => now });
    const token = await posture(); // exp = T0 - 60 + 600
    await expect(v.verify(token, USER)).resolves.toMatchObject({ compliant: true });
    now = T0 + 600;
    await expect(v.verify(token, USER)).rejects.toMatchObject({ code: "posture_invalid" });
  });

  it("forgets a cached posture once it is older than maxTokenAgeSec, as the uncached path refuses it", async () => {
    let now = T0;
    const options = { maxTokenAgeSec: 100, now: () => now };
    const cached = verifier({ ...options, cache: { maxEntries: 10 } });
    const uncached = verifier(options);
    const token = await posture({ ttlSec: 3_600 }); // iat = T0 - 60, exp an hour later
    await expect(cached.verify(token, USER)).resolves.toMatchObject({ compliant: true });
    now = T0 + 500;
    await expect(uncached.verify(token, USER)).rejects.toMatchObject({ code: "posture_invalid" });
    await expect(cached.verify(token, USER)).rejects.toMatchObject({ code: "posture_invalid" });
  });

  it("a new posture token is verified on its own: a device that fell out of compliance shows", async () => {
    const v = verifier({ cache: { maxEntries: 10 } });
    await expect(v.verify(await posture(), USER)).resolves.toMatchObject({ compliant: true });
    const now = await posture({ compliant: false, checkedAt: T0 - 10 });
    await expect(v.verify(now, USER)).resolves.toMatchObject({ compliant: false });
  });

  it("refuses a cache bound out of range at construction", () => {
    expect(() => verifier({ cache: { maxEntries: 0 } })).toThrow(
      '"cache.maxEntries" must be an integer from 1 to 1000000',
    );
  });
});
