// What a failed fetch says about whether the request reached the server, for the real adapters'
// retry rules: a write whose outcome is unknown (an error status, a connection lost after the
// request went out) is never sent twice; one that never left this machine may be.
//
// Invariant: only the codes below count as "never sent"; anything unknown counts as "maybe sent".
import { causeCodes } from "../../../common/error-codes.ts";
import { ConnectorError, type ConnectorErrorCode } from "./port.ts";

/** Network failures where the request never reached the server: safe to retry for any method. */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** The system error code under a fetch failure (`TypeError("fetch failed")` with `cause.code`). */
export function networkCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const cause: unknown = error.cause;
  if (typeof cause === "object" && cause !== null) {
    const code = (cause as Record<string, unknown>)["code"];
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * Whether a failure shows the request never reached the server: a never-sent code on the error,
 * down its causes, or under a client's wrapped original (common/error-codes.ts).
 */
export function neverSent(error: unknown): boolean {
  return causeCodes(error).some((code) => NOT_SENT_CODES.has(code));
}

/** Connector codes that say the system refused the request: nothing was applied. */
const REFUSED: ReadonlySet<ConnectorErrorCode> = new Set([
  "connector_unauthorized",
  "connector_forbidden",
  "connector_not_found",
  "connector_rate_limited",
  "connector_rejected",
]);

/**
 * Whether a failed WRITE certainly did not take effect: the system refused it (401, 403, 404,
 * 400/409/422, 429), shed it (503: Atlassian and Slack only; EC2's throttling is already
 * connector_rate_limited, and its other 503s, "Unavailable", may follow a change it applied), or
 * the request never left this machine. Anything else (no
 * answer in time, another 5xx, a connection lost once sent, an answer that cannot be read, an
 * error that is not a connector's) leaves its effect unknown: the worker says so
 * (tool_outcome_unknown) and a person checks.
 */
export function writeNotApplied(error: unknown): boolean {
  if (!(error instanceof ConnectorError)) return false;
  if (REFUSED.has(error.code)) return true;
  if (error.code !== "connector_unavailable") return false;
  if (error.status === 503) return error.connector !== "aws";
  return error.status === undefined && neverSent(error.cause);
}
