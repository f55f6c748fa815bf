// Post-hoc review, the call's side: a decision whose approval mode is "post_hoc" (the policy's
// call: the risk alone asks one approver, and the catalog marks the tool post-hoc) runs at once,
// under a review that the same approvers then decide through the same approval routes.
//
// Invariants:
// - The review is opened BEFORE the worker runs, bound to the exact call: if it cannot be opened
//   (store or audit down), nothing runs (fail closed), so no post-hoc call escapes review.
// - After the worker answers, the review records the outcome once: the compensation handle the
//   worker returned (the rollback as a tool call), or the call's failure (nothing to review), or
//   an unknown outcome (the gateway's wait ran out, or the worker stopped the write at its
//   deadline): the review stays open with no handle, approvers are told (and the hand-off's
//   alert `tool_outcome_unknown` names it); a rejection then records the compensation as
//   unavailable (compensation_outcome_unknown): the undo is a person's.
// - A review never licenses a second run of the call (approvals/use.ts refuses to claim it).
//
// A rejection that lands while the worker is still running: the outcome settles onto the denied
// review and the compensation then runs at once, before the call is answered, with the denier
// (subject and the groups verified when they denied) as the reviewer the policy sees. Only a
// denial recorded without groups (made before they were kept) cannot be compensated: an alert
// (`post_hoc_rejected_in_flight`) then asks a person to undo it.
//
// Failure modes: recording the outcome fails after the call ran: the call's answer stands (it
// ran), the failure is logged and audited as an alert (`post_hoc_unsettled`); a rejection of
// that review then finds no compensation handle and records it as "unavailable".
import { z } from "zod";
import type { ApprovalRequest, Compensation } from "../approvals/request.ts";
import type { WorkerResult } from "../handoff/worker-client.ts";
import { traceparentOf } from "../lib/trace.ts";
import type { Decided, GatewayPorts, PipelineRuntime } from "../pipeline/context.ts";
import { appendAlert } from "../pipeline/record.ts";

type ReviewPorts = Pick<GatewayPorts, "approvals" | "audit">;

/** The rollback a write's compensation handle names: `{rollback: {tool, arguments}}`. */
const Rollback = z.object({
  rollback: z.strictObject({
    tool: z.string().min(1).max(200),
    arguments: z.record(z.string(), z.unknown()),
  }),
});

/** The compensation call in a worker's handle, or undefined when it names none. */
export function rollbackOf(handle: WorkerResult["compensation"]): Compensation | undefined {
  const parsed = Rollback.safeParse(handle);
  return parsed.success ? parsed.data.rollback : undefined;
}

/** Opens the review of a post-hoc call (undefined for any other decision). Throws: nothing ran. */
export async function openReview(
  ports: ReviewPorts,
  ctx: Decided,
): Promise<ApprovalRequest | undefined> {
  const { decision, principal } = ctx;
  if (decision.approval.mode !== "post_hoc") return undefined;
  return await ports.approvals.request({
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
    approvers_required: 1,
    approver_groups: decision.approval.approver_groups,
    fallback_groups: decision.approval.fallback_groups,
    decision_id: ctx.decisionId,
    trace_id: ctx.trace.traceId,
    mode: "post_hoc",
  });
}

/**
 * Records what the call did on its review and tells the approvers. Never throws: the call ran,
 * and its answer must leave; a failure is logged and audited as an alert.
 */
export async function settleReview(
  ports: ReviewPorts,
  runtime: Pick<PipelineRuntime, "log" | "now" | "notifyApprovers" | "compensate">,
  ctx: Decided,
  review: ApprovalRequest,
  outcome:
    | { status: "executed"; compensation: WorkerResult["compensation"] }
    | { status: "failed" | "unknown"; code: string; http_status: number },
): Promise<void> {
  try {
    const settled = await ports.approvals.settlePostHoc(
      review.id,
      outcome.status === "executed"
        ? {
            status: "executed",
            decision_id: ctx.decisionId,
            compensation: rollbackOf(outcome.compensation),
          }
        : { ...outcome, decision_id: ctx.decisionId },
    );
    if (settled.status === "denied") {
      // Rejected while the worker was still running: undo it now, as a rejection would have.
      if (outcome.status !== "failed") await compensateInFlight(ports, runtime, ctx, settled);
      return;
    }
    if (outcome.status !== "failed") runtime.notifyApprovers(settled, traceparentOf(ctx.trace));
  } catch (error) {
    runtime.log("error", "post-hoc review outcome not recorded", {
      approval_id: review.id,
      error: String(error),
    });
    await alert(ports, runtime, ctx, "post_hoc_unsettled", review.id);
  }
}

/** An alert record about a review, best effort (the audit may be what failed). */
async function alert(
  ports: ReviewPorts,
  runtime: Pick<PipelineRuntime, "now">,
  ctx: Decided,
  kind: "post_hoc_unsettled" | "post_hoc_rejected_in_flight",
  approvalId: string,
): Promise<void> {
  await appendAlert(ports, runtime, ctx.followUp, kind, { approval_id: approvalId });
}

/**
 * The compensation of a review rejected while its call ran, with the denier as the reviewer.
 * Never throws: a denial without groups, or a compensation that could not be recorded, leaves
 * the alert `post_hoc_rejected_in_flight` for a person (best effort when the audit is down).
 */
async function compensateInFlight(
  ports: ReviewPorts,
  runtime: Pick<PipelineRuntime, "log" | "now" | "compensate">,
  ctx: Decided,
  review: ApprovalRequest,
): Promise<void> {
  const denial = review.denial;
  try {
    if (denial?.groups !== undefined && runtime.compensate !== undefined) {
      // The reviewer as the sweeper's retry sees them: a kill switch on their e-mail voids them.
      await runtime.compensate(review, {
        subject: denial.subject,
        ...(denial.email === undefined ? {} : { email: denial.email }),
        groups: denial.groups,
      });
      return;
    }
  } catch (error) {
    runtime.log("error", "post-hoc compensation of an in-flight rejection failed", {
      approval_id: review.id,
      error: String(error),
    });
  }
  await alert(ports, runtime, ctx, "post_hoc_rejected_in_flight", review.id);
}

/** What the caller is told of the review its call runs under. */
export function reviewAnswer(review: ApprovalRequest): {
  approval_id: string;
  status_url: string;
  mode: "post_hoc";
} {
  return { approval_id: review.id, status_url: `/v1/approvals/${review.id}`, mode: "post_hoc" };
}
