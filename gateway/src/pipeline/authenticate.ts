// Step 1 of every route: who is calling. The verified access token (with its acting agent),
// then the signed device posture for the same subject. Never plain headers.
//
// Failure modes, each a GatewayError thrown before anything else happens: token_* and
// posture_* (401), identity_provider_unavailable (503). `requireHumanConsole` is the extra rule
// of approving and administering: people do them through a human console, never an AI agent.
import { bearerToken } from "../identity/access-token.ts";
import type { VerifiedPosture, VerifiedPrincipal } from "../identity/types.ts";
import { GatewayError } from "../lib/errors.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import type { Credentials, GatewayPorts } from "./context.ts";

export interface Caller {
  principal: VerifiedPrincipal;
  posture: VerifiedPosture;
}

export async function verifyCaller(
  ports: Pick<GatewayPorts, "accessTokens" | "posture">,
  credentials: Credentials,
): Promise<Caller> {
  const principal = await ports.accessTokens.verify(bearerToken(credentials.authorization));
  const posture = await ports.posture.verify(credentials.posture, principal.subject);
  return { principal, posture };
}

/**
 * The one freshness rule for a posture, as the policy applies it to tool calls (posture
 * max_age_seconds, future_skew_seconds): for the routes people use without a policy decision
 * (approving, administering). No policy data: no rule to apply, so refused (fail closed).
 */
export function requireFreshPosture(
  policy: Pick<PolicyEngine, "data">,
  posture: VerifiedPosture,
  nowSec: number,
): void {
  const rule = policy.data?.zyx.config["posture"] as
    { max_age_seconds?: unknown; future_skew_seconds?: unknown } | undefined;
  const maxAge = rule?.max_age_seconds;
  const skew = rule?.future_skew_seconds;
  if (typeof maxAge !== "number" || typeof skew !== "number") {
    throw new GatewayError("policy_unavailable", "no posture rule loaded: nothing was changed");
  }
  const age = nowSec - posture.checkedAt;
  if (age > maxAge) {
    throw new GatewayError(
      "device_posture_stale",
      `device posture is older than ${String(maxAge)} seconds`,
    );
  }
  if (age < -skew) {
    throw new GatewayError("device_posture_stale", "device posture check time is in the future");
  }
}

/** Throws console_required unless the acting party is one of the policy's human consoles. */
export function requireHumanConsole(
  policy: Pick<PolicyEngine, "data">,
  principal: { agent: string },
): void {
  const consoles = policy.data?.zyx.config["human_consoles"];
  if (!Array.isArray(consoles) || !consoles.includes(principal.agent)) {
    throw new GatewayError(
      "console_required",
      `${principal.agent} is not a human console: an agent cannot approve or administer`,
    );
  }
}
