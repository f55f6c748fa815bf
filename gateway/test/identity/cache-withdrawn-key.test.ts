// Review: the verified-token cache must not outlive the key that verified a token. An issuer that
// withdraws a key (compromised, rotated out) removes it from its JWKS; a token the gateway had
// verified with it before kept being served from the cache until its exp (up to iat + 24 h by
// default), so whoever held the stolen key could pre-warm the cache with long tokens and keep
// calling after the incident response.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { JSONWebKeySet, JWK } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
  generateDevKey,
  publicJwk,
} from "../../../common/keys.ts";
import { mintAccessToken, mintPostureToken } from "../../../idp/src/mint.ts";
import { createAccessTokenVerifier } from "../../src/identity/access-token.ts";
import { createPostureVerifier } from "../../src/identity/posture.ts";
import { GatewayError } from "../../src/lib/errors.ts";

const T0 = 1_779_242_400;
const USER = "engineer@zyxbank.example";
const stolen = await generateDevKey();
const fresh = await generateDevKey();

const closers: (() => void)[] = [];
afterEach(() => {
  closers.splice(0).forEach((close) => {
    close();
  });
});

/** A JWKS endpoint on 127.0.0.1 whose set the test changes; counts its requests. */
async function jwksEndpoint(initial: JSONWebKeySet) {
  let jwks = initial;
  let requests = 0;
  const server = createServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { "content-type": "application/jwk-set+json" });
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${String(port)}/jwks.json`),
    serve: (next: JSONWebKeySet) => {
      jwks = next;
    },
    requests: () => requests,
  };
}

const jwksOf = (...keys: JWK[]): JSONWebKeySet => ({ keys: keys.map(publicJwk) });

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) return error.code;
    throw error;
  }
  return "accepted";
}

/** An access token for USER signed with the stolen key, issued at `now`. */
function accessTokenSignedWithStolenKey(now: number, ttlSec: number): Promise<string> {
  return mintAccessToken({
    privateJwk: stolen,
    issuer: DEV_ISSUER,
    audience: GATEWAY_AUDIENCE,
    user: USER,
    groups: ["grp-ai-users", "grp-ai-devops-readonly"],
    agent: "change-reviewer",
    ttlSec,
    now,
  });
}

describe("a withdrawn key's tokens are not served from the verified-token cache", () => {
  it("access tokens", async () => {
    const idp = await jwksEndpoint(jwksOf(stolen));
    let now = T0;
    const { verify } = createAccessTokenVerifier({
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      // cacheMaxAgeMs 0: the set is fetched again whenever a key is looked up.
      keys: { kind: "remote", url: idp.url, cacheMaxAgeMs: 0 },
      cache: { maxEntries: 100 },
      now: () => now,
    });
    const forged = await accessTokenSignedWithStolenKey(T0, 86_400);
    expect(await code(verify(forged))).toBe("accepted"); // pre-warmed
    idp.serve(jwksOf(fresh)); // the issuer withdraws the stolen key
    now = T0 + 60;
    const another = await accessTokenSignedWithStolenKey(now, 900);
    // The gateway has the new set: a new token with the withdrawn key is refused...
    expect(await code(verify(another))).toBe("token_invalid");
    // ...and so must be the one it verified with it before.
    expect(await code(verify(forged))).toBe("token_invalid");
  });

  it("posture tokens", async () => {
    const trust = await jwksEndpoint(jwksOf(stolen));
    let now = T0;
    const { verify } = createPostureVerifier({
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      keys: { kind: "remote", url: trust.url, cacheMaxAgeMs: 0 },
      cache: { maxEntries: 100 },
      now: () => now,
    });
    const forged = await mintPostureToken({
      privateJwk: stolen,
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user: USER,
      compliant: true,
      checkedAt: T0,
      ttlSec: 86_400,
      now: T0,
    });
    expect(await code(verify(forged, USER))).toBe("accepted");
    trust.serve(jwksOf(fresh));
    now = T0 + 60;
    expect(await code(verify(forged, USER))).toBe("posture_invalid");
  });

  it("a key still in the set keeps its tokens cached, without a fetch per hit", async () => {
    const idp = await jwksEndpoint(jwksOf(stolen));
    const { verify } = createAccessTokenVerifier({
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      keys: { kind: "remote", url: idp.url },
      cache: { maxEntries: 100 },
      now: () => T0,
    });
    const token = await mintAccessToken({
      privateJwk: stolen,
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user: USER,
      groups: [],
      agent: "change-reviewer",
      ttlSec: 900,
      now: T0,
    });
    for (let i = 0; i < 3; i++) expect(await code(verify(token))).toBe("accepted");
    expect(idp.requests()).toBe(1);
  });
});
