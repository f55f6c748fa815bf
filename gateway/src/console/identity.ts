// The approver console's OpenID Connect client (authorization code + PKCE, RFC 7636 S256) and
// its client of the device-trust service. Server side only: the browser sees the authorization
// redirect and the code, never a token, a verifier or a client secret.
//
// Invariants: the ID token is verified (signature through the identity provider's key set, iss,
// aud = our client id, exp, typ JWT) and must carry the nonce of this sign-in; the access token it
// came with is then verified by the gateway's own access-token verifier like any caller's.
// Failure modes: the identity provider or device-trust unreachable or answering an error ->
// GatewayError identity_provider_unavailable (503); a bad code or ID token -> console_sign_in_failed.
import { createHash, randomBytes } from "node:crypto";
import { jwtVerify } from "jose";
import { createKeyResolver, type KeySource } from "../../../common/jwks.ts";
import { GatewayError } from "../lib/errors.ts";

export interface ConsoleIdentityOptions {
  /** The identity provider's authorization endpoint (the browser is sent there). */
  authorizationEndpoint: string;
  /** Its token endpoint (called by the gateway). */
  tokenEndpoint: string;
  /** The device-trust service's posture endpoint (called by the gateway). */
  postureEndpoint: string;
  /** "iss" of the ID tokens, and the key set that signs them. */
  issuer: string;
  keys: KeySource;
  clientId: string;
  /** The client secret, read when needed (a file the identity provider wrote). */
  clientSecret: () => Promise<string>;
  /** The console's callback URL, registered at the identity provider. */
  redirectUri: string;
  /** How the gateway reaches the identity provider (tests route it to an in-process app). */
  fetch?: typeof fetch;
  /** The clock, epoch seconds. */
  now?: () => number;
}

export interface SignInStart {
  state: string;
  nonce: string;
  verifier: string;
  /** Where the browser goes to sign in. */
  url: string;
}

export interface SignedIn {
  accessToken: string;
  subject: string;
}

export interface ConsoleIdentity {
  start(): SignInStart;
  /** Exchanges the code; verifies the ID token and its nonce. */
  finish(code: string, verifier: string, nonce: string): Promise<SignedIn>;
  /** A posture token for the person's device, from the device-trust service. */
  posture(accessToken: string): Promise<string>;
}

const TIMEOUT_MS = 5_000;

function random(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

function unavailable(what: string, cause?: unknown): GatewayError {
  return new GatewayError("identity_provider_unavailable", `${what} did not answer as expected`, {
    cause,
  });
}

export function createConsoleIdentity(options: ConsoleIdentityOptions): ConsoleIdentity {
  for (const name of [
    "authorizationEndpoint",
    "tokenEndpoint",
    "postureEndpoint",
    "redirectUri",
  ] as const) {
    new URL(options[name]); // throws on a bad URL, at construction
  }
  if (typeof options.clientSecret !== "function") {
    throw new TypeError("clientSecret must be a function");
  }
  const getKey = createKeyResolver(options.keys, "identity provider");
  const send = options.fetch ?? fetch;
  const now = options.now ?? (() => Date.now() / 1000);

  async function post(url: string, form: Record<string, string>): Promise<unknown> {
    const secret = await options.clientSecret().catch((cause: unknown) => {
      throw unavailable("the console's client secret", cause);
    });
    const basic = Buffer.from(
      `${encodeURIComponent(options.clientId)}:${encodeURIComponent(secret)}`,
    ).toString("base64");
    let response: Response;
    try {
      response = await send(url, {
        method: "POST",
        headers: {
          authorization: `Basic ${basic}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (cause) {
      throw unavailable(url, cause);
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (response.status === 400 && typeof body === "object" && body !== null) {
      throw new GatewayError(
        "console_sign_in_failed",
        `the identity provider refused: ${JSON.stringify(body).slice(0, 300)}`,
      );
    }
    // An answer that is not a JSON object (an HTML error page behind a 200) is no answer.
    if (!response.ok || typeof body !== "object" || body === null) throw unavailable(url);
    return body;
  }

  return {
    start() {
      const state = random();
      const nonce = random();
      const verifier = random(48);
      const url = new URL(options.authorizationEndpoint);
      url.search = new URLSearchParams({
        response_type: "code",
        client_id: options.clientId,
        redirect_uri: options.redirectUri,
        scope: "openid",
        state,
        nonce,
        code_challenge: createHash("sha256").update(verifier).digest("base64url"),
        code_challenge_method: "S256",
      }).toString();
      return { state, nonce, verifier, url: url.href };
    },

    async finish(code, verifier, nonce) {
      const body = await post(options.tokenEndpoint, {
        grant_type: "authorization_code",
        code,
        redirect_uri: options.redirectUri,
        code_verifier: verifier,
      });
      const tokens = body as { id_token?: unknown; access_token?: unknown };
      if (typeof tokens.id_token !== "string" || typeof tokens.access_token !== "string") {
        throw unavailable("the token endpoint (no id_token or access_token)");
      }
      let payload;
      try {
        ({ payload } = await jwtVerify(tokens.id_token, getKey, {
          issuer: options.issuer,
          audience: options.clientId,
          typ: "JWT",
          requiredClaims: ["exp", "sub", "nonce"],
          currentDate: new Date(now() * 1000),
          clockTolerance: 30,
        }));
      } catch (cause) {
        throw new GatewayError("console_sign_in_failed", "the ID token did not verify", { cause });
      }
      if (payload["nonce"] !== nonce) {
        throw new GatewayError(
          "console_sign_in_failed",
          "the ID token's nonce is not this sign-in's",
        );
      }
      return { accessToken: tokens.access_token, subject: String(payload.sub) };
    },

    async posture(accessToken) {
      const body = (await post(options.postureEndpoint, { subject_token: accessToken })) as {
        posture_token?: unknown;
      };
      if (typeof body.posture_token !== "string") throw unavailable("the device-trust service");
      return body.posture_token;
    },
  };
}
