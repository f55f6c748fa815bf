// OpenID Connect sign-in for people (the approver console), on the development identity
// provider: the authorization code flow with PKCE, and the dev device-trust service's answer for
// the person's device.
//
//   GET  /oauth/authorize         the login page (client_id, redirect_uri, state, nonce, S256 PKCE)
//   POST /oauth/authorize         checks the password; 303 to redirect_uri?code&state&iss
//   POST /oauth/token             grant_type=authorization_code (server.ts hands it here)
//   POST /device-trust/posture    a posture token for the signed-in person's device
//
// Invariants: only registered console clients with an exact registered redirect_uri; a bad
// client or redirect is an error page, never a redirect. A code lives CODE_TTL_SEC, is used once
// (a second use fails, as does the first with a wrong verifier: the code is spent either way),
// and is bound to the client, the redirect_uri, the PKCE challenge and the nonce. The token
// answer carries an ID token (typ JWT, aud = client_id, nonce) and an access token for the
// gateway naming the console as the acting party (act.sub = the client's agent), so the gateway
// verifies the person exactly as any other caller. Passwords are checked here and nowhere else.
// Development only.
import { createHash, randomBytes } from "node:crypto";
import type { Context, Hono } from "hono";
import { importJWK, SignJWT, type JWK } from "jose";
import { limitRequestBody } from "../../common/body-limit.ts";
import { ACCESS_TOKEN_TYP, createJwtChecker } from "../../common/jwks.ts";
import { escapeHtml } from "../../common/html.ts";
import { publicJwk } from "../../common/keys.ts";
import { verifyClientSecret } from "./clients.ts";
import { mintDelegatedAccessToken, mintPostureToken } from "./mint.ts";
import type { RegisteredPerson } from "./users.ts";

export const AUTHORIZE_PATH = "/oauth/authorize";
export const DEVICE_POSTURE_PATH = "/device-trust/posture";
/** The largest sign-in or posture form read (a form of a few fields; larger is 413). */
export const MAX_FORM_BYTES = 16_384;
export const AUTHORIZATION_CODE_GRANT = "authorization_code";
const CODE_TTL_SEC = 60;
const ID_TOKEN_TTL_SEC = 300;
const POSTURE_TTL_SEC = 300;
const MAX_PENDING_CODES = 1_000;

export interface ConsoleClient {
  client_id: string;
  redirect_uris: readonly string[];
}

export interface OidcOptions {
  /** People who may sign in (ensureDevUsers). */
  users: readonly RegisteredPerson[];
  /** The clients allowed the code flow, each with its exact redirect URIs. */
  consoleClients: readonly ConsoleClient[];
  /** The device-trust service's private JWK and issuer (posture tokens). */
  deviceTrust: { keys: JWK; issuer: string };
}

export interface OidcDeps {
  issuer: string;
  privateJwk: JWK;
  gatewayAudience: string;
  maxTtlSec: number;
  clock: () => number;
  /** HTTP Basic client authentication (throws the token endpoint's invalid_client). */
  authenticateClient: (c: Context) => Promise<{ clientId: string; agent: string }>;
}

export class OidcError extends Error {
  readonly code: "invalid_request" | "invalid_grant" | "unauthorized_client";
  constructor(code: OidcError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

interface PendingCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  nonce: string;
  person: RegisteredPerson;
  expiresAt: number;
  authTime: number;
}

interface AuthorizeParams {
  client: ConsoleClient;
  redirectUri: string;
  state: string;
  nonce: string;
  challenge: string;
}

const B64URL_43_128 = /^[A-Za-z0-9_-]{43,128}$/;
const OPAQUE = /^[\x21-\x7e]{8,512}$/;
/** RFC 7636: the verifier's alphabet and length. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** Mounts the code flow and the dev device-trust route; returns the grant handler. */
export function mountOidc(app: Hono, deps: OidcDeps, options: OidcOptions) {
  const people = new Map(options.users.map((u) => [u.email.toLowerCase(), u]));
  const clients = new Map(options.consoleClients.map((c) => [c.client_id, c]));
  const codes = new Map<string, PendingCode>();
  const deviceKey = options.deviceTrust.keys;
  const checkAccess = createJwtChecker(
    {
      issuer: deps.issuer,
      audience: deps.gatewayAudience,
      keys: { kind: "jwks", jwks: { keys: [publicJwk(deps.privateJwk)] } },
      algorithms: [deps.privateJwk.alg ?? "ES256"],
      now: deps.clock,
    },
    ACCESS_TOKEN_TYP,
    "identity provider",
  );

  function params(source: (name: string) => string | undefined): AuthorizeParams {
    const client = clients.get(source("client_id") ?? "");
    if (client === undefined) throw new OidcError("unauthorized_client", "unknown client_id");
    const redirectUri = source("redirect_uri") ?? "";
    if (!client.redirect_uris.includes(redirectUri)) {
      throw new OidcError("invalid_request", "redirect_uri is not registered for this client");
    }
    if (source("response_type") !== "code") {
      throw new OidcError("invalid_request", "response_type must be code");
    }
    if (!(source("scope") ?? "").split(" ").includes("openid")) {
      throw new OidcError("invalid_request", "scope must include openid");
    }
    if (source("code_challenge_method") !== "S256") {
      throw new OidcError("invalid_request", "PKCE with code_challenge_method=S256 is required");
    }
    const challenge = source("code_challenge") ?? "";
    const state = source("state") ?? "";
    const nonce = source("nonce") ?? "";
    if (!B64URL_43_128.test(challenge))
      throw new OidcError("invalid_request", "bad code_challenge");
    if (!OPAQUE.test(state) || !OPAQUE.test(nonce)) {
      throw new OidcError("invalid_request", "state and nonce are required (8 to 512 characters)");
    }
    return { client, redirectUri, state, nonce, challenge };
  }

  async function signIn(form: URLSearchParams): Promise<RegisteredPerson | undefined> {
    const person = people.get((form.get("username") ?? "").trim().toLowerCase());
    const password = form.get("password") ?? "";
    // An unknown person costs one scrypt too (a decoy hash), so timing tells nothing.
    const hash = person?.password ?? options.users[0]?.password;
    if (hash === undefined) return undefined;
    const matches = await verifyClientSecret(password, hash);
    return matches && person !== undefined ? person : undefined;
  }

  function issueCode(p: AuthorizeParams, person: RegisteredPerson): string {
    const now = Math.floor(deps.clock());
    for (const [code, pending] of codes) if (pending.expiresAt <= now) codes.delete(code);
    if (codes.size >= MAX_PENDING_CODES) {
      throw new OidcError("invalid_request", "too many sign-ins in progress; try again");
    }
    const code = randomBytes(32).toString("base64url");
    codes.set(code, {
      clientId: p.client.client_id,
      redirectUri: p.redirectUri,
      challenge: p.challenge,
      nonce: p.nonce,
      person,
      expiresAt: now + CODE_TTL_SEC,
      authTime: now,
    });
    return code;
  }

  app.get(AUTHORIZE_PATH, (c) => {
    try {
      const p = params((name) => c.req.query(name));
      return loginPage(c, p, undefined, 200);
    } catch (error) {
      return errorPage(c, error);
    }
  });

  app.post(
    AUTHORIZE_PATH,
    limitRequestBody({
      maxSize: MAX_FORM_BYTES,
      onError: (c) => c.text("request body too large", 413),
    }),
  );
  app.post(
    DEVICE_POSTURE_PATH,
    limitRequestBody({
      maxSize: MAX_FORM_BYTES,
      onError: (c) =>
        c.json({ error: "invalid_request", error_description: "request body too large" }, 413),
    }),
  );
  app.post(AUTHORIZE_PATH, async (c) => {
    try {
      const form = new URLSearchParams(await c.req.text());
      const p = params((name) => form.get(name) ?? undefined);
      const person = await signIn(form);
      if (person === undefined) return loginPage(c, p, "Wrong e-mail address or password.", 401);
      const target = new URL(p.redirectUri);
      target.searchParams.set("code", issueCode(p, person));
      target.searchParams.set("state", p.state);
      target.searchParams.set("iss", deps.issuer);
      noStore(c);
      return c.redirect(target.href, 303);
    } catch (error) {
      return errorPage(c, error);
    }
  });

  app.post(DEVICE_POSTURE_PATH, async (c) => {
    // Only a console client, for a token issued to it (act.sub = its agent).
    const { client, form } = await deps
      .authenticateClient(c)
      .then(async (client) => ({ client, form: new URLSearchParams(await c.req.text()) }));
    if (!clients.has(client.clientId)) {
      return c.json({ error: "unauthorized_client", error_description: "not a console" }, 400);
    }
    const outcome = await checkAccess(form.get("subject_token") ?? "");
    const act = outcome.ok ? (outcome.payload["act"] as { sub?: unknown } | undefined) : undefined;
    if (!outcome.ok || act?.sub !== client.agent) {
      const reason = outcome.ok ? "the token was not issued to this client" : outcome.reason;
      return c.json({ error: "invalid_grant", error_description: reason }, 400);
    }
    const person = people.get(String(outcome.payload.sub).toLowerCase());
    const now = Math.floor(deps.clock());
    const postureToken = await mintPostureToken({
      privateJwk: deviceKey,
      issuer: options.deviceTrust.issuer,
      audience: deps.gatewayAudience,
      user: String(outcome.payload.sub),
      // A person without a managed device in the registry: not compliant.
      compliant: person?.device.compliant ?? false,
      checkedAt: now,
      ttlSec: POSTURE_TTL_SEC,
      ...(person === undefined ? {} : { deviceId: person.device.id }),
      now,
    });
    noStore(c);
    return c.json({ posture_token: postureToken, token_type: "posture+jwt" });
  });

  /** The token endpoint's authorization_code grant, for an authenticated client. */
  return async function codeGrant(
    client: { clientId: string; agent: string },
    form: URLSearchParams,
  ): Promise<Record<string, unknown>> {
    const code = form.get("code") ?? "";
    const pending = codes.get(code);
    codes.delete(code);
    const now = Math.floor(deps.clock());
    if (pending === undefined || pending.expiresAt <= now) {
      throw new OidcError("invalid_grant", "the code is unknown, used or expired");
    }
    if (pending.clientId !== client.clientId) {
      throw new OidcError("invalid_grant", "the code was issued to another client");
    }
    if (form.get("redirect_uri") !== pending.redirectUri) {
      throw new OidcError("invalid_grant", "redirect_uri differs from the authorization request");
    }
    const verifier = form.get("code_verifier") ?? "";
    const computed = createHash("sha256").update(verifier).digest("base64url");
    if (!VERIFIER.test(verifier) || computed !== pending.challenge) {
      throw new OidcError("invalid_grant", "code_verifier does not match the code_challenge");
    }
    const { person } = pending;
    const ttlSec = Math.min(deps.maxTtlSec, ID_TOKEN_TTL_SEC);
    const accessToken = await mintDelegatedAccessToken({
      privateJwk: deps.privateJwk,
      issuer: deps.issuer,
      audience: deps.gatewayAudience,
      subject: person.email,
      email: person.email,
      groups: person.groups,
      actor: client.agent,
      clientId: client.clientId,
      ttlSec,
      now,
    });
    const idToken = await new SignJWT({
      email: person.email,
      groups: [...person.groups],
      nonce: pending.nonce,
      auth_time: pending.authTime,
      at_hash: atHash(accessToken),
    })
      .setProtectedHeader({
        alg: deps.privateJwk.alg ?? "ES256",
        kid: deps.privateJwk.kid ?? "",
        typ: "JWT",
      })
      .setIssuer(deps.issuer)
      .setAudience(client.clientId)
      .setSubject(person.email)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSec)
      .sign(await importJWK(deps.privateJwk, deps.privateJwk.alg));
    return {
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: ttlSec,
      id_token: idToken,
      scope: "openid",
    };
  };
}

/** OIDC Core 3.1.3.6: the left half of the SHA-256 of the access token, base64url. */
function atHash(accessToken: string): string {
  const digest = createHash("sha256").update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

function noStore(c: Context): void {
  c.header("cache-control", "no-store");
  c.header("pragma", "no-cache");
}

function pageHeaders(c: Context, formTarget: string | undefined): void {
  noStore(c);
  c.header(
    "content-security-policy",
    `default-src 'none'; form-action 'self'${formTarget === undefined ? "" : ` ${formTarget}`}; ` +
      "frame-ancestors 'none'; base-uri 'none'",
  );
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "no-referrer");
}

function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
}

function loginPage(c: Context, p: AuthorizeParams, error: string | undefined, status: 200 | 401) {
  pageHeaders(c, new URL(p.redirectUri).origin);
  const alert =
    error === undefined ? "" : `<p role="alert" id="login-error">${escapeHtml(error)}</p>`;
  return c.html(
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · ZYX Bank (development)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>Sign in to ZYX Bank</h1>
<p>Development identity provider. <strong>${escapeHtml(p.client.client_id)}</strong> asks who you are.</p>
${alert}
<form method="post" action="${AUTHORIZE_PATH}">
${hidden("client_id", p.client.client_id)}${hidden("redirect_uri", p.redirectUri)}${hidden("response_type", "code")}
${hidden("scope", "openid")}${hidden("state", p.state)}${hidden("nonce", p.nonce)}
${hidden("code_challenge", p.challenge)}${hidden("code_challenge_method", "S256")}
<p><label for="username">E-mail address</label><br>
<input id="username" name="username" type="email" autocomplete="username" required></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form></main></body></html>`,
    status,
  );
}

function errorPage(c: Context, error: unknown) {
  if (!(error instanceof OidcError)) throw error;
  pageHeaders(c, undefined);
  return c.html(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head>
<body><main><h1>Sign-in error</h1><p role="alert">${escapeHtml(error.code)}: ${escapeHtml(error.message)}</p></main></body></html>`,
    400,
  );
}
