// The kill switch's error codes: a subset of the gateway's one closed union (lib/errors.ts), whose
// table gives each its status and title. A KillSwitchError is a GatewayError, rendered by the
// app's one error handler. Extend, never rename.
import { GatewayError } from "../lib/errors.ts";

export const KILL_SWITCH_ERROR_CODES = [
  /** The caller is authenticated but in none of the admin groups. */
  "admin_forbidden",
  /** No such scope (the URL's {scope}, or the service's scope argument). */
  "kill_switch_scope_unknown",
  /** The value is missing, not allowed for the scope, malformed, or not in the catalog. */
  "kill_switch_value_invalid",
  /** The reason is missing, empty, or longer than 500 characters. */
  "kill_switch_reason_invalid",
  /** The `by` of a change is missing, empty, or longer than 320 characters. */
  "kill_switch_actor_invalid",
  /** The audit record of a change could not be written: nothing changed. */
  "audit_unavailable",
  /** The state file could not be read or written: nothing changed. */
  "kill_switch_unavailable",
  /** The change is saved in the state file but the policy engine did not take it. */
  "kill_switch_apply_failed",
  /** The state file exists but is not a valid kill-switch state: the gateway refuses to start. */
  "kill_switch_state_corrupt",
] as const;

export type KillSwitchErrorCode = (typeof KILL_SWITCH_ERROR_CODES)[number];

/** Extension members of its problem document: version, applied_version... */
export class KillSwitchError extends GatewayError {
  declare readonly code: KillSwitchErrorCode;

  constructor(
    code: KillSwitchErrorCode,
    message: string,
    options: { cause?: unknown; extensions?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.name = "KillSwitchError";
  }
}

export function isKillSwitchError(value: unknown): value is KillSwitchError {
  return value instanceof KillSwitchError;
}

/** A short description of anything thrown, for messages. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === "string") return thrown;
  return "unknown error";
}
