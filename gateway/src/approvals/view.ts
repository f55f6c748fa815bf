// What a caller sees of an approval request (its API view): everything an approver and the
// requesting agent need, never the store's version counter or transition internals.
import type { ApprovalRequest } from "./request.ts";

export function approvalView(request: ApprovalRequest): Record<string, unknown> {
  return {
    approval_id: request.id,
    status: request.status,
    status_url: `/v1/approvals/${request.id}`,
    tool: request.tool,
    arguments: request.arguments,
    arguments_digest: request.arguments_digest,
    requester: request.requester,
    agent: request.agent,
    session_id: request.session_id,
    risk_score: request.risk_score,
    approvers_required: request.approvers_required,
    approver_groups: request.approver_groups,
    fallback_groups: request.fallback_groups,
    approvals: request.approvals.map((a) => ({ subject: a.subject, at: a.at })),
    // As approvals: who and when (and why), never the person's groups.
    ...(request.denial === undefined
      ? {}
      : {
          denial: {
            subject: request.denial.subject,
            reason: request.denial.reason,
            at: request.denial.at,
          },
        }),
    created_at: request.created_at,
    expires_at: request.expires_at,
    decision_id: request.decision_id,
    trace_id: request.trace_id,
    ...(request.result === undefined ? {} : { result: request.result }),
    ...(request.mode === undefined ? {} : { mode: request.mode }),
    ...(request.compensation === undefined ? {} : { compensation: request.compensation }),
    ...(request.compensation_result === undefined
      ? {}
      : { compensation_result: request.compensation_result }),
  };
}
