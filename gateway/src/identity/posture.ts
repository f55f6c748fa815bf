// Verifies device-posture tokens: JWTs ("typ": "posture+jwt") signed by the device-trust service
// with its own keys, saying whether the user's device was compliant when it was checked. Only the
// JWT's own validity is judged here; whether the check is recent enough is the policy's call,
// from `checkedAt`.
import { GatewayError } from "../lib/errors.ts";
import { checkClockTolerance, checkMaxTokenAge, POSTURE_TOKEN_TYP } from "../../../common/jwks.ts";
import { createGatewayJwtChecker } from "./jwt-checker.ts";
import { VerifiedTokenCache, cacheableUntil, tokenDigest, type Verified } from "./token-cache.ts";
import type { PostureVerifier, PostureVerifierOptions, VerifiedPosture } from "./types.ts";

export { POSTURE_TOKEN_TYP };

export function createPostureVerifier(options: PostureVerifierOptions): PostureVerifier {
  const check = createGatewayJwtChecker(options, POSTURE_TOKEN_TYP, "device-trust");
  const tolerance = checkClockTolerance(options.clockToleranceSec);
  const maxTokenAge = checkMaxTokenAge(options.maxTokenAgeSec);
  const clock = options.now ?? (() => Date.now() / 1000);

  const cache =
    options.cache === undefined
      ? undefined
      : new VerifiedTokenCache<Verified<VerifiedPosture>>(options.cache.maxEntries, (entry) => ({
          ...entry,
          value: { ...entry.value },
        }));

  function invalid(reason: string): GatewayError {
    return new GatewayError("posture_invalid", `posture token rejected: ${reason}`);
  }

  function bound(posture: VerifiedPosture, expectedSubject: string): VerifiedPosture {
    if (posture.subject !== expectedSubject) {
      throw new GatewayError(
        "posture_subject_mismatch",
        "posture token is for another subject than the access token",
      );
    }
    return posture;
  }

  return {
    async verify(token, expectedSubject) {
      if (token === undefined || token === "") {
        throw new GatewayError("posture_missing", "no device posture token");
      }
      const key = cache === undefined ? "" : tokenDigest(token);
      const cached = cache?.get(key, clock());
      // Served only while the key that verified it is still the issuer's (not withdrawn).
      if (cached !== undefined && (await check.stillTrusted(cached.header, cached.key))) {
        return bound(cached.value, expectedSubject);
      }
      const outcome = await check(token);
      if (!outcome.ok) throw invalid(outcome.reason);
      const { sub, compliant, checked_at: checkedAt, device_id: deviceId } = outcome.payload;
      if (typeof sub !== "string" || sub === "") {
        throw invalid('"sub" claim must be a non-empty string');
      }
      if (compliant === undefined) throw invalid('missing "compliant" claim');
      if (typeof compliant !== "boolean") throw invalid('"compliant" claim must be a boolean');
      if (checkedAt === undefined) throw invalid('missing "checked_at" claim');
      if (typeof checkedAt !== "number" || !Number.isFinite(checkedAt) || checkedAt < 0) {
        throw invalid('"checked_at" claim must be a NumericDate (epoch seconds)');
      }
      // A check "from the future" would look fresh forever to the policy's staleness rule.
      if (checkedAt > clock() + tolerance) throw invalid('"checked_at" claim is in the future');
      if (deviceId !== undefined && typeof deviceId !== "string") {
        throw invalid('"device_id" claim must be a string');
      }
      const posture: VerifiedPosture = {
        subject: sub,
        compliant,
        checkedAt,
        ...(deviceId === undefined ? {} : { deviceId }),
      };
      const { exp, iat } = outcome.payload;
      // Cached no longer than the uncached path would take it (exp, and the token's age bound).
      if (cache !== undefined && typeof exp === "number") {
        cache.set(
          key,
          { value: posture, header: outcome.header, key: outcome.key },
          cacheableUntil(exp, iat, maxTokenAge),
        );
      }
      return bound(posture, expectedSubject);
    },
  };
}
