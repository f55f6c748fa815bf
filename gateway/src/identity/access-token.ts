// Verifies the OAuth access tokens (RFC 9068 JWTs, "typ": "at+jwt") that agents present on behalf
// of a user, and extracts who the user is and which agent acts for them (RFC 8693 "act").
import type { JWTPayload } from "jose";
import { normalizeEmail } from "../../../common/identity.ts";
import { GatewayError } from "../lib/errors.ts";
import { ACCESS_TOKEN_TYP, checkMaxTokenAge, checkNonEmptyString } from "../../../common/jwks.ts";
import { createGatewayJwtChecker } from "./jwt-checker.ts";
import {
  MAX_CACHE_ENTRIES,
  VerifiedTokenCache,
  cacheableUntil,
  tokenDigest,
  type Verified,
} from "./token-cache.ts";
import {
  IDENTITY_LIMITS,
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  type VerifiedPrincipal,
} from "./types.ts";

export { ACCESS_TOKEN_TYP };
export const DEFAULT_GROUPS_CLAIM = "groups";
export { MAX_CACHE_ENTRIES };

/**
 * The token in an Authorization header value: "Bearer <token>" (scheme case-insensitive).
 * Throws token_missing when the header is absent, empty or of another shape.
 */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === "") {
    throw new GatewayError("token_missing", "no Authorization header");
  }
  const match = /^Bearer +([^\s]+)$/i.exec(header.trim());
  if (match?.[1] === undefined) {
    throw new GatewayError("token_missing", 'Authorization header is not "Bearer <token>"');
  }
  return match[1];
}

export function createAccessTokenVerifier(
  options: AccessTokenVerifierOptions,
): AccessTokenVerifier {
  const check = createGatewayJwtChecker(options, ACCESS_TOKEN_TYP, "identity provider");
  const maxTokenAge = checkMaxTokenAge(options.maxTokenAgeSec);
  const groupsClaim = checkNonEmptyString(
    "groupsClaim",
    options.groupsClaim ?? DEFAULT_GROUPS_CLAIM,
  );
  const clock = options.now ?? (() => Date.now() / 1000);
  const cache =
    options.cache === undefined
      ? undefined
      : new VerifiedTokenCache<Verified<VerifiedPrincipal>>(options.cache.maxEntries, (entry) => ({
          ...entry,
          value: copy(entry.value),
        }));

  /** The principal, and until when it may be cached: exp, or when the token grows too old. */
  async function verifyUncached(token: string): Promise<[Verified<VerifiedPrincipal>, number]> {
    const outcome = await check(token);
    if (!outcome.ok) {
      throw new GatewayError(outcome.expired ? "token_expired" : "token_invalid", outcome.reason);
    }
    const principal = principalFrom(outcome.payload, groupsClaim);
    return [
      { value: principal, header: outcome.header, key: outcome.key },
      cacheableUntil(principal.expiresAt, outcome.payload.iat, maxTokenAge),
    ];
  }

  return {
    async verify(token) {
      if (typeof token !== "string" || token === "") {
        throw new GatewayError("token_missing", "no access token");
      }
      if (cache === undefined) return (await verifyUncached(token))[0].value;
      const key = tokenDigest(token);
      const cached = cache.get(key, clock());
      // Served only while the key that verified it is still the issuer's (not withdrawn).
      if (cached !== undefined && (await check.stillTrusted(cached.header, cached.key))) {
        return cached.value;
      }
      const [verified, usableUntil] = await verifyUncached(token);
      cache.set(key, verified, usableUntil);
      return copy(verified.value);
    },
  };
}

function principalFrom(payload: JWTPayload, groupsClaim: string): VerifiedPrincipal {
  const { sub, exp, jti, email, act } = payload;
  // jwtVerify has required "sub" and "exp" to be present and "exp" to be a number.
  if (typeof sub !== "string" || sub === "") {
    throw new GatewayError("token_invalid", '"sub" claim must be a non-empty string');
  }
  if (sub.length > IDENTITY_LIMITS.subject) {
    throw new GatewayError(
      "token_invalid",
      `"sub" claim must be at most ${String(IDENTITY_LIMITS.subject)} characters`,
    );
  }
  // Bounded in its normal form (trimmed, NFC, lower case: what everything downstream keeps),
  // which can be empty ("   ") or longer than what was sent ("İ" lower-cases to two).
  const normalEmail = typeof email === "string" ? normalizeEmail(email) : undefined;
  if (
    normalEmail !== undefined &&
    (normalEmail === "" || normalEmail.length > IDENTITY_LIMITS.email)
  ) {
    throw new GatewayError(
      "token_invalid",
      `"email" claim must be 1 to ${String(IDENTITY_LIMITS.email)} characters`,
    );
  }
  if (typeof exp !== "number") {
    throw new GatewayError("token_invalid", '"exp" claim must be a number');
  }
  const groups = payload[groupsClaim];
  if (groups === undefined) {
    throw new GatewayError("token_invalid", `missing "${groupsClaim}" claim`);
  }
  if (!Array.isArray(groups) || !groups.every((group) => typeof group === "string")) {
    throw new GatewayError("token_invalid", `"${groupsClaim}" claim must be an array of strings`);
  }
  checkGroupBounds(groups, groupsClaim);
  const agent = actingAgent(act);
  if (agent === undefined) {
    throw new GatewayError("token_agent_missing", "token has no acting agent (act.sub)");
  }
  if (agent.length > IDENTITY_LIMITS.agent) {
    throw new GatewayError(
      "token_invalid",
      `"act.sub" claim must be at most ${String(IDENTITY_LIMITS.agent)} characters`,
    );
  }
  return {
    subject: sub,
    // One normal form for every comparison downstream (common/identity.ts).
    ...(normalEmail === undefined ? {} : { email: normalEmail }),
    groups: [...groups],
    agent,
    ...(typeof jti === "string" ? { tokenId: jti } : {}),
    expiresAt: exp,
  };
}

function checkGroupBounds(groups: readonly string[], claim: string): void {
  const { groups: most, group: longest } = IDENTITY_LIMITS;
  if (groups.length > most || groups.some((g) => g === "" || g.length > longest)) {
    throw new GatewayError(
      "token_invalid",
      `"${claim}" claim must hold at most ${String(most)} groups of 1 to ${String(longest)} characters`,
    );
  }
}

function actingAgent(act: unknown): string | undefined {
  if (typeof act !== "object" || act === null || !("sub" in act)) return undefined;
  return typeof act.sub === "string" && act.sub !== "" ? act.sub : undefined;
}

function copy(principal: VerifiedPrincipal): VerifiedPrincipal {
  return { ...principal, groups: [...principal.groups] };
}
