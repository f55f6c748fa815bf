// The gateway's face of the shared JWT plumbing (common/jwks.ts): the same checks, with an
// unreachable key set turned into the gateway's own identity_provider_unavailable error.
import {
  createJwtChecker,
  KeySetUnavailableError,
  type JwtChecker,
  type TokenVerifierOptions,
} from "../../../common/jwks.ts";
import { GatewayError } from "../lib/errors.ts";

export function createGatewayJwtChecker(
  options: TokenVerifierOptions,
  typ: string,
  label: string,
): JwtChecker {
  const check = createJwtChecker(options, typ, label);
  const unavailable = (error: unknown): unknown =>
    error instanceof KeySetUnavailableError
      ? new GatewayError("identity_provider_unavailable", error.message, { cause: error })
      : error;
  return Object.assign(
    async (token: string) => {
      try {
        return await check(token);
      } catch (error) {
        throw unavailable(error);
      }
    },
    {
      stillTrusted: async (...args: Parameters<JwtChecker["stillTrusted"]>) => {
        try {
          return await check.stillTrusted(...args);
        } catch (error) {
          throw unavailable(error);
        }
      },
    },
  );
}
