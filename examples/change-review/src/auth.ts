// Who is asking for a review: the engineer's own access token (RFC 9068, "typ": "at+jwt"),
// issued by the identity provider for this service (audience "zyx-change-review"), verified with
// jose against the provider's key set: signature, algorithm allow-list, issuer, audience, exp,
// nbf, sub. It names the engineer, not an agent: a token that already carries "act" is an
// agent's and is refused. Headers such as x-user-email or x-user-groups are never read.
import {
  ACCESS_TOKEN_TYP,
  createJwtChecker,
  KeySetUnavailableError,
  MAX_TOKEN_LENGTH,
  type KeySource,
} from "../../../common/jwks.ts";
import { ReviewError } from "./errors.ts";

export const ENGINEER_TOKEN_TYP = ACCESS_TOKEN_TYP;

/** The token of an Authorization header value: "Bearer <token>" (scheme case-insensitive). */
function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === "") {
    throw new ReviewError("token_missing", "no Authorization header");
  }
  const match = /^Bearer +([^\s]+)$/i.exec(header.trim());
  if (match?.[1] === undefined) {
    throw new ReviewError("token_missing", 'Authorization header is not "Bearer <token>"');
  }
  return match[1];
}

export interface Engineer {
  subject: string;
  email?: string;
  /** The compact token, for the token exchange. */
  token: string;
}

export interface EngineerVerifierOptions {
  /** "iss" of the engineer's tokens (the identity provider). */
  issuer: string;
  /** This service's identifier: "zyx-change-review". */
  audience: string;
  /** The identity provider's key set: its JWKS URL, or keys given directly (tests). */
  keys: KeySource;
  algorithms?: readonly string[];
  /** Leeway for exp and nbf, seconds (default 30). */
  clockToleranceSec?: number;
  /** The clock, epoch seconds (tests freeze it). */
  now?: () => number;
}

export interface EngineerVerifier {
  /** Verifies an Authorization header value; throws ReviewError (token_*, identity_*). */
  readonly verify: (authorization: string | undefined) => Promise<Engineer>;
}

export function createEngineerVerifier(options: EngineerVerifierOptions): EngineerVerifier {
  const check = createJwtChecker(
    {
      issuer: options.issuer,
      audience: options.audience,
      keys: options.keys,
      ...(options.algorithms === undefined ? {} : { algorithms: options.algorithms }),
      ...(options.clockToleranceSec === undefined
        ? {}
        : { clockToleranceSec: options.clockToleranceSec }),
      ...(options.now === undefined ? {} : { now: options.now }),
    },
    ENGINEER_TOKEN_TYP,
    "identity provider",
  );

  return {
    async verify(authorization) {
      const token = bearerToken(authorization);
      if (token.length > MAX_TOKEN_LENGTH) {
        throw new ReviewError("token_invalid", "token is too long");
      }
      let outcome;
      try {
        outcome = await check(token);
      } catch (error) {
        if (error instanceof KeySetUnavailableError) {
          throw new ReviewError("identity_provider_unavailable", error.message, { cause: error });
        }
        throw error;
      }
      if (!outcome.ok) {
        throw new ReviewError(outcome.expired ? "token_expired" : "token_invalid", outcome.reason);
      }
      const { sub, email, act } = outcome.payload;
      if (typeof sub !== "string" || sub === "") {
        throw new ReviewError("token_invalid", '"sub" claim must be a non-empty string');
      }
      if (act !== undefined) {
        throw new ReviewError(
          "token_invalid",
          'the token already names an acting agent ("act"): present your own access token',
        );
      }
      return { subject: sub, ...(typeof email === "string" ? { email } : {}), token };
    },
  };
}
