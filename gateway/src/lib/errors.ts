// The gateway's closed union of error codes. Every failure the gateway returns is an RFC 9457
// problem document whose `code` is one of these, with the HTTP status fixed here, once.
// Extend, never rename: agent runtimes and scripts match on these strings.

export const ERROR_STATUS = {
  // request shape
  request_body_too_large: 413,
  request_malformed: 400,
  arguments_invalid: 400,
  tool_not_found: 404,
  route_not_found: 404,
  // identity (401 carries WWW-Authenticate)
  token_missing: 401,
  token_invalid: 401,
  token_expired: 401,
  token_agent_missing: 401,
  posture_missing: 401,
  posture_invalid: 401,
  posture_subject_mismatch: 401,
  identity_provider_unavailable: 503,
  // decision
  policy_denied: 403,
  approval_required: 403,
  policy_unavailable: 503,
  // audit
  audit_unavailable: 503,
  // human approval
  approval_not_found: 404,
  approval_not_open: 409,
  approval_not_approved: 409,
  approval_already_executed: 409,
  approval_arguments_mismatch: 409,
  approval_not_yours: 403,
  approver_not_eligible: 403,
  approver_is_requester: 403,
  approver_already_approved: 409,
  approver_device_not_compliant: 403,
  approval_conflict: 409,
  approval_store_unavailable: 503,
  // runaway-loop limits
  rate_limited: 429,
  // administration (the kill switch) and approvals: humans only
  console_required: 403,
  admin_forbidden: 403,
  kill_switch_scope_unknown: 404,
  kill_switch_value_invalid: 400,
  kill_switch_reason_invalid: 400,
  kill_switch_unavailable: 503,
  kill_switch_apply_failed: 503,
  // hand-off to the agent worker
  worker_failed: 502,
  worker_unavailable: 502,
  worker_timeout: 504,
  // anything else: a bug, never an allow
  internal_error: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export const ERROR_TITLES: Record<ErrorCode, string> = {
  request_body_too_large: "Request body too large",
  request_malformed: "Malformed request",
  arguments_invalid: "Invalid tool arguments",
  tool_not_found: "Unknown tool",
  route_not_found: "Not found",
  token_missing: "Access token missing",
  token_invalid: "Access token invalid",
  token_expired: "Access token expired",
  token_agent_missing: "No acting agent",
  posture_missing: "Device posture missing",
  posture_invalid: "Device posture invalid",
  posture_subject_mismatch: "Device posture for another subject",
  identity_provider_unavailable: "Identity provider unavailable",
  policy_denied: "Denied by policy",
  approval_required: "Approval required",
  policy_unavailable: "Policy unavailable",
  audit_unavailable: "Audit log unavailable",
  approval_not_found: "No such approval request",
  approval_not_open: "The approval request is closed",
  approval_not_approved: "The call is not approved",
  approval_already_executed: "The approved call already ran",
  approval_arguments_mismatch: "Not the approved arguments",
  approval_not_yours: "Not your approval request",
  approver_not_eligible: "Not an approver for this call",
  approver_is_requester: "Requesters cannot approve their own calls",
  approver_already_approved: "Already approved by you",
  approver_device_not_compliant: "Approval needs a compliant device",
  approval_conflict: "Approval request changed concurrently",
  approval_store_unavailable: "Approval store unavailable",
  rate_limited: "Too many calls",
  console_required: "Only a person, through a human console, may do this",
  admin_forbidden: "Not an administrator",
  kill_switch_scope_unknown: "Unknown kill-switch scope",
  kill_switch_value_invalid: "Invalid kill-switch value",
  kill_switch_reason_invalid: "A reason is required",
  kill_switch_unavailable: "Kill switch unavailable",
  kill_switch_apply_failed: "Kill switch saved but not applied",
  worker_failed: "Tool execution failed",
  worker_unavailable: "Agent worker unavailable",
  worker_timeout: "Agent worker timed out",
  internal_error: "Internal error",
};

/** An error with a stable `code` from the closed union (jose style: code + message). */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extension members of the problem document (reasons, decision_id, trace_id, issues...). */
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; extensions?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.extensions = options.extensions ?? {};
  }
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}
