// Acting for the engineer: OAuth 2.0 Token Exchange (RFC 8693) at the identity provider's token
// endpoint. The subject token is the engineer's own access token; the actor is this runtime's
// OAuth client, authenticated with HTTP Basic (RFC 6749 section 2.3.1); the requested audience is
// the gateway. The token that comes back names the engineer in "sub" and this agent in "act", and
// the gateway allows only what both may do. The runtime holds no connector credential: only its
// client secret, read from a file at each exchange (so a rotated secret is picked up).
//
// Optional cache (`cache`): the delegated token for the same engineer token is reused while it
// has more than REUSE_MARGIN_SEC of life left (by the response's expires_in and this process's
// clock), as an agent reuses its token: the identity provider's client authentication (a
// deliberately slow scrypt) is then paid once per engineer token, not once per review. Keyed by
// the SHA-256 of the engineer's token, bounded (oldest forgotten first); a refusal or an
// answer without expires_in is never cached. The engineer's token itself is still verified by
// the runtime on every request before this is reached.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ReviewError } from "./errors.ts";
import { postWithFetch, postWithUndici, type PostAnswer } from "./http-post.ts";

export const TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

export interface DelegationOptions {
  /** The identity provider's token endpoint, e.g. http://127.0.0.1:8090/oauth/token */
  tokenUrl: string;
  /** This runtime's OAuth client id: the agent it acts as ("change-reviewer"). */
  clientId: string;
  /** Reads the client secret (default: the file given as clientSecretFile). */
  clientSecret: () => Promise<string>;
  /** The audience to ask for: the gateway's ("zyx-agent-gateway"). */
  audience: string;
  /** Abort an exchange after this many milliseconds (default 5000). */
  timeoutMs?: number;
  /** Calls through this fetch instead of undici's request (tests, in-process apps). */
  fetch?: typeof fetch;
  /** Reuse delegated tokens (see the header); absent: every review exchanges. */
  cache?: { maxEntries: number };
  /** Clock in epoch milliseconds (default Date.now); tests move it. */
  now?: () => number;
}

/** A cached delegated token is not used once it has less than this left to live. */
export const REUSE_MARGIN_SEC = 60;

export interface Delegation {
  /** A delegated access token for the gateway, in exchange for the engineer's token. */
  readonly exchange: (subjectToken: string) => Promise<string>;
}

const TokenResponse = z.looseObject({
  access_token: z.string().min(1),
  issued_token_type: z.literal(ACCESS_TOKEN_TYPE),
  token_type: z.string().refine((type) => /^(bearer|n_a)$/i.test(type), "Bearer or N_A"),
  expires_in: z.number().optional(),
});

const OAuthErrorBody = z.looseObject({
  error: z.string(),
  error_description: z.string().optional(),
});

/** Reads a secret file: its content without the trailing newline; refuses an empty one. */
export function secretFromFile(path: string): () => Promise<string> {
  if (typeof path !== "string" || path === "") throw new TypeError('"path" must be a file path');
  return async () => {
    const secret = (await readFile(path, "utf8")).replace(/\r?\n$/, "");
    if (secret === "") throw new Error(`${path} is empty`);
    return secret;
  };
}

/** application/x-www-form-urlencoded, as RFC 6749 section 2.3.1 wants for Basic credentials. */
function formEncode(text: string): string {
  return encodeURIComponent(text).replaceAll("%20", "+");
}

export function createDelegation(options: DelegationOptions): Delegation {
  let tokenUrl: URL;
  try {
    tokenUrl = new URL(options.tokenUrl);
  } catch {
    throw new TypeError(`"tokenUrl" must be an absolute URL: ${options.tokenUrl}`);
  }
  if (tokenUrl.protocol !== "http:" && tokenUrl.protocol !== "https:") {
    throw new TypeError(`"tokenUrl" must be http or https: ${options.tokenUrl}`);
  }
  if (typeof options.clientId !== "string" || options.clientId === "") {
    throw new TypeError('"clientId" must be a non-empty string');
  }
  if (typeof options.clientSecret !== "function") {
    throw new TypeError('"clientSecret" must be a function');
  }
  if (typeof options.audience !== "string" || options.audience === "") {
    throw new TypeError('"audience" must be a non-empty string');
  }
  const timeoutMs = options.timeoutMs ?? 5_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) {
    throw new TypeError('"timeoutMs" must be an integer from 100 to 60000');
  }
  const post = options.fetch === undefined ? postWithUndici : postWithFetch(options.fetch);

  const exchange = async (subjectToken: string): Promise<{ token: string; expiresIn?: number }> => {
    {
      let secret: string;
      try {
        secret = await options.clientSecret();
      } catch (error) {
        throw new ReviewError("delegation_failed", "the agent's client secret cannot be read", {
          cause: error,
        });
      }
      const credentials = Buffer.from(
        `${formEncode(options.clientId)}:${formEncode(secret)}`,
      ).toString("base64");
      let response: PostAnswer;
      try {
        response = await post(
          tokenUrl.href,
          {
            authorization: `Basic ${credentials}`,
            "content-type": "application/x-www-form-urlencoded",
            accept: "application/json",
          },
          new URLSearchParams({
            grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
            subject_token: subjectToken,
            subject_token_type: ACCESS_TOKEN_TYPE,
            audience: options.audience,
          }).toString(),
          timeoutMs,
        );
      } catch (error) {
        throw new ReviewError(
          "identity_provider_unavailable",
          "the identity provider could not be reached for the token exchange",
          { cause: error },
        );
      }
      const { body } = response;
      if (response.status === 200) {
        const parsed = TokenResponse.safeParse(body);
        if (!parsed.success) {
          throw new ReviewError(
            "delegation_failed",
            "the identity provider's token response is not an RFC 8693 access token response",
          );
        }
        const { access_token: token, expires_in: expiresIn } = parsed.data;
        return expiresIn === undefined ? { token } : { token, expiresIn };
      }
      if (response.status >= 500) {
        throw new ReviewError(
          "identity_provider_unavailable",
          `the identity provider failed the token exchange (HTTP ${response.status})`,
        );
      }
      const error = OAuthErrorBody.safeParse(body);
      const oauth = error.success ? error.data : { error: `http_${response.status}` };
      const description = oauth.error_description ?? oauth.error;
      // invalid_grant: the engineer's token cannot be delegated (expired, already delegated,
      // may_act naming someone else). Anything else is this runtime's configuration.
      if (oauth.error === "invalid_grant") {
        throw new ReviewError(
          "delegation_refused",
          `the identity provider refused to let the agent act for you: ${description}`,
          { extensions: { oauth_error: oauth.error } },
        );
      }
      throw new ReviewError(
        "delegation_failed",
        `the identity provider refused the agent's token exchange: ${description}`,
        { extensions: { oauth_error: oauth.error } },
      );
    }
  };
  return { exchange: cachedExchange(exchange, options) };
}

function cachedExchange(
  exchange: (subjectToken: string) => Promise<{ token: string; expiresIn?: number }>,
  options: Pick<DelegationOptions, "cache" | "now">,
): (subjectToken: string) => Promise<string> {
  if (options.cache === undefined) return async (subject) => (await exchange(subject)).token;
  const { maxEntries } = options.cache;
  if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > 1_000_000) {
    throw new TypeError('"cache.maxEntries" must be an integer from 1 to 1000000');
  }
  const now = options.now ?? Date.now;
  const cache = new Map<string, { token: string; usableUntil: number }>();
  return async (subjectToken) => {
    const key = createHash("sha256").update(subjectToken).digest("base64url");
    const cached = cache.get(key);
    if (cached !== undefined && now() < cached.usableUntil) return cached.token;
    cache.delete(key);
    const { token, expiresIn } = await exchange(subjectToken);
    if (expiresIn !== undefined && expiresIn > REUSE_MARGIN_SEC) {
      while (cache.size >= maxEntries) {
        const oldest = cache.keys().next();
        if (oldest.done === true) break;
        cache.delete(oldest.value);
      }
      cache.set(key, { token, usableUntil: now() + (expiresIn - REUSE_MARGIN_SEC) * 1000 });
    }
    return token;
  };
}
