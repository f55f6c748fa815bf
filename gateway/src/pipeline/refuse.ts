// Step 6b: the policy did not allow the call. Either it waits for humans (the only reason is
// that it needs approval, and this is not already an approved execution): a request bound to
// these exact arguments is opened, its records made durable, the approvers told, and the door
// answers 202; or it is refused: both records durable, then 403 with every reason.
//
// Every denial counts toward the agent's recent denials (a policy input) and, unless it only
// asked for approval, toward the automatic suspension of a runaway agent.
import { traceparentOf } from "../lib/trace.ts";
import { GatewayError, recorded } from "../lib/errors.ts";
import type { CallAnswer, Decided, GatewayPorts, PipelineRuntime } from "./context.ts";
import { appendDurable } from "./record.ts";
import { approvalView } from "../approvals/view.ts";

type RefusePorts = Pick<GatewayPorts, "sessions" | "denials" | "approvals" | "audit">;

function countDenial(ports: RefusePorts, runtime: PipelineRuntime, ctx: Decided): void {
  const { decision, principal } = ctx;
  ports.sessions.recordDenial(principal.agent, runtime.now());
  // Too many denials suspend the agent through the kill switch. Not awaited: the monitor
  // audits its own alert, and a failure to suspend is retried at the next denial.
  if (!decision.reasons.every((r) => r.code === "approval_required")) {
    ports.denials
      .recordDenial(principal.agent, { code: "policy_denied", decisionId: ctx.decisionId })
      .catch((error: unknown) => {
        runtime.log("error", "denial monitor failed", { error: String(error) });
      });
  }
}

async function awaitApproval(
  ports: RefusePorts,
  runtime: PipelineRuntime,
  ctx: Decided,
): Promise<CallAnswer> {
  const { decision, principal, decided } = ctx;
  await appendDurable(ports, decided);
  const request = await ports.approvals.request({
    tool: ctx.tool,
    arguments: ctx.args,
    requester: {
      subject: principal.subject,
      ...(principal.email === undefined ? {} : { email: principal.email }),
      groups: principal.groups,
    },
    agent: principal.agent,
    session_id: ctx.sessionId,
    workflow: ctx.workflow,
    policy_revision: decision.policy_revision,
    risk_score: decision.risk.score,
    approvers_required: decision.approval.approvers_required === 2 ? 2 : 1,
    approver_groups: decision.approval.approver_groups,
    fallback_groups: decision.approval.fallback_groups,
    decision_id: ctx.decisionId,
    trace_id: ctx.trace.traceId,
  });
  await appendDurable(ports, {
    ...decided,
    event: "outcome",
    outcome: { status: "pending_approval", http_status: 202 },
    details: { approval_id: request.id },
  });
  runtime.notifyApprovers(request, traceparentOf(ctx.trace));
  return {
    status: 202,
    location: `/v1/approvals/${request.id}`,
    body: {
      decision_id: ctx.decisionId,
      trace_id: ctx.trace.traceId,
      ...approvalView(request),
      reasons: decision.reasons,
      approval: decision.approval,
      risk: decision.risk,
    },
  };
}

/** The answer to a call the policy did not allow: 202 (waits for approval), or thrown 403. */
export async function refuse(
  ports: RefusePorts,
  runtime: PipelineRuntime,
  ctx: Decided,
): Promise<CallAnswer> {
  const { decision, decided } = ctx;
  countDenial(ports, runtime, ctx);
  const onlyApproval = decision.reasons.every((r) => r.code === "approval_required");
  if (onlyApproval && ctx.approved === undefined && decision.approval.approvers_required > 0) {
    return awaitApproval(ports, runtime, ctx);
  }
  const code = onlyApproval ? "approval_required" : "policy_denied";
  await Promise.all([
    appendDurable(ports, decided),
    appendDurable(ports, {
      ...decided,
      event: "outcome",
      outcome: { status: "denied", code, http_status: 403 },
    }),
  ]);
  throw recorded(
    new GatewayError(code, decision.reasons.map((r) => r.message).join("; "), {
      extensions: {
        decision_id: ctx.decisionId,
        trace_id: ctx.trace.traceId,
        reasons: decision.reasons,
        approval: decision.approval,
        risk: decision.risk,
      },
    }),
  );
}
