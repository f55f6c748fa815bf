// The gateway's closed union of error codes, with each code's HTTP status and title in ONE table.
// Every failure that leaves the gateway is an RFC 9457 problem document (lib/problem.ts) whose
// `code` is one of these. Domain errors (approvals, kill switch) are GatewayErrors whose codes are
// a subset of this union, so one `onError` renders them all.
// Extend, never rename: agent runtimes and scripts match on these strings.

/** code → [HTTP status, title]. */
const ERRORS = {
  // request shape
  request_body_too_large: [413, "Request body too large"],
  request_malformed: [400, "Malformed request"],
  /** A body not declared `Content-Type: application/json` on a route that reads JSON. */
  request_media_type_unsupported: [415, "Unsupported media type"],
  arguments_invalid: [400, "Invalid tool arguments"],
  tool_not_found: [404, "Unknown tool"],
  route_not_found: [404, "Not found"],
  // identity (401 carries WWW-Authenticate)
  token_missing: [401, "Access token missing"],
  token_invalid: [401, "Access token invalid"],
  token_expired: [401, "Access token expired"],
  token_agent_missing: [401, "No acting agent"],
  posture_missing: [401, "Device posture missing"],
  posture_invalid: [401, "Device posture invalid"],
  posture_subject_mismatch: [401, "Device posture for another subject"],
  identity_provider_unavailable: [503, "Identity provider unavailable"],
  /** A person's device posture is older than the policy's posture.max_age_seconds (or ahead). */
  device_posture_stale: [403, "Device posture too old"],
  // decision
  policy_denied: [403, "Denied by policy"],
  approval_required: [403, "Approval required"],
  policy_unavailable: [503, "Policy unavailable"],
  // audit
  audit_unavailable: [503, "Audit log unavailable"],
  // human approval
  approval_not_found: [404, "No such approval request"],
  approval_not_open: [409, "The approval request is closed"],
  approval_not_approved: [409, "The call is not approved"],
  approval_not_executing: [409, "The approved call is not running"],
  approval_already_executed: [409, "The approved call already ran"],
  approval_arguments_mismatch: [409, "Not the approved arguments"],
  approval_not_yours: [403, "Not your approval request"],
  approver_not_eligible: [403, "Not an approver for this call"],
  approver_is_requester: [403, "Requesters cannot approve their own calls"],
  approver_already_approved: [409, "Already approved by you"],
  approver_device_not_compliant: [403, "Approval needs a compliant device"],
  approval_conflict: [409, "Approval request changed concurrently"],
  approval_already_exists: [409, "Approval request already exists"],
  approval_store_unavailable: [503, "Approval store unavailable"],
  approval_store_corrupt: [503, "Approval store corrupt"],
  /** The gateway handed the approval service something it cannot take: a bug, never an allow. */
  approval_invalid: [500, "Invalid approval operation"],
  // runaway-loop limits
  rate_limited: [429, "Too many calls"],
  /** The shared call-limit store (PostgreSQL, replicas) cannot be reached: refused, fail closed. */
  limits_unavailable: [503, "Call limits unavailable"],
  /** This user or agent already has as many calls waiting for approvers as it may. */
  approvals_pending_limit: [429, "Too many calls waiting for approval"],
  // administration (the kill switch) and approvals: humans only
  console_required: [403, "Only a person, through a human console, may do this"],
  admin_forbidden: [403, "Not a security administrator"],
  // the approver console (sign-in through the identity provider, a server-side session)
  console_sign_in_failed: [401, "Console sign-in failed"],
  console_session_missing: [401, "Not signed in to the console"],
  console_session_stale: [401, "Console session expired"],
  console_csrf_invalid: [403, "Form token invalid"],
  kill_switch_scope_unknown: [404, "Unknown kill-switch scope"],
  kill_switch_value_invalid: [400, "Invalid kill-switch value"],
  kill_switch_reason_invalid: [400, "Invalid reason"],
  kill_switch_actor_invalid: [400, "Invalid actor"],
  kill_switch_unavailable: [503, "Kill-switch state unavailable"],
  kill_switch_apply_failed: [503, "Kill switch not applied to the policy"],
  kill_switch_state_corrupt: [500, "Kill-switch state file corrupt"],
  // clearing a session or actor taint (/v1/admin/taints)
  /** An agent's clear could free sessions whose taint the store forgot at its bound. */
  taint_clear_refused: [409, "Taint clear refused"],
  /** The shared session signals (PostgreSQL) did not take the clear: nothing changed. */
  session_signals_unavailable: [503, "Session signals unavailable"],
  // hand-off to the agent worker
  worker_failed: [502, "Tool execution failed"],
  worker_unavailable: [502, "Agent worker unavailable"],
  worker_timeout: [504, "Agent worker timed out"],
  // anything else: a bug, never an allow
  internal_error: [500, "Internal error"],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export const ERROR_STATUS = Object.fromEntries(
  ERROR_CODES.map((code) => [code, ERRORS[code][0]]),
) as { readonly [C in ErrorCode]: (typeof ERRORS)[C][0] };

export const ERROR_TITLES = Object.fromEntries(
  ERROR_CODES.map((code) => [code, ERRORS[code][1]]),
) as Readonly<Record<ErrorCode, string>>;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERRORS, value);
}

/** An error with a stable `code` from the closed union (jose style: code + message). */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extension members of the problem document (reasons, decision_id, trace_id, issues...). */
  readonly extensions: Readonly<Record<string, unknown>>;
  /**
   * The refusal already has its audit record (the step that threw wrote one). An unrecorded
   * refusal of a verified caller gets one generic record from the route (refusals.ts).
   */
  recorded = false;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; extensions?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.status = ERRORS[code][0];
    this.extensions = options.extensions ?? {};
  }
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}

/** `error`, marked as already audited. */
export function recorded<E extends GatewayError>(error: E): E {
  error.recorded = true;
  return error;
}
