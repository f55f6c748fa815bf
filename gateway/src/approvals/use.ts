// Using an approval: may this caller execute this call under this approval request now?
//
// Invariants: an approval is used by the one who asked for it (same subject, same agent), in the
// session it was asked in (the session whose history the approvers were shown, and whose taint the
// policy weighed), for the same tool and exactly the approved arguments (their canonical digest), once (executing,
// executed and failed are final for use), only once approved, and within the execution window
// after the approvers decided. `executionRefusal` is the state check that claimForExecution
// applies again atomically in the store; `checkApprovalUse` adds the caller and the window for
// the pipeline's early check. Every refusal is an ApprovalError with a stable code; no check
// writes anything.
import { ApprovalError } from "./errors.ts";
import type { ApprovalRequest } from "./request.ts";

/** Why `request` cannot move to executing for arguments with `digest`; undefined when it can. */
export function executionRefusal(
  request: ApprovalRequest,
  digest: string,
): ApprovalError | undefined {
  const { id, status } = request;
  // A post-hoc review approves a call that already ran: it is never a licence to run it again.
  if (request.mode === "post_hoc") {
    return new ApprovalError(
      "approval_already_executed",
      `approval request ${id} reviews a call that already ran`,
    );
  }
  if (status === "executing" || status === "executed" || status === "failed") {
    return new ApprovalError(
      "approval_already_executed",
      `approval request ${id} was already claimed for execution (${status})`,
    );
  }
  if (digest !== request.arguments_digest) {
    return new ApprovalError(
      "approval_arguments_mismatch",
      `the arguments differ from the ones approved in request ${id}`,
    );
  }
  if (status !== "approved") {
    return new ApprovalError(
      "approval_not_approved",
      `approval request ${id} is ${status}, not approved`,
    );
  }
  return undefined;
}

export interface ApprovalUse {
  subject: string;
  agent: string;
  sessionId: string;
  tool: string;
  digest: string;
  nowMs: number;
  /** How long after the approvers' decision the approval may be used. */
  windowMs: number;
}

/** The approval request `call` may execute under, or the refusal (thrown). */
export function checkApprovalUse(
  request: ApprovalRequest | undefined,
  call: ApprovalUse,
): ApprovalRequest {
  if (request === undefined) {
    throw new ApprovalError("approval_not_found", "no such approval request");
  }
  if (request.requester.subject !== call.subject || request.agent !== call.agent) {
    throw new ApprovalError("approval_not_yours", "the approval was requested by someone else");
  }
  if (request.session_id !== call.sessionId) {
    throw new ApprovalError("approval_not_yours", "the approval was requested in another session");
  }
  if (request.tool !== call.tool) {
    throw new ApprovalError("approval_arguments_mismatch", "the approval is for another tool");
  }
  const refusal = executionRefusal(request, call.digest);
  if (refusal !== undefined) throw refusal;
  // An approval is for now, not for ever: it must be used within the approvers' window.
  const decidedAt = Date.parse(request.decided_at ?? request.created_at);
  if (call.nowMs > decidedAt + call.windowMs) {
    throw new ApprovalError("approval_not_open", "the approval is too old to use: ask again");
  }
  return request;
}
