// The token exchange against the real development identity provider (its Hono app, in process,
// clock frozen): the runtime's request is what RFC 8693 and RFC 6749 want, the token it gets
// back names the engineer and this agent, and each refusal becomes the runtime's error.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { hashClientSecret } from "../../../idp/src/clients.ts";
import {
  CHANGE_REVIEW_AUDIENCE,
  DEV_ISSUER,
  GATEWAY_AUDIENCE,
  generateDevKey,
} from "../../../common/keys.ts";
import { mintAccessToken } from "../../../idp/src/mint.ts";
import { createDevIdpApp } from "../../../idp/src/server.ts";
import { createDelegation, REUSE_MARGIN_SEC, secretFromFile } from "../src/delegation.ts";

const T0 = 1_779_242_400;
const USER = "engineer@zyxbank.example";
const GROUPS = ["grp-ai-users", "grp-ai-devops-readonly"];
const AGENT = "change-reviewer";
// A secret with characters that Basic credentials must form-encode.
const SECRET = "s3cret:with spaces+and%signs";

const idpKey = await generateDevKey();
const idp = createDevIdpApp({
  keys: idpKey,
  issuer: DEV_ISSUER,
  clients: [{ client_id: AGENT, agent: AGENT, secret: await hashClientSecret(SECRET) }],
  agents: [AGENT],
  engineerAudience: CHANGE_REVIEW_AUDIENCE,
  gatewayAudience: GATEWAY_AUDIENCE,
  maxTtlSec: 300,
  now: () => T0,
});

interface Seen {
  authorization: string | null;
  contentType: string | null;
  form: URLSearchParams;
}

/** The identity provider behind a fetch that records each request. */
function idpFetch(seen: Seen[] = []): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    seen.push({
      authorization: request.headers.get("authorization"),
      contentType: request.headers.get("content-type"),
      form: new URLSearchParams(await request.clone().text()),
    });
    return idp.fetch(request);
  };
}

function delegation(options: { secret?: string; fetch?: typeof fetch } = {}) {
  return createDelegation({
    tokenUrl: "http://idp.test/oauth/token",
    clientId: AGENT,
    clientSecret: () => Promise.resolve(options.secret ?? SECRET),
    audience: GATEWAY_AUDIENCE,
    fetch: options.fetch ?? idpFetch(),
  });
}

function engineerToken(overrides: Partial<Parameters<typeof mintAccessToken>[0]> = {}) {
  return mintAccessToken({
    privateJwk: idpKey,
    issuer: DEV_ISSUER,
    audience: CHANGE_REVIEW_AUDIENCE,
    user: USER,
    groups: GROUPS,
    ttlSec: 900,
    now: T0,
    ...overrides,
  });
}

describe("createDelegation", () => {
  it("exchanges the engineer's token for one that names the engineer and the agent", async () => {
    const seen: Seen[] = [];
    const subject = await engineerToken();
    const token = await delegation({ fetch: idpFetch(seen) }).exchange(subject);
    expect(decodeJwt(token)).toMatchObject({
      iss: DEV_ISSUER,
      aud: GATEWAY_AUDIENCE,
      sub: USER,
      email: USER,
      groups: GROUPS,
      act: { sub: AGENT },
      client_id: AGENT,
      exp: T0 + 300,
    });
    // The wire format: form-encoded, client_secret_basic with form-encoded credentials.
    expect(seen).toHaveLength(1);
    expect(seen[0]?.contentType).toBe("application/x-www-form-urlencoded");
    const basic = Buffer.from((seen[0]?.authorization ?? "").replace(/^Basic /, ""), "base64");
    expect(basic.toString()).toBe("change-reviewer:s3cret%3Awith+spaces%2Band%25signs");
    expect(Object.fromEntries(seen[0]?.form ?? [])).toEqual({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: subject,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      audience: GATEWAY_AUDIENCE,
    });
  });

  it("is refused for a token that is not the engineer's own (invalid_grant)", async () => {
    const agentToken = await engineerToken({ agent: "change-remediator" });
    await expect(delegation().exchange(agentToken)).rejects.toMatchObject({
      code: "delegation_refused",
      status: 403,
      message:
        "the identity provider refused to let the agent act for you: " +
        'subject_token already carries "act": delegation chains are not supported',
      extensions: { oauth_error: "invalid_grant" },
    });
  });

  it("is refused for an expired token", async () => {
    const expired = await engineerToken({ now: T0 - 1_000, ttlSec: 900 });
    await expect(delegation().exchange(expired)).rejects.toMatchObject({
      code: "delegation_refused",
      extensions: { oauth_error: "invalid_grant" },
    });
  });

  it("fails on the runtime's side with a wrong client secret", async () => {
    await expect(
      delegation({ secret: "not-the-secret" }).exchange(await engineerToken()),
    ).rejects.toMatchObject({
      code: "delegation_failed",
      status: 502,
      message:
        "the identity provider refused the agent's token exchange: client authentication failed",
      extensions: { oauth_error: "invalid_client" },
    });
  });

  it("reports an identity provider that is down or failing as unavailable", async () => {
    const down = delegation({ fetch: () => Promise.reject(new TypeError("fetch failed")) });
    await expect(down.exchange("t")).rejects.toMatchObject({
      code: "identity_provider_unavailable",
      status: 503,
      message: "the identity provider could not be reached for the token exchange",
    });
    const failing = delegation({
      fetch: () => Promise.resolve(new Response('{"error":"server_error"}', { status: 500 })),
    });
    await expect(failing.exchange("t")).rejects.toMatchObject({
      code: "identity_provider_unavailable",
      message: "the identity provider failed the token exchange (HTTP 500)",
    });
  });

  it("refuses a 200 that is not a token exchange response", async () => {
    const odd = delegation({
      fetch: () =>
        Promise.resolve(
          Response.json({
            access_token: "x",
            issued_token_type: "urn:other",
            token_type: "Bearer",
          }),
        ),
    });
    await expect(odd.exchange("t")).rejects.toMatchObject({
      code: "delegation_failed",
      message: "the identity provider's token response is not an RFC 8693 access token response",
    });
  });

  it("fails when the client secret cannot be read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zyx-cr-secret-"));
    const missing = createDelegation({
      tokenUrl: "http://idp.test/oauth/token",
      clientId: AGENT,
      clientSecret: secretFromFile(join(dir, "absent.secret")),
      audience: GATEWAY_AUDIENCE,
      fetch: idpFetch(),
    });
    await expect(missing.exchange("t")).rejects.toMatchObject({
      code: "delegation_failed",
      message: "the agent's client secret cannot be read",
    });
    writeFileSync(join(dir, "empty.secret"), "\n");
    await expect(secretFromFile(join(dir, "empty.secret"))()).rejects.toThrow("is empty");
    writeFileSync(join(dir, "agent.secret"), `${SECRET}\n`);
    expect(await secretFromFile(join(dir, "agent.secret"))()).toBe(SECRET);
  });

  it("checks its options at construction", () => {
    const base = {
      tokenUrl: "http://idp.test/oauth/token",
      clientId: AGENT,
      clientSecret: () => Promise.resolve(SECRET),
      audience: GATEWAY_AUDIENCE,
    };
    expect(() => createDelegation({ ...base, tokenUrl: "idp" })).toThrow(
      '"tokenUrl" must be an absolute URL: idp',
    );
    expect(() => createDelegation({ ...base, clientId: "" })).toThrow(
      '"clientId" must be a non-empty string',
    );
    expect(() => createDelegation({ ...base, audience: "" })).toThrow(
      '"audience" must be a non-empty string',
    );
    expect(() => createDelegation({ ...base, timeoutMs: 1 })).toThrow(
      '"timeoutMs" must be an integer from 100 to 60000',
    );
  });
});

describe("createDelegation with its cache", () => {
  function cached(seen: Seen[], clock: { ms: number }, secret = SECRET) {
    return createDelegation({
      tokenUrl: "http://idp.test/oauth/token",
      clientId: AGENT,
      clientSecret: () => Promise.resolve(secret),
      audience: GATEWAY_AUDIENCE,
      fetch: idpFetch(seen),
      cache: { maxEntries: 2 },
      now: () => clock.ms,
    });
  }

  it("exchanges an engineer's token once while the delegated token has time left", async () => {
    const seen: Seen[] = [];
    const clock = { ms: T0 * 1000 };
    const d = cached(seen, clock);
    const token = await engineerToken();
    const first = await d.exchange(token);
    expect(await d.exchange(token)).toBe(first);
    expect(seen).toHaveLength(1);
    // The idp gave 300 s (maxTtlSec); reused until REUSE_MARGIN_SEC before that, not after.
    clock.ms += (300 - REUSE_MARGIN_SEC - 1) * 1000;
    expect(await d.exchange(token)).toBe(first);
    expect(seen).toHaveLength(1);
    clock.ms += 2_000;
    await d.exchange(token);
    expect(seen).toHaveLength(2);
  });

  it("exchanges another engineer's token on its own, and forgets the oldest beyond its bound", async () => {
    const seen: Seen[] = [];
    const d = cached(seen, { ms: T0 * 1000 });
    const [a, b, c] = [
      await engineerToken(),
      await engineerToken({ user: "other@zyxbank.example" }),
      await engineerToken({ groups: ["grp-ai-users"] }),
    ];
    const forA = await d.exchange(a);
    const forB = await d.exchange(b);
    expect(decodeJwt(forB).sub).toBe("other@zyxbank.example");
    expect(forB).not.toBe(forA);
    expect(seen).toHaveLength(2);
    await d.exchange(c); // a is forgotten (bound 2)
    await d.exchange(a);
    expect(seen).toHaveLength(4);
  });

  it("never caches a refusal", async () => {
    const seen: Seen[] = [];
    const d = cached(seen, { ms: T0 * 1000 }, "wrong secret");
    const token = await engineerToken();
    await expect(d.exchange(token)).rejects.toMatchObject({ code: "delegation_failed" });
    await expect(d.exchange(token)).rejects.toMatchObject({ code: "delegation_failed" });
    expect(seen).toHaveLength(2);
  });

  it("checks its bound at construction", () => {
    const base = {
      tokenUrl: "http://idp.test/oauth/token",
      clientId: AGENT,
      clientSecret: () => Promise.resolve(SECRET),
      audience: GATEWAY_AUDIENCE,
    };
    expect(() => createDelegation({ ...base, cache: { maxEntries: 0 } })).toThrow(/maxEntries/);
  });
});
