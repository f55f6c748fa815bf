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
import { appendDecision, appendDurable } from "./record.ts";
import type { ApprovalRequest } from "../approvals/request.ts";
import { approvalView } from "../approvals/view.ts";
import { epochMs } from "../approvals/request.ts";

type RefusePorts = Pick<
  GatewayPorts,
  "sessions" | "denials" | "approvals" | "audit" | "approvalPendingBounds"
>;

/**
 * Reasons about the user's own rights and device, and a plain wait for approval: evidence about
 * one user, not about the agent. Only the other reasons count toward suspending the agent, so a
 * user cannot switch an agent off for everyone by being refused.
 */
const ABOUT_THE_USER: ReadonlySet<string> = new Set([
  "user_not_in_group",
  "device_not_compliant",
  "device_posture_stale",
  "kill_switch_user",
  "approval_required",
]);

/** The reasons of ABOUT_THE_USER that refuse the call by themselves: the user may not call. */
const REFUSED_ON_THE_USER: ReadonlySet<string> = new Set(
  [...ABOUT_THE_USER].filter((code) => code !== "approval_required"),
);

/**
 * Reasons the kill switch itself gives (an administrator's stop, or the agent's own suspension):
 * not evidence of a runaway agent. Counted, an all-writes or connector stop would suspend every
 * agent that tried a write during it, and read-only mode would become a full stop; all of them
 * would stay suspended once the stop is lifted. Counted while a replica still runs a lifted
 * suspension (before its sync), they would suspend the agent again.
 */
const SET_BY_THE_KILL_SWITCH: ReadonlySet<string> = new Set([
  "kill_switch_all_writes",
  "kill_switch_connector",
  "kill_switch_workflow",
  "kill_switch_agent",
  "read_only_mode",
]);

function countDenial(ports: RefusePorts, runtime: PipelineRuntime, ctx: Decided): void {
  const { decision, principal } = ctx;
  // Recent denials are an input about this user's use of this agent: per user and agent.
  ports.sessions.recordDenial(ctx.actorKey, runtime.now());
  // Too many denials suspend the agent through the kill switch. Not awaited: the monitor
  // audits its own alert, and a failure to suspend is retried at the next denial.
  // A call refused on who the user is (their groups, device, or their own kill switch) is
  // refused whatever else it asks: its other reasons are that user's doing, not the agent's.
  // Counted, a user with no rights at all could switch the agent off for everyone.
  if (
    !decision.reasons.some((r) => REFUSED_ON_THE_USER.has(r.code)) &&
    decision.reasons.some((r) => !ABOUT_THE_USER.has(r.code) && !SET_BY_THE_KILL_SWITCH.has(r.code))
  ) {
    ports.denials
      .recordDenial(principal.agent, { code: "policy_denied", decisionId: ctx.decisionId })
      .catch((error: unknown) => {
        runtime.log("error", "denial monitor failed", { error: String(error) });
      });
  }
}

/**
 * Open requests read to count one user's or agent's waiting calls. Post-hoc reviews are left out
 * by the store (`waiting`): read here and dropped after, a few hundred open reviews would push
 * every waiting request past the scan, and the bounds would never be reached.
 */
const OPEN_SCAN = 500;

/**
 * An identical call (same requester, agent, session, tool and arguments) already waiting before
 * it runs, or undefined;
 * refuses (audited, with an alert) when this user or agent already has its bound waiting.
 */
async function waitingAlready(
  ports: RefusePorts,
  runtime: PipelineRuntime,
  ctx: Decided,
): Promise<ApprovalRequest | undefined> {
  const bounds = ports.approvalPendingBounds ?? { perUser: 5, perAgent: 20 };
  const { principal } = ctx;
  // Past its expiry but not yet swept: neither reused nor counted. A post-hoc review is open
  // too (for days) but its call ran: it waits for nobody, and is not counted.
  const waiting = (r: ApprovalRequest) =>
    r.mode !== "post_hoc" && epochMs(r.expires_at) > runtime.now();
  const mine = (
    await ports.approvals.listOpen(
      { requesterSubject: principal.subject, waiting: true },
      OPEN_SCAN,
    )
  ).filter(waiting);
  // The very call: same agent, session (an approval is used where it was asked), tool and
  // arguments, and waiting before it runs: a post-hoc review of a call that already ran is
  // never handed out as this call's approval.
  const same = mine.find(
    (r) =>
      r.mode !== "post_hoc" &&
      r.agent === principal.agent &&
      r.session_id === ctx.sessionId &&
      r.tool === ctx.tool &&
      r.arguments_digest === ctx.digest,
  );
  if (same !== undefined) return same;
  const agents = (
    await ports.approvals.listOpen({ agent: principal.agent, waiting: true }, OPEN_SCAN)
  ).filter(waiting);
  const over =
    mine.length >= bounds.perUser
      ? { scope: "user", limit: bounds.perUser }
      : agents.length >= bounds.perAgent
        ? { scope: "agent", limit: bounds.perAgent }
        : undefined;
  if (over === undefined) return undefined;
  const ids = { decision_id: ctx.decisionId, trace_id: ctx.trace.traceId };
  await appendDurable(ports, {
    ...ctx.followUp,
    event: "alert",
    outcome: { status: "refused", code: "approvals_pending_limit", http_status: 429 },
    details: { kind: "approval_request_spike", ...over },
  });
  throw recorded(
    new GatewayError(
      "approvals_pending_limit",
      `this ${over.scope} already has ${String(over.limit)} calls waiting for approval`,
      { extensions: { ...ids, ...over } },
    ),
  );
}

async function awaitApproval(
  ports: RefusePorts,
  runtime: PipelineRuntime,
  ctx: Decided,
): Promise<CallAnswer> {
  const { decision, principal } = ctx;
  await appendDecision(ports, ctx);
  const waiting = await waitingAlready(ports, runtime, ctx);
  if (waiting !== undefined) {
    // The same call asked again: the same request answers, and the approvers are not told twice.
    await appendDurable(ports, {
      ...ctx.followUp,
      event: "outcome",
      outcome: { status: "pending_approval", http_status: 202 },
      details: { approval_id: waiting.id, reused: true },
    });
    return pendingAnswer(ctx, waiting);
  }
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
    ...ctx.followUp,
    event: "outcome",
    outcome: { status: "pending_approval", http_status: 202 },
    details: { approval_id: request.id },
  });
  runtime.notifyApprovers(request, traceparentOf(ctx.trace));
  return pendingAnswer(ctx, request);
}

function pendingAnswer(ctx: Decided, request: ApprovalRequest): CallAnswer {
  const { decision } = ctx;
  return {
    status: 202,
    location: `/v1/approvals/${request.id}`,
    body: {
      ...approvalView(request),
      // This call's decision, also when an identical call's waiting request answers it.
      decision_id: ctx.decisionId,
      trace_id: ctx.trace.traceId,
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
  const { decision } = ctx;
  countDenial(ports, runtime, ctx);
  const onlyApproval = decision.reasons.every((r) => r.code === "approval_required");
  if (onlyApproval && ctx.approved === undefined && decision.approval.approvers_required > 0) {
    return awaitApproval(ports, runtime, ctx);
  }
  const code = onlyApproval ? "approval_required" : "policy_denied";
  await Promise.all([
    appendDecision(ports, ctx),
    appendDurable(ports, {
      ...ctx.followUp,
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
