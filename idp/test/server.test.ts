// The development identity provider's token exchange (RFC 8693), through app.request(): the
// issued token passes the gateway's own verifier with the client as the acting agent; every
// refusal answers its RFC 6749 error code, status and description. The clock is frozen.
import { importJWK, SignJWT, type JSONWebKeySet, type JWK, type JWTPayload } from "jose";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { hashClientSecret, type RegisteredClient } from "../src/clients.ts";
import {
  CHANGE_REVIEW_AUDIENCE,
  DEV_ISSUER,
  GATEWAY_AUDIENCE,
  generateDevKey,
} from "../../common/keys.ts";
import { mintAccessToken, mintPostureToken } from "../src/mint.ts";
import {
  ACCESS_TOKEN_TYPE,
  TOKEN_EXCHANGE_GRANT_TYPE,
  createDevIdpApp,
  type DevIdpAppOptions,
  type DevIdpEvent,
} from "../src/server.ts";
import { createAccessTokenVerifier } from "../../gateway/src/identity/access-token.ts";

const T0 = 1_779_242_400;
const USER = "engineer@zyxbank.example";
const GROUPS = ["grp-ai-users", "grp-ai-devops-readonly"];
const AGENT = "change-reviewer";
const AGENT_SECRET = "reviewer-secret-0123456789abcdefghijklmnopqrstuv";
/** Registered, but the catalog has no such agent. */
const RETIRED = "retired-agent";
const RETIRED_SECRET = "retired-secret-0123456789abcdefghijklmnopqrstuv";
const MAX_TTL = 300;

const idpKey = await generateDevKey();
const strangerKey = await generateDevKey();
const IDP_KID = idpKey.kid ?? "";
const clients: RegisteredClient[] = [
  { client_id: AGENT, agent: AGENT, secret: await hashClientSecret(AGENT_SECRET) },
  { client_id: RETIRED, agent: RETIRED, secret: await hashClientSecret(RETIRED_SECRET) },
];

function options(overrides: Partial<DevIdpAppOptions> = {}): DevIdpAppOptions {
  return {
    keys: idpKey,
    issuer: DEV_ISSUER,
    clients,
    engineerAudience: CHANGE_REVIEW_AUDIENCE,
    gatewayAudience: GATEWAY_AUDIENCE,
    maxTtlSec: MAX_TTL,
    now: () => T0,
    ...overrides,
  };
}

const events: DevIdpEvent[] = [];
// No `agents`: the catalog's agents (change-reviewer, change-remediator) are the default.
const app = createDevIdpApp(
  options({
    onEvent: (event) => {
      events.push(event);
    },
  }),
);

/** The engineer's own token: no act, for the change-review service. */
function engineerToken(
  overrides: Partial<Parameters<typeof mintAccessToken>[0]> = {},
): Promise<string> {
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

/** A token with any claims and header, signed with the idp's key unless told otherwise. */
async function signed(
  payload: JWTPayload,
  { key = idpKey, typ = "at+jwt" }: { key?: JWK; typ?: string } = {},
): Promise<string> {
  return new SignJWT({
    iss: DEV_ISSUER,
    aud: CHANGE_REVIEW_AUDIENCE,
    sub: USER,
    groups: GROUPS,
    iat: T0,
    exp: T0 + 900,
    jti: "subject-1",
    ...payload,
  })
    .setProtectedHeader({ alg: "ES256", kid: key.kid ?? "", typ })
    .sign(await importJWK(key, "ES256"));
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
}

type Form = Record<string, string | string[]>;

function exchangeForm(subjectToken: string, extra: Form = {}): Form {
  return {
    grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: GATEWAY_AUDIENCE,
    ...extra,
  };
}

function encode(form: Form): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(form)) {
    for (const item of Array.isArray(value) ? value : [value]) params.append(name, item);
  }
  return params.toString();
}

async function post(
  form: Form | string,
  {
    authorization = basic(AGENT, AGENT_SECRET),
    contentType = "application/x-www-form-urlencoded",
    target = app,
  }: {
    authorization?: string | null;
    contentType?: string;
    target?: ReturnType<typeof createDevIdpApp>;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": contentType };
  if (authorization !== null) headers["authorization"] = authorization;
  return target.request("/oauth/token", {
    method: "POST",
    headers,
    body: typeof form === "string" ? form : encode(form),
  });
}

interface TokenBody {
  access_token: string;
  issued_token_type: string;
  token_type: string;
  expires_in: number;
}

async function jwks(): Promise<JSONWebKeySet> {
  return (await (await app.request("/.well-known/jwks.json")).json()) as JSONWebKeySet;
}

function gatewayVerifier(keys: JSONWebKeySet, now = T0) {
  return createAccessTokenVerifier({
    issuer: DEV_ISSUER,
    audience: GATEWAY_AUDIENCE,
    keys: { kind: "jwks", jwks: keys },
    now: () => now,
  });
}

describe("token exchange: issued", () => {
  it("returns an RFC 8693 response whose token the gateway verifies: the engineer, acted for by the client", async () => {
    const subjectToken = await engineerToken();
    const response = await post(exchangeForm(subjectToken, { scope: "ignored anyway" }));
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("pragma")).toBe("no-cache");
    const body = (await response.json()) as TokenBody;
    expect(Object.keys(body).sort()).toEqual([
      "access_token",
      "expires_in",
      "issued_token_type",
      "token_type",
    ]);
    expect(body).toMatchObject({
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: "Bearer",
      expires_in: MAX_TTL,
    });

    const principal = await gatewayVerifier(await jwks()).verify(body.access_token);
    expect(principal).toEqual({
      subject: USER,
      email: USER,
      groups: GROUPS,
      agent: AGENT,
      tokenId: expect.any(String) as string,
      expiresAt: T0 + MAX_TTL,
    });
    expect(decodeProtectedHeader(body.access_token)).toEqual({
      alg: "ES256",
      kid: idpKey.kid,
      typ: "at+jwt",
    });
    const claims = decodeJwt(body.access_token);
    expect(claims).toMatchObject({
      iss: DEV_ISSUER,
      aud: GATEWAY_AUDIENCE,
      sub: USER,
      act: { sub: AGENT },
      client_id: AGENT,
      iat: T0,
      exp: T0 + MAX_TTL,
    });
    expect(claims.jti).not.toBe(decodeJwt(subjectToken).jti);
    expect(claims).not.toHaveProperty("scope");
  });

  it.each([
    ["the subject token ends first", T0, T0 + 120, 120],
    ["maxTtlSec ends first", T0, T0 + 900, MAX_TTL],
    ["later, with 20 s left on the subject token", T0 + 100, T0 + 120, 20],
  ])("never outlives the subject token: %s", async (_name, now, subjectExp, expectedTtl) => {
    const target = createDevIdpApp(options({ now: () => now }));
    const subjectToken = await engineerToken({ ttlSec: subjectExp - T0 });
    const body = (await (await post(exchangeForm(subjectToken), { target })).json()) as TokenBody;
    expect(body.expires_in).toBe(expectedTtl);
    expect(decodeJwt(body.access_token).exp).toBe(now + expectedTtl);
    expect(decodeJwt(body.access_token).exp).toBeLessThanOrEqual(subjectExp);
  });

  it("copies email only when the subject token has one, never deriving it from sub", async () => {
    const subjectToken = await signed({
      sub: "u-4711",
      email: undefined,
      groups: ["grp-ai-users"],
    });
    const body = (await (await post(exchangeForm(subjectToken))).json()) as TokenBody;
    const principal = await gatewayVerifier(await jwks()).verify(body.access_token);
    expect(principal).toMatchObject({ subject: "u-4711", groups: ["grp-ai-users"], agent: AGENT });
    expect(principal).not.toHaveProperty("email");

    const other = await signed({ sub: "u-4712", email: "someone@zyxbank.example" });
    const second = (await (await post(exchangeForm(other))).json()) as TokenBody;
    expect(decodeJwt(second.access_token)).toMatchObject({
      sub: "u-4712",
      email: "someone@zyxbank.example",
    });
  });

  it("accepts a subject token whose may_act names the client, and form-encoded Basic credentials", async () => {
    const subjectToken = await signed({ may_act: { sub: AGENT } });
    const encodedId = encodeURIComponent(AGENT);
    const response = await post(exchangeForm(subjectToken), {
      authorization: `basic  ${Buffer.from(`${encodedId}:${AGENT_SECRET}`).toString("base64")}`,
    });
    expect(response.status).toBe(200);
  });

  it("reports each exchange to onEvent without the token or the secret", async () => {
    events.length = 0;
    const body = (await (await post(exchangeForm(await engineerToken()))).json()) as TokenBody;
    await post(exchangeForm(await engineerToken()), { authorization: basic(AGENT, "wrong") });
    expect(events).toEqual([
      {
        event: "token_exchanged",
        client_id: AGENT,
        sub: USER,
        jti: decodeJwt(body.access_token).jti,
        exp: T0 + MAX_TTL,
      },
      {
        event: "token_exchange_refused",
        error: "invalid_client",
        error_description: "client authentication failed",
        client_id: undefined,
      },
    ]);
    const logged = JSON.stringify(events);
    expect(logged).not.toContain(body.access_token.split(".")[2]);
    expect(logged).not.toContain(AGENT_SECRET);
  });
});

interface Refusal {
  name: string;
  request: () => Promise<Response>;
  status: number;
  error: string;
  description: string;
}

const otherIssuerToken = () => engineerToken({ issuer: "https://login.example.com/" });

const REFUSALS: Refusal[] = [
  // the client
  {
    name: "no client credentials",
    request: async () => post(exchangeForm(await engineerToken()), { authorization: null }),
    status: 401,
    error: "invalid_client",
    description: "client authentication required (HTTP Basic)",
  },
  {
    name: "a wrong client secret",
    request: async () =>
      post(exchangeForm(await engineerToken()), { authorization: basic(AGENT, "not-the-secret") }),
    status: 401,
    error: "invalid_client",
    description: "client authentication failed",
  },
  {
    name: "another client's secret",
    request: async () =>
      post(exchangeForm(await engineerToken()), { authorization: basic(AGENT, RETIRED_SECRET) }),
    status: 401,
    error: "invalid_client",
    description: "client authentication failed",
  },
  {
    name: "an unknown client (same answer as a wrong secret)",
    request: async () =>
      post(exchangeForm(await engineerToken()), {
        authorization: basic("change-remediator", AGENT_SECRET),
      }),
    status: 401,
    error: "invalid_client",
    description: "client authentication failed",
  },
  {
    name: "a Bearer token instead of client credentials",
    request: async () =>
      post(exchangeForm(await engineerToken()), {
        authorization: `Bearer ${await engineerToken()}`,
      }),
    status: 401,
    error: "invalid_client",
    description: 'Authorization is not "Basic <client_id:secret>"',
  },
  {
    name: "Basic credentials without a secret",
    request: async () =>
      post(exchangeForm(await engineerToken()), { authorization: basic(AGENT, "") }),
    status: 401,
    error: "invalid_client",
    description: "malformed client credentials",
  },
  {
    name: "client credentials in the body only (client_secret_post)",
    request: async () =>
      post(exchangeForm(await engineerToken(), { client_id: AGENT, client_secret: AGENT_SECRET }), {
        authorization: null,
      }),
    status: 401,
    error: "invalid_client",
    description: "client credentials must be sent with HTTP Basic (client_secret_basic)",
  },
  {
    name: "two client authentication methods",
    request: async () => post(exchangeForm(await engineerToken(), { client_secret: AGENT_SECRET })),
    status: 400,
    error: "invalid_request",
    description: "more than one client authentication method",
  },
  {
    name: "a body client_id other than the authenticated client",
    request: async () =>
      post(exchangeForm(await engineerToken(), { client_id: "change-remediator" })),
    status: 400,
    error: "invalid_request",
    description: "client_id differs from the authenticated client",
  },
  {
    name: "a registered client for an agent the catalog does not list",
    request: async () =>
      post(exchangeForm(await engineerToken()), { authorization: basic(RETIRED, RETIRED_SECRET) }),
    status: 400,
    error: "unauthorized_client",
    description: `client ${RETIRED} acts as agent ${RETIRED}, which the catalog does not list`,
  },
  // the request
  {
    name: "another grant type",
    request: async () =>
      post(exchangeForm(await engineerToken(), { grant_type: "client_credentials" })),
    status: 400,
    error: "unsupported_grant_type",
    description: `grant_type must be ${TOKEN_EXCHANGE_GRANT_TYPE}`,
  },
  {
    name: "no grant type",
    request: async () => post(exchangeForm(await engineerToken(), { grant_type: "" })),
    status: 400,
    error: "invalid_request",
    description: "grant_type is required",
  },
  {
    name: "no subject token",
    request: async () => {
      const { subject_token: _omitted, ...form } = exchangeForm("x");
      return post(form);
    },
    status: 400,
    error: "invalid_request",
    description: "subject_token is required",
  },
  {
    name: "an empty subject token",
    request: async () => post(exchangeForm("")),
    status: 400,
    error: "invalid_request",
    description: "subject_token is required",
  },
  {
    name: "no subject token type",
    request: async () => post(exchangeForm(await engineerToken(), { subject_token_type: "" })),
    status: 400,
    error: "invalid_request",
    description: "subject_token_type is required",
  },
  {
    name: "another subject token type",
    request: async () =>
      post(
        exchangeForm(await engineerToken(), {
          subject_token_type: "urn:ietf:params:oauth:token-type:id_token",
        }),
      ),
    status: 400,
    error: "invalid_request",
    description: `subject_token_type must be ${ACCESS_TOKEN_TYPE}`,
  },
  {
    name: "an actor token",
    request: async () =>
      post(
        exchangeForm(await engineerToken(), {
          actor_token: await engineerToken(),
          actor_token_type: ACCESS_TOKEN_TYPE,
        }),
      ),
    status: 400,
    error: "invalid_request",
    description: "actor_token is not accepted: the authenticated client is the actor",
  },
  {
    name: "another requested token type",
    request: async () =>
      post(
        exchangeForm(await engineerToken(), {
          requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token",
        }),
      ),
    status: 400,
    error: "invalid_request",
    description: `requested_token_type must be ${ACCESS_TOKEN_TYPE}`,
  },
  {
    name: "a repeated parameter",
    request: async () => {
      const token = await engineerToken();
      return post(exchangeForm(token, { subject_token: [token, token] }));
    },
    status: 400,
    error: "invalid_request",
    description: "parameter subject_token is repeated",
  },
  {
    name: "a JSON body",
    request: async () =>
      post(JSON.stringify(exchangeForm(await engineerToken())), {
        contentType: "application/json",
      }),
    status: 400,
    error: "invalid_request",
    description: "the body must be application/x-www-form-urlencoded",
  },
  {
    name: "a body over 64 KiB",
    request: async () => post(exchangeForm(await engineerToken(), { pad: "x".repeat(70_000) })),
    status: 400,
    error: "invalid_request",
    description: "request body too large",
  },
  // the audience
  {
    name: "no audience",
    request: async () => post(exchangeForm(await engineerToken(), { audience: "" })),
    status: 400,
    error: "invalid_request",
    description: "audience is required",
  },
  {
    name: "another audience",
    request: async () =>
      post(exchangeForm(await engineerToken(), { audience: "zyx-agent-worker" })),
    status: 400,
    error: "invalid_target",
    description: `audience must be exactly ${GATEWAY_AUDIENCE}`,
  },
  {
    name: "the engineer-facing audience",
    request: async () =>
      post(exchangeForm(await engineerToken(), { audience: CHANGE_REVIEW_AUDIENCE })),
    status: 400,
    error: "invalid_target",
    description: `audience must be exactly ${GATEWAY_AUDIENCE}`,
  },
  {
    name: "two audiences, one of them the gateway",
    request: async () =>
      post(exchangeForm(await engineerToken(), { audience: [GATEWAY_AUDIENCE, "zyx-other"] })),
    status: 400,
    error: "invalid_target",
    description: `audience must be exactly ${GATEWAY_AUDIENCE}`,
  },
  {
    name: "a resource indicator",
    request: async () =>
      post(exchangeForm(await engineerToken(), { resource: "https://gateway.example/" })),
    status: 400,
    error: "invalid_target",
    description: "resource is not supported: request an audience",
  },
  // the subject token
  {
    name: "an expired subject token",
    request: async () => post(exchangeForm(await engineerToken({ now: T0 - 900, ttlSec: 900 }))),
    status: 400,
    error: "invalid_grant",
    description: "subject_token: token has expired (exp)",
  },
  {
    name: "a subject token that expired a second ago (no leeway)",
    request: async () => post(exchangeForm(await engineerToken({ now: T0 - 61, ttlSec: 60 }))),
    status: 400,
    error: "invalid_grant",
    description: "subject_token: token has expired (exp)",
  },
  {
    name: "a subject token not yet valid",
    request: async () => post(exchangeForm(await engineerToken({ notBefore: T0 + 60 }))),
    status: 400,
    error: "invalid_grant",
    description: "subject_token: token is not yet valid (nbf)",
  },
  {
    name: "a subject token signed by another key",
    request: async () => post(exchangeForm(await engineerToken({ privateJwk: strangerKey }))),
    status: 400,
    error: "invalid_grant",
    description: 'subject_token: no key in the key set matches the token (unknown "kid")',
  },
  {
    name: "a subject token signed by another key under the idp's kid",
    request: async () =>
      post(exchangeForm(await engineerToken({ privateJwk: { ...strangerKey, kid: IDP_KID } }))),
    status: 400,
    error: "invalid_grant",
    description: "subject_token: token signature verification failed",
  },
  {
    name: "a subject token for another audience",
    request: async () => post(exchangeForm(await engineerToken({ audience: "zyx-other-app" }))),
    status: 400,
    error: "invalid_grant",
    description: 'subject_token: unexpected "aud" claim value',
  },
  {
    name: "a gateway token as the subject token",
    request: async () =>
      post(exchangeForm(await engineerToken({ audience: GATEWAY_AUDIENCE, agent: AGENT }))),
    status: 400,
    error: "invalid_grant",
    description: 'subject_token: unexpected "aud" claim value',
  },
  {
    name: "a subject token that already carries act (no delegation chains)",
    request: async () => post(exchangeForm(await engineerToken({ agent: "change-remediator" }))),
    status: 400,
    error: "invalid_grant",
    description: 'subject_token already carries "act": delegation chains are not supported',
  },
  {
    name: "a subject token of another issuer, signed with the idp's key",
    request: async () => post(exchangeForm(await otherIssuerToken())),
    status: 400,
    error: "invalid_grant",
    description: 'subject_token: unexpected "iss" claim value',
  },
  {
    name: "a posture token as the subject token",
    request: async () =>
      post(
        exchangeForm(
          await mintPostureToken({
            privateJwk: idpKey,
            issuer: DEV_ISSUER,
            audience: CHANGE_REVIEW_AUDIENCE,
            user: USER,
            compliant: true,
            checkedAt: T0,
            ttlSec: 600,
            now: T0,
          }),
        ),
      ),
    status: 400,
    error: "invalid_grant",
    description: 'subject_token: unexpected "typ" header value (expected "at+jwt")',
  },
  {
    name: "a subject token whose may_act names another agent",
    request: async () =>
      post(exchangeForm(await signed({ may_act: { sub: "change-remediator" } }))),
    status: 400,
    error: "invalid_grant",
    description: `subject_token "may_act" does not name ${AGENT}`,
  },
  {
    name: "a subject token without groups",
    request: async () => post(exchangeForm(await signed({ groups: undefined }))),
    status: 400,
    error: "invalid_grant",
    description: 'subject_token: "groups" must be an array of strings',
  },
  {
    name: "a subject token that is not a JWT",
    request: async () => post(exchangeForm("not-a-jwt")),
    status: 400,
    error: "invalid_grant",
    description: "subject_token: malformed token: Invalid Compact JWS",
  },
];

describe("token exchange: refused", () => {
  it.each(REFUSALS)("$name: $status $error", async ({ request, status, error, description }) => {
    const response = await request();
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ error, error_description: description });
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("www-authenticate")).toBe(
      status === 401 ? 'Basic realm="zyx-dev-idp"' : null,
    );
  });

  it("answers 405 to anything but POST on the token endpoint", async () => {
    const response = await app.request("/oauth/token");
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });
});

describe("discovery and key set", () => {
  let keySet: JSONWebKeySet;
  beforeAll(async () => {
    keySet = await jwks();
  });

  it("publishes the one public key, without its private part", () => {
    expect(keySet.keys).toHaveLength(1);
    const [key] = keySet.keys;
    expect(key).toEqual({
      kty: "EC",
      crv: "P-256",
      x: idpKey.x,
      y: idpKey.y,
      kid: idpKey.kid,
      alg: "ES256",
      use: "sig",
    });
    expect(key).not.toHaveProperty("d");
  });

  it.each(["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])(
    "%s names the issuer, the key set, the token endpoint and the one grant, from the request's origin",
    async (path) => {
      const response = await app.request(`http://idp.test:8090${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        issuer: DEV_ISSUER,
        jwks_uri: "http://idp.test:8090/.well-known/jwks.json",
        token_endpoint: "http://idp.test:8090/oauth/token",
        grant_types_supported: [TOKEN_EXCHANGE_GRANT_TYPE],
        token_endpoint_auth_methods_supported: ["client_secret_basic"],
      });
    },
  );

  it("uses publicUrl when given", async () => {
    const target = createDevIdpApp(options({ publicUrl: "https://idp.zyxbank.example/" }));
    const body = (await (await target.request(`/.well-known/openid-configuration`)).json()) as {
      token_endpoint: string;
    };
    expect(body.token_endpoint).toBe("https://idp.zyxbank.example/oauth/token");
  });

  it("answers 404 elsewhere", async () => {
    const response = await app.request("/authorize");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "not_found" });
  });
});

describe("createDevIdpApp options", () => {
  const { d: _d, ...publicOnly } = idpKey;
  const { kid: _kid, ...withoutKid } = idpKey;
  it.each<[string, Partial<DevIdpAppOptions>, string]>([
    ["a public key", { keys: publicOnly }, '"keys" must be a private key (no "d")'],
    ["a key without kid", { keys: withoutKid }, '"keys" must have "kid" and "alg"'],
    [
      "a symmetric algorithm",
      { keys: { ...idpKey, alg: "HS256" } },
      '"algorithms" must not contain the symmetric algorithm "HS256"',
    ],
    ["an empty issuer", { issuer: "" }, '"issuer" must be a non-empty string'],
    [
      "one audience for both",
      { engineerAudience: GATEWAY_AUDIENCE },
      '"engineerAudience" and "gatewayAudience" must differ',
    ],
    ["maxTtlSec 0", { maxTtlSec: 0 }, '"maxTtlSec" must be an integer from 1 to 86400'],
    ["maxTtlSec 1.5", { maxTtlSec: 1.5 }, '"maxTtlSec" must be an integer from 1 to 86400'],
    ["agents not strings", { agents: [1] as unknown as string[] }, '"agents" must be an array'],
    ["a relative publicUrl", { publicUrl: "/idp" }, '"publicUrl" must be an absolute URL: /idp'],
  ])("refuses %s", (_name, overrides, message) => {
    expect(() => createDevIdpApp(options(overrides))).toThrow(message);
  });

  it("refuses a client that would act as another agent than its id names", async () => {
    const secret = await hashClientSecret("x");
    expect(() =>
      createDevIdpApp(
        options({ clients: [{ client_id: AGENT, agent: "change-remediator", secret }] }),
      ),
    ).toThrow(
      expect.objectContaining({
        code: "idp_clients_invalid",
        message: `clients are invalid: client ${AGENT} names agent change-remediator: a client may only act as the agent its id names`,
      }),
    );
  });

  it("takes the acting agents from the option when given", async () => {
    const target = createDevIdpApp(
      options({ agents: [RETIRED], engineerAudienceClients: [RETIRED] }),
    );
    const retired = await post(exchangeForm(await engineerToken()), {
      authorization: basic(RETIRED, RETIRED_SECRET),
      target,
    });
    expect(retired.status).toBe(200);
    expect(decodeJwt(((await retired.json()) as TokenBody).access_token)["act"]).toEqual({
      sub: RETIRED,
    });
    const reviewer = await post(exchangeForm(await engineerToken()), { target });
    expect(((await reviewer.json()) as { error: string }).error).toBe("unauthorized_client");
  });
});
