// Key sets: a remote JWKS served by a real HTTP server on 127.0.0.1 (fetch, rotation, cooldown,
// outage), a JWKS file, and the verified-token cache (observed through the JWKS fetch count).
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Jose from "jose";
import type { JSONWebKeySet, JWK } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
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
import type { AccessTokenVerifierOptions, KeySource } from "../../src/identity/types.ts";
import { GatewayError } from "../../src/lib/errors.ts";

// Every signature check the verifiers make, counted: a cache hit is a verification not made.
const verifications = vi.hoisted(() => ({ count: 0 }));
vi.mock("jose", async (importOriginal) => {
  const jose = await importOriginal<typeof Jose>();
  return {
    ...jose,
    jwtVerify: (...args: Parameters<typeof jose.jwtVerify>) => {
      verifications.count += 1;
      return jose.jwtVerify(...args);
    },
  };
});

const T0 = 1_779_242_400;
const USER = "engineer@zyxbank.example";
const keyA = await generateDevKey();
const keyB = await generateDevKey();

const jwksOf = (...keys: JWK[]): JSONWebKeySet => ({ keys: keys.map(publicJwk) });

interface JwksServer {
  url: URL;
  /** Requests received so far. */
  readonly requests: number;
  /** What the next requests get. */
  respond: (handler: (req: IncomingMessage, res: ServerResponse) => void) => void;
  serve: (jwks: JSONWebKeySet) => void;
  close: () => Promise<void>;
}

const servers: JwksServer[] = [];

async function jwksServer(initial: JSONWebKeySet): Promise<JwksServer> {
  let requests = 0;
  let handler = (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { "content-type": "application/jwk-set+json" });
    res.end(JSON.stringify(initial));
  };
  const server = createServer((req, res) => {
    requests += 1;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const jwksServer: JwksServer = {
    url: new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`),
    get requests() {
      return requests;
    },
    respond: (next) => {
      handler = next;
    },
    serve: (jwks) => {
      handler = (_req, res) => {
        res.writeHead(200, { "content-type": "application/jwk-set+json" });
        res.end(JSON.stringify(jwks));
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
  servers.push(jwksServer);
  return jwksServer;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function access(privateJwk: JWK, overrides: { user?: string; now?: number; ttlSec?: number } = {}) {
  return mintAccessToken({
    privateJwk,
    issuer: DEV_ISSUER,
    audience: GATEWAY_AUDIENCE,
    user: overrides.user ?? USER,
    groups: ["grp-ai-users"],
    agent: "change-reviewer",
    ttlSec: overrides.ttlSec ?? 900,
    now: overrides.now ?? T0,
  });
}

function verifier(keys: KeySource, extra: Partial<AccessTokenVerifierOptions> = {}) {
  return createAccessTokenVerifier({
    issuer: DEV_ISSUER,
    audience: GATEWAY_AUDIENCE,
    keys,
    now: () => T0,
    ...extra,
  });
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ code: string; status: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) {
      return { code: error.code, status: error.status, message: error.message };
    }
    throw error;
  }
  throw new Error("expected a rejection");
}

describe("remote key set", () => {
  it("fetches the JWKS once and verifies tokens with it", async () => {
    const server = await jwksServer(jwksOf(keyA));
    const { verify } = verifier({ kind: "remote", url: server.url });
    expect((await verify(await access(keyA))).subject).toBe(USER);
    expect((await verify(await access(keyA, { user: "other@zyxbank.example" }))).subject).toBe(
      "other@zyxbank.example",
    );
    expect(server.requests).toBe(1);
  });

  it("follows a key rotation: a token with a new kid makes it refetch the set", async () => {
    const server = await jwksServer(jwksOf(keyA));
    const { verify } = verifier({ kind: "remote", url: server.url, cooldownMs: 0 });
    await verify(await access(keyA));
    server.serve(jwksOf(keyB));
    expect((await verify(await access(keyB))).subject).toBe(USER);
    expect(server.requests).toBe(2);
    // The retired key is gone from the set: its tokens no longer verify.
    expect(await failure(verify(await access(keyA)))).toEqual({
      code: "token_invalid",
      status: 401,
      message: 'no key in the key set matches the token (unknown "kid")',
    });
  });

  it("does not refetch for unknown kids during the cooldown", async () => {
    const server = await jwksServer(jwksOf(keyA));
    const { verify } = verifier({ kind: "remote", url: server.url });
    await verify(await access(keyA));
    server.serve(jwksOf(keyA, keyB));
    expect(await failure(verify(await access(keyB)))).toEqual({
      code: "token_invalid",
      status: 401,
      message: 'no key in the key set matches the token (unknown "kid")',
    });
    expect(server.requests).toBe(1);
  });

  it("answers identity_provider_unavailable when the server is unreachable", async () => {
    const server = await jwksServer(jwksOf(keyA));
    await server.close();
    const { verify } = verifier({ kind: "remote", url: server.url });
    expect(await failure(verify(await access(keyA)))).toEqual({
      code: "identity_provider_unavailable",
      status: 503,
      message: `cannot load the identity provider key set from ${server.url.href}: fetch failed (ECONNREFUSED)`,
    });
  });

  it("answers identity_provider_unavailable when the server does not answer in time", async () => {
    const server = await jwksServer(jwksOf(keyA));
    server.respond(() => undefined);
    const { verify } = verifier({ kind: "remote", url: server.url, timeoutMs: 100 });
    expect(await failure(verify(await access(keyA)))).toEqual({
      code: "identity_provider_unavailable",
      status: 503,
      message: `cannot load the identity provider key set from ${server.url.href}: request timed out`,
    });
  });

  it.each<[string, (res: ServerResponse) => void, string]>([
    [
      "an HTTP error",
      (res) => res.writeHead(500).end("oops"),
      "Expected 200 OK from the JSON Web Key Set HTTP response",
    ],
    [
      "a body that is not JSON",
      (res) => res.writeHead(200).end("<html>"),
      "Failed to parse the JSON Web Key Set HTTP response as JSON",
    ],
    [
      "JSON that is not a key set",
      (res) => res.writeHead(200).end('{"keys": "none"}'),
      "JSON Web Key Set malformed",
    ],
  ])("answers identity_provider_unavailable on %s", async (_name, respond, detail) => {
    const server = await jwksServer(jwksOf(keyA));
    server.respond((_req, res) => {
      respond(res);
    });
    const { verify } = verifier({ kind: "remote", url: server.url });
    expect(await failure(verify(await access(keyA)))).toEqual({
      code: "identity_provider_unavailable",
      status: 503,
      message: `cannot load the identity provider key set from ${server.url.href}: ${detail}`,
    });
  });

  it("recovers once the identity provider is back", async () => {
    const server = await jwksServer(jwksOf(keyA));
    server.respond((_req, res) => res.writeHead(503).end());
    const { verify } = verifier({ kind: "remote", url: server.url });
    const token = await access(keyA);
    expect((await failure(verify(token))).code).toBe("identity_provider_unavailable");
    server.serve(jwksOf(keyA));
    expect((await verify(token)).subject).toBe(USER);
  });

  it("answers identity_provider_unavailable for the device-trust key set too", async () => {
    const server = await jwksServer(jwksOf(keyA));
    await server.close();
    const posture = createPostureVerifier({
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      keys: { kind: "remote", url: server.url },
      now: () => T0,
    });
    const token = await mintPostureToken({
      privateJwk: keyA,
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user: USER,
      compliant: true,
      checkedAt: T0,
      ttlSec: 600,
      now: T0,
    });
    expect(await failure(posture.verify(token, USER))).toEqual({
      code: "identity_provider_unavailable",
      status: 503,
      message: `cannot load the device-trust key set from ${server.url.href}: fetch failed (ECONNREFUSED)`,
    });
  });
});

describe("key set file", () => {
  it("is read once, at construction", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "zyx-jwks-")), "idp.jwks.json");
    writeFileSync(path, JSON.stringify(jwksOf(keyA)));
    const { verify } = verifier({ kind: "file", path });
    writeFileSync(path, JSON.stringify(jwksOf(keyB)));
    expect((await verify(await access(keyA))).subject).toBe(USER);
    expect((await failure(verify(await access(keyB)))).code).toBe("token_invalid");
  });

  it("must hold valid JSON", () => {
    const path = join(mkdtempSync(join(tmpdir(), "zyx-jwks-")), "idp.jwks.json");
    writeFileSync(path, "{ not json");
    expect(() => verifier({ kind: "file", path })).toThrow(
      `key set file ${path} is not valid JSON`,
    );
  });
});

describe("verified-token cache", () => {
  // `server.requests` here counts the signature checks made (jose's jwtVerify), not fetches: a
  // cache hit is a verification not made (a hit still asks the key set, fresh for 10 minutes,
  // whether the key that verified the token is still there).
  async function setup(maxEntries: number) {
    const jwks = await jwksServer(jwksOf(keyA));
    let now = T0;
    const { verify } = verifier(
      { kind: "remote", url: jwks.url },
      { cache: { maxEntries }, now: () => now },
    );
    const start = verifications.count;
    const server = {
      get requests() {
        return verifications.count - start;
      },
    };
    return {
      server,
      verify,
      setNow: (value: number) => {
        now = value;
      },
    };
  }

  it("serves a verified token again without verifying it, as an unshared copy", async () => {
    const { server, verify } = await setup(10);
    const token = await access(keyA);
    const first = await verify(token);
    first.groups.push("grp-ai-admins");
    const second = await verify(token);
    expect(server.requests).toBe(1);
    expect(second).toStrictEqual({ ...first, groups: ["grp-ai-users"] });
  });

  it("drops an entry at the token's exp", async () => {
    const { server, verify, setNow } = await setup(10);
    const token = await access(keyA, { ttlSec: 60 });
    await verify(token);
    setNow(T0 + 59);
    await verify(token);
    expect(server.requests).toBe(1);
    setNow(T0 + 60); // expired for the cache; still inside jose's 30 s tolerance
    await verify(token);
    expect(server.requests).toBe(2);
    setNow(T0 + 91);
    expect(await failure(verify(token))).toEqual({
      code: "token_expired",
      status: 401,
      message: "token has expired (exp)",
    });
  });

  it("evicts the least recently used entry beyond maxEntries", async () => {
    const { server, verify } = await setup(2);
    const [a, b, c] = await Promise.all(
      ["a@zyxbank.example", "b@zyxbank.example", "c@zyxbank.example"].map((user) =>
        access(keyA, { user }),
      ),
    );
    if (a === undefined || b === undefined || c === undefined) throw new Error("no tokens");
    await verify(a);
    await verify(b);
    await verify(a); // hit: a becomes the most recently used
    expect(server.requests).toBe(2);
    await verify(c); // evicts b
    expect(server.requests).toBe(3);
    await verify(a);
    expect(server.requests).toBe(3);
    await verify(b);
    expect(server.requests).toBe(4);
  });

  it("does not remember rejected tokens", async () => {
    const { server, verify } = await setup(10);
    const token = await mintAccessToken({
      privateJwk: keyA,
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user: USER,
      groups: [],
      ttlSec: 900,
      now: T0,
    });
    expect((await failure(verify(token))).code).toBe("token_agent_missing");
    expect((await failure(verify(token))).code).toBe("token_agent_missing");
    expect(server.requests).toBe(2);
  });
});
