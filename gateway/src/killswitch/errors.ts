// The kill switch's own error codes. They are not in the gateway's closed union
// (gateway/src/lib/errors.ts) yet; the admin routes turn them into RFC 9457 problem documents of
// the same shape, with the HTTP status fixed here, once. Extend, never rename.

export const KILL_SWITCH_ERROR_STATUS = {
  /** The caller is authenticated but in none of the admin groups. */
  admin_forbidden: 403,
  /** No such scope (the URL's {scope}, or the service's scope argument). */
  kill_switch_scope_unknown: 404,
  /** The value is missing, not allowed for the scope, malformed, or not in the catalog. */
  kill_switch_value_invalid: 400,
  /** The reason is missing, empty, or longer than 500 characters. */
  kill_switch_reason_invalid: 400,
  /** The `by` of a change is missing, empty, or longer than 320 characters. */
  kill_switch_actor_invalid: 400,
  /** The audit record of a change could not be written: nothing changed. */
  audit_unavailable: 503,
  /** The state file could not be read or written: nothing changed. */
  kill_switch_unavailable: 503,
  /** The change is saved in the state file but the policy engine did not take it. */
  kill_switch_apply_failed: 503,
  /** The state file exists but is not a valid kill-switch state: the gateway refuses to start. */
  kill_switch_state_corrupt: 500,
} as const satisfies Record<string, number>;

export type KillSwitchErrorCode = keyof typeof KILL_SWITCH_ERROR_STATUS;

export const KILL_SWITCH_ERROR_TITLES: Record<KillSwitchErrorCode, string> = {
  admin_forbidden: "Not a security administrator",
  kill_switch_scope_unknown: "Unknown kill-switch scope",
  kill_switch_value_invalid: "Invalid kill-switch value",
  kill_switch_reason_invalid: "Invalid reason",
  kill_switch_actor_invalid: "Invalid actor",
  audit_unavailable: "Audit log unavailable",
  kill_switch_unavailable: "Kill-switch state unavailable",
  kill_switch_apply_failed: "Kill switch not applied to the policy",
  kill_switch_state_corrupt: "Kill-switch state file corrupt",
};

export class KillSwitchError extends Error {
  readonly code: KillSwitchErrorCode;
  readonly status: number;
  /** Extension members of the problem document (version, applied_version...). */
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(
    code: KillSwitchErrorCode,
    message: string,
    options: { cause?: unknown; extensions?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "KillSwitchError";
    this.code = code;
    this.status = KILL_SWITCH_ERROR_STATUS[code];
    this.extensions = options.extensions ?? {};
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
