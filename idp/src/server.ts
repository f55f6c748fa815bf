// The local development identity provider as an HTTP server: its key set, a discovery document,
// and an RFC 8693 token exchange through which an agent acts for an engineer.
//
//   GET  /.well-known/jwks.json                 the public key set
//   GET  /.well-known/openid-configuration      discovery (also /.well-known/oauth-authorization-server)
//   POST /oauth/token                           RFC 8693 token exchange, form-encoded
//   GET|POST /oauth/authorize, POST /device-trust/posture, and the authorization_code grant:
//                                               people's sign-in when `oidc` is given (oidc.ts)
//
// The exchange: the engineer's own access token (issued here, "typ": "at+jwt", audience the
// engineer-facing service, e.g. "zyx-change-review", no "act") is the subject_token; the actor is
// the calling client, authenticated with HTTP Basic (RFC 6749 section 2.3.1; client_secret_basic
// only); the requested audience must be the gateway's. The new token keeps the engineer's "sub",
// "email" and "groups", names the client in "act.sub" and "client_id", and lives no longer than
// the subject token nor `maxTtlSec`. The gateway then allows only what both the engineer's groups
// and the agent's catalog entry allow.
//
// Delegation chains are refused: a subject token that already carries "act" is invalid_grant
// rather than nested (RFC 8693 section 4.1). The gateway judges only the current actor, so a
// nested chain would let one agent pass on what another was given without the policy seeing it.
// A subject token's "may_act" (section 4.4), when present, must name the client. actor_token is
// not accepted: the authenticated client is the actor. A client may act only as the agent its id
// names, and only while the catalog lists that agent (else unauthorized_client).
//
// Errors are RFC 6749 section 5.2 JSON: {"error", "error_description"}, 400, or 401 with
// WWW-Authenticate: Basic for invalid_client. Every answer of the token endpoint is no-store.
// Development only: production tokens come from the bank's identity provider.
import { decodeJwt, type JWK, type JSONWebKeySet, type JWTPayload } from "jose";
import { Hono, type Context } from "hono";
import { externalAgentIds, loadCatalog } from "../../common/catalog.ts";
import {
  ACCESS_TOKEN_TYP,
  checkAlgorithms,
  checkNonEmptyString,
  createJwtChecker,
} from "../../common/jwks.ts";
import {
  DEFAULT_SCRYPT_PARAMS,
  MAX_CLIENT_SECRET_LENGTH,
  hashClientSecret,
  parseRegisteredClients,
  verifyClientSecret,
  type ClientSecretHash,
  type RegisteredClient,
} from "./clients.ts";
import { publicJwk } from "../../common/keys.ts";
import { mintDelegatedAccessToken } from "./mint.ts";
import {
  AUTHORIZATION_CODE_GRANT,
  AUTHORIZE_PATH,
  DEVICE_POSTURE_PATH,
  mountOidc,
  OidcError,
  type OidcOptions,
} from "./oidc.ts";
import { limitRequestBody } from "../../common/body-limit.ts";

/** The change-review runtime's client: the service the engineer's own tokens are for. */
export const CHANGE_REVIEW_CLIENT_ID = "change-reviewer";
export const TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
export const JWKS_PATH = "/.well-known/jwks.json";
export const DISCOVERY_PATH = "/.well-known/openid-configuration";
export const AUTHORIZATION_SERVER_METADATA_PATH = "/.well-known/oauth-authorization-server";
export const TOKEN_PATH = "/oauth/token";
/** Token requests with a larger body are refused (invalid_request) before they are parsed. */
export const MAX_TOKEN_REQUEST_BYTES = 65_536;
const MAX_TTL_LIMIT_SEC = 86_400;

/** The RFC 6749 section 5.2 error codes this server answers with, and their status. */
export const OAUTH_ERROR_STATUS = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_target: 400,
} as const;

export type OAuthErrorCode = keyof typeof OAUTH_ERROR_STATUS;

export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly status: (typeof OAUTH_ERROR_STATUS)[OAuthErrorCode];
  constructor(code: OAuthErrorCode, description: string) {
    super(description);
    this.name = "OAuthError";
    this.code = code;
    this.status = OAUTH_ERROR_STATUS[code];
  }
}

/** One line per exchange, issued or refused, for the process log. Never a token or secret. */
export type DevIdpEvent =
  | {
      event: "token_exchanged";
      client_id: string;
      sub: string;
      jti: string | undefined;
      exp: number;
    }
  | {
      event: "token_exchange_refused";
      error: OAuthErrorCode;
      error_description: string;
      client_id: string | undefined;
    };

export interface DevIdpAppOptions {
  /** The identity provider's private JWK, with "kid" and "alg" (ensureDevKeys). */
  keys: JWK;
  /** "iss" of the tokens it issues and of the subject tokens it accepts. */
  issuer: string;
  /** The registered clients (idp-clients.json): one per agent, client_id = agent. */
  clients: readonly RegisteredClient[];
  /** The agents that may act (the catalog's agents). Default: loadCatalog().agents. */
  agents?: readonly string[];
  /** The audience of the engineer's own tokens: the only accepted subject tokens. */
  engineerAudience: string;
  /**
   * The clients of the service that audience names: only they may exchange such a token (a
   * token the engineer gave one service is not one another agent may act on). Default: the
   * change-review runtime's client, change-reviewer.
   */
  engineerAudienceClients?: readonly string[];
  /** The gateway's audience: the only audience that may be requested. */
  gatewayAudience: string;
  /** The longest lifetime of an issued token, seconds (1..86400). */
  maxTtlSec: number;
  /** The clock, epoch seconds (tests freeze it). Default: the system clock. */
  now?: () => number;
  /** The public base URL for the discovery document. Default: the request's origin. */
  publicUrl?: string;
  /** Told about every exchange, issued or refused. */
  onEvent?: (event: DevIdpEvent) => void;
  /** People's sign-in (OpenID Connect code flow + PKCE) and the dev device-trust: off when absent. */
  oidc?: OidcOptions;
}

interface Client {
  clientId: string;
  agent: string;
  secret: ClientSecretHash;
}

export function createDevIdpApp(options: DevIdpAppOptions): Hono {
  if (typeof options !== "object") throw new TypeError("options must be an object");
  const privateJwk = checkPrivateJwk(options.keys);
  const algorithm = privateJwk.alg ?? "";
  const issuer = checkNonEmptyString("issuer", options.issuer);
  const engineerAudience = checkNonEmptyString("engineerAudience", options.engineerAudience);
  const gatewayAudience = checkNonEmptyString("gatewayAudience", options.gatewayAudience);
  if (engineerAudience === gatewayAudience) {
    throw new TypeError('"engineerAudience" and "gatewayAudience" must differ');
  }
  const { maxTtlSec } = options;
  if (!Number.isInteger(maxTtlSec) || maxTtlSec <= 0 || maxTtlSec > MAX_TTL_LIMIT_SEC) {
    throw new TypeError(`"maxTtlSec" must be an integer from 1 to ${MAX_TTL_LIMIT_SEC}`);
  }
  const clients = new Map<string, Client>(
    parseRegisteredClients(options.clients).map((client) => [
      client.client_id,
      { clientId: client.client_id, agent: client.agent, secret: client.secret },
    ]),
  );
  const agents = checkAgents(options.agents ?? externalAgentIds(loadCatalog()));
  const audienceClients = checkAgents(options.engineerAudienceClients ?? [CHANGE_REVIEW_CLIENT_ID]);
  const clock = options.now ?? (() => Date.now() / 1000);
  if (typeof clock !== "function") throw new TypeError('"now" must be a function');
  const publicUrl = options.publicUrl === undefined ? undefined : checkPublicUrl(options.publicUrl);
  const onEvent = options.onEvent ?? (() => undefined);
  const jwks: JSONWebKeySet = { keys: [publicJwk(privateJwk)] };
  const checkSubjectToken = createJwtChecker(
    {
      issuer,
      audience: engineerAudience,
      keys: { kind: "jwks", jwks },
      algorithms: [algorithm],
      // No leeway: the issued token must not outlive the subject token.
      clockToleranceSec: 0,
      now: clock,
    },
    ACCESS_TOKEN_TYP,
    "identity provider",
  );
  // Unknown client ids cost one scrypt too, so that timing does not tell which ids exist.
  const decoy = hashClientSecret("decoy", DEFAULT_SCRYPT_PARAMS);

  async function authenticate(
    authorization: string | undefined,
    form: URLSearchParams,
  ): Promise<Client> {
    const bodyId = form.get("client_id") ?? "";
    const bodySecret = form.get("client_secret") ?? "";
    if (authorization === undefined || authorization.trim() === "") {
      throw new OAuthError(
        "invalid_client",
        bodySecret === "" && bodyId === ""
          ? "client authentication required (HTTP Basic)"
          : "client credentials must be sent with HTTP Basic (client_secret_basic)",
      );
    }
    const credentials = basicCredentials(authorization);
    if (bodySecret !== "") {
      throw new OAuthError("invalid_request", "more than one client authentication method");
    }
    if (bodyId !== "" && bodyId !== credentials.id) {
      throw new OAuthError("invalid_request", "client_id differs from the authenticated client");
    }
    const client = clients.get(credentials.id);
    const matches = await verifyClientSecret(credentials.secret, client?.secret ?? (await decoy));
    if (client === undefined || !matches) {
      throw new OAuthError("invalid_client", "client authentication failed");
    }
    return client;
  }

  async function exchange(client: Client, form: URLSearchParams): Promise<TokenResponse> {
    const grantType = required(form, "grant_type");
    if (grantType !== TOKEN_EXCHANGE_GRANT_TYPE) {
      throw new OAuthError(
        "unsupported_grant_type",
        `grant_type must be ${TOKEN_EXCHANGE_GRANT_TYPE}`,
      );
    }
    if (!agents.has(client.agent)) {
      throw new OAuthError(
        "unauthorized_client",
        `client ${client.clientId} acts as agent ${client.agent}, which the catalog does not list`,
      );
    }
    const subjectToken = required(form, "subject_token");
    const subjectTokenType = required(form, "subject_token_type");
    if (subjectTokenType !== ACCESS_TOKEN_TYPE) {
      throw new OAuthError("invalid_request", `subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    if (present(form, "actor_token") || present(form, "actor_token_type")) {
      throw new OAuthError(
        "invalid_request",
        "actor_token is not accepted: the authenticated client is the actor",
      );
    }
    const requestedType = form.get("requested_token_type") ?? "";
    if (requestedType !== "" && requestedType !== ACCESS_TOKEN_TYPE) {
      throw new OAuthError("invalid_request", `requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    if (present(form, "resource")) {
      throw new OAuthError("invalid_target", "resource is not supported: request an audience");
    }
    const audiences = form.getAll("audience").filter((value) => value !== "");
    if (audiences.length === 0) throw new OAuthError("invalid_request", "audience is required");
    if (audiences.length > 1 || audiences[0] !== gatewayAudience) {
      throw new OAuthError("invalid_target", `audience must be exactly ${gatewayAudience}`);
    }

    const outcome = await checkSubjectToken(subjectToken);
    if (!outcome.ok) throw new OAuthError("invalid_grant", `subject_token: ${outcome.reason}`);
    if (!audienceClients.has(client.clientId)) {
      throw new OAuthError(
        "invalid_grant",
        `subject_token: its audience ${engineerAudience} is not client ${client.clientId}'s service`,
      );
    }
    const subject = subjectClaims(outcome.payload, client.clientId);
    const now = Math.floor(clock());
    // The checker refused exp <= now: at least one second is left.
    const ttlSec = Math.min(subject.exp - now, maxTtlSec);
    const accessToken = await mintDelegatedAccessToken({
      privateJwk,
      issuer,
      audience: gatewayAudience,
      subject: subject.sub,
      ...(subject.email === undefined ? {} : { email: subject.email }),
      groups: subject.groups,
      actor: client.agent,
      clientId: client.clientId,
      ttlSec,
      now,
    });
    const { jti } = decodeJwt(accessToken);
    onEvent({
      event: "token_exchanged",
      client_id: client.clientId,
      sub: subject.sub,
      jti,
      exp: now + ttlSec,
    });
    return {
      access_token: accessToken,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: "Bearer",
      expires_in: ttlSec,
    };
  }

  const app = new Hono();
  const codeGrant =
    options.oidc === undefined
      ? undefined
      : mountOidc(
          app,
          {
            issuer,
            privateJwk,
            gatewayAudience,
            maxTtlSec,
            clock,
            authenticateClient: async (c) => {
              const client = await authenticate(c.req.header("authorization"), await readForm(c));
              return { clientId: client.clientId, agent: client.agent };
            },
          },
          options.oidc,
        );

  app.get(JWKS_PATH, (c) => {
    c.header("cache-control", "public, max-age=300");
    return c.json(jwks);
  });

  const discovery = (c: Context): Response => {
    const base = publicUrl ?? new URL(c.req.url).origin;
    return c.json({
      issuer,
      jwks_uri: `${base}${JWKS_PATH}`,
      token_endpoint: `${base}${TOKEN_PATH}`,
      grant_types_supported: [TOKEN_EXCHANGE_GRANT_TYPE],
      token_endpoint_auth_methods_supported: ["client_secret_basic"],
      ...(codeGrant === undefined
        ? {}
        : {
            authorization_endpoint: `${base}${AUTHORIZE_PATH}`,
            device_posture_endpoint: `${base}${DEVICE_POSTURE_PATH}`,
            grant_types_supported: [TOKEN_EXCHANGE_GRANT_TYPE, AUTHORIZATION_CODE_GRANT],
            response_types_supported: ["code"],
            code_challenge_methods_supported: ["S256"],
            scopes_supported: ["openid"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: [algorithm],
          }),
    });
  };
  app.get(DISCOVERY_PATH, discovery);
  app.get(AUTHORIZATION_SERVER_METADATA_PATH, discovery);

  app.post(
    TOKEN_PATH,
    limitRequestBody({
      maxSize: MAX_TOKEN_REQUEST_BYTES,
      onError: (c) =>
        oauthError(
          c,
          new OAuthError("invalid_request", "request body too large"),
          undefined,
          onEvent,
        ),
    }),
    async (c) => {
      let clientId: string | undefined;
      try {
        const form = await readForm(c);
        const client = await authenticate(c.req.header("authorization"), form);
        clientId = client.clientId;
        const body =
          codeGrant !== undefined && form.get("grant_type") === AUTHORIZATION_CODE_GRANT
            ? await codeGrant(client, form).catch((error: unknown) => {
                if (error instanceof OidcError) throw new OAuthError(error.code, error.message);
                throw error;
              })
            : await exchange(client, form);
        noStore(c);
        return c.json(body, 200);
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        return oauthError(c, error, clientId, onEvent);
      }
    },
  );
  app.all(TOKEN_PATH, (c) => {
    c.header("allow", "POST");
    return c.json({ error: "invalid_request", error_description: "use POST" }, 405);
  });

  app.notFound((c) => c.json({ error: "not_found" }, 404));
  app.onError((error, c) => {
    if (error instanceof OAuthError) return oauthError(c, error, undefined, onEvent);
    noStore(c);
    return c.json({ error: "server_error", error_description: "internal error" }, 500);
  });
  return app;
}

interface TokenResponse {
  access_token: string;
  issued_token_type: typeof ACCESS_TOKEN_TYPE;
  token_type: "Bearer";
  expires_in: number;
}

interface SubjectClaims {
  sub: string;
  email?: string;
  groups: string[];
  exp: number;
}

function subjectClaims(payload: JWTPayload, clientId: string): SubjectClaims {
  const { sub, exp, email, act, groups } = payload;
  // The checker required "sub" and a numeric "exp".
  if (typeof sub !== "string" || sub === "" || typeof exp !== "number") {
    throw new OAuthError("invalid_grant", 'subject_token: "sub" and "exp" are required');
  }
  if (act !== undefined) {
    throw new OAuthError(
      "invalid_grant",
      'subject_token already carries "act": delegation chains are not supported',
    );
  }
  const mayAct = payload["may_act"];
  if (mayAct !== undefined && !namesClient(mayAct, clientId)) {
    throw new OAuthError("invalid_grant", `subject_token "may_act" does not name ${clientId}`);
  }
  if (!Array.isArray(groups) || !groups.every((group) => typeof group === "string")) {
    throw new OAuthError("invalid_grant", 'subject_token: "groups" must be an array of strings');
  }
  if (email !== undefined && (typeof email !== "string" || email === "")) {
    throw new OAuthError("invalid_grant", 'subject_token: "email" must be a non-empty string');
  }
  return { sub, ...(email === undefined ? {} : { email }), groups: [...groups], exp };
}

function namesClient(mayAct: unknown, clientId: string): boolean {
  return (
    typeof mayAct === "object" && mayAct !== null && "sub" in mayAct && mayAct.sub === clientId
  );
}

async function readForm(c: Context): Promise<URLSearchParams> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw new OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded");
  }
  const form = new URLSearchParams(await c.req.text());
  for (const name of new Set(form.keys())) {
    // RFC 8693 allows several audience (and resource) values; the checks below refuse them.
    if (name === "audience" || name === "resource") continue;
    if (form.getAll(name).length > 1) {
      throw new OAuthError("invalid_request", `parameter ${name} is repeated`);
    }
  }
  return form;
}

/** A parameter's value; an empty one counts as absent (RFC 6749 section 3.2). */
function required(form: URLSearchParams, name: string): string {
  const value = form.get(name) ?? "";
  if (value === "") throw new OAuthError("invalid_request", `${name} is required`);
  return value;
}

function present(form: URLSearchParams, name: string): boolean {
  return form.getAll(name).some((value) => value !== "");
}

/** client_id:client_secret from "Basic <base64>", each form-urlencoded (RFC 6749 2.3.1). */
function basicCredentials(header: string): { id: string; secret: string } {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  const decoded = match?.[1] === undefined ? "" : Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) {
    throw new OAuthError("invalid_client", 'Authorization is not "Basic <client_id:secret>"');
  }
  const id = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (id === undefined || secret === undefined || id === "" || secret === "") {
    throw new OAuthError("invalid_client", "malformed client credentials");
  }
  if (secret.length > MAX_CLIENT_SECRET_LENGTH) {
    throw new OAuthError("invalid_client", "client authentication failed");
  }
  return { id, secret };
}

function formDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    return undefined;
  }
}

function noStore(c: Context): void {
  c.header("cache-control", "no-store");
  c.header("pragma", "no-cache");
}

function oauthError(
  c: Context,
  error: OAuthError,
  clientId: string | undefined,
  onEvent: (event: DevIdpEvent) => void,
): Response {
  onEvent({
    event: "token_exchange_refused",
    error: error.code,
    error_description: error.message,
    client_id: clientId,
  });
  noStore(c);
  if (error.status === 401) c.header("www-authenticate", 'Basic realm="zyx-dev-idp"');
  return c.json({ error: error.code, error_description: error.message }, error.status);
}

function checkPrivateJwk(jwk: unknown): JWK {
  if (typeof jwk !== "object" || jwk === null) throw new TypeError('"keys" must be a private JWK');
  const key = jwk as JWK;
  if (key.d === undefined) throw new TypeError('"keys" must be a private key (no "d")');
  if (typeof key.kid !== "string" || key.kid === "" || typeof key.alg !== "string") {
    throw new TypeError('"keys" must have "kid" and "alg"');
  }
  checkAlgorithms([key.alg]);
  return key;
}

function checkAgents(agents: unknown): ReadonlySet<string> {
  if (!Array.isArray(agents) || !agents.every((agent) => typeof agent === "string")) {
    throw new TypeError('"agents" must be an array of agent ids');
  }
  return new Set(agents);
}

function checkPublicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`"publicUrl" must be an absolute URL: ${value}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`"publicUrl" must be http or https: ${value}`);
  }
  return url.href.replace(/\/+$/, "");
}
