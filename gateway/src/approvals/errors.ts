// Why an approval operation was refused or could not be carried out. Each code is stable and
// belongs to the gateway's one closed union (lib/errors.ts), whose table gives its status and
// title: an ApprovalError is a GatewayError, rendered by the app's one error handler.
import { GatewayError } from "../lib/errors.ts";

export const APPROVAL_ERROR_CODES = [
  // refusals: the request or the approver does not allow the operation
  "approval_not_found",
  "approval_not_open",
  "approval_not_approved",
  "approval_not_executing",
  "approval_already_executed",
  "approval_arguments_mismatch",
  "approver_not_eligible",
  "approver_is_requester",
  "approver_already_approved",
  "approver_device_not_compliant",
  "approval_not_yours",
  // the caller passed something that cannot become a request (a bug upstream)
  "approval_invalid",
  // the store
  "approval_already_exists",
  "approval_conflict",
  "approval_store_unavailable",
  "approval_store_corrupt",
  // the audit callback failed: the transition did not take effect
  "audit_unavailable",
] as const;

export type ApprovalErrorCode = (typeof APPROVAL_ERROR_CODES)[number];

export class ApprovalError extends GatewayError {
  declare readonly code: ApprovalErrorCode;

  constructor(code: ApprovalErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "ApprovalError";
  }
}

export function isApprovalError(value: unknown): value is ApprovalError {
  return value instanceof ApprovalError;
}

/** Describes anything thrown, for messages. */
export function describeError(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === "string") return thrown;
  return typeof thrown;
}
