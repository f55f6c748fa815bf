// Post-hoc review, the rejection's side: when an approver denies a post-hoc review, the gateway
// undoes the call with the compensation the worker returned for it (jira_delete_comment,
// slack_delete_message, or the security-group rollback), as its OWN call through its own
// pipeline steps: the arguments checked by the tool's schema, the policy deciding (the system
// principal and agent of the catalog's `system_principal`, `context.system_call`, and the
// rejecting reviewer as the approver), the decision made durable, then the signed hand-off to
// the worker and its outcome record. What became of it is written on the review, once.
//
// Invariants: the compensation is exactly the handle recorded on the review (never anything a
// caller sends); a policy denial is recorded and respected (fail closed: the kill switch on the
// connector stops a compensation too); one runner at a time across replicas: each attempt is
// claimed first (claimCompensation writes a lease, compare-and-set), then recorded
// (markCompensated).
//
// A compensation whose system answers that what it would undo is not there (an earlier try took
// effect but its answer was lost, or a person undid it) is recorded executed, code
// "already_undone".
//
// Failure modes, each recorded on the review (compensation_result) and audited: no handle
// ("unavailable"; compensation_outcome_unknown when the call's own outcome is unknown),
// arguments refused, policy denial, worker failure ("failed" with its code).
// A failure that may pass (worker unavailable, timeout or failed, policy unavailable) is tried
// again by the sweeper (`retry_at`: 30 s, 1, 2, 4 min; 5 tries in all); a runner that died
// mid-attempt leaves its lease, retried when it ends; a denial the deny route could not
// compensate (audit or store down: thrown to its caller) is caught up 30 s after the denial.
import { z } from "zod";
import { argumentsDigest } from "../../../common/canonical.ts";
import { CATALOG_PATH, isToolName, type ToolName } from "../../../common/catalog.ts";
import { parseToolArguments } from "../../../common/tool-arguments.ts";
import { readFileSync } from "node:fs";
import type { Approver } from "../approvals/service.ts";
import type { ApprovalRequest, CompensationResult } from "../approvals/request.ts";
import type { Log } from "../../../common/service.ts";
import { isApprovalError } from "../approvals/errors.ts";
import { COMPENSATION_MAX_ATTEMPTS } from "../approvals/request.ts";
import { isGatewayError } from "../lib/errors.ts";
import { traceFrom } from "../lib/trace.ts";
import { approverInput, decide } from "../pipeline/decide.ts";
import { handOff } from "../pipeline/handoff.ts";
import type { Approved, GatewayPorts, PipelineRuntime } from "../pipeline/context.ts";
import { appendDurable } from "../pipeline/record.ts";

/** Who the gateway is when it acts on its own: policy data, read from the catalog. */
export const SystemPrincipal = z.strictObject({
  subject: z.string().min(1).max(200),
  agent: z.string().min(1).max(200),
  groups: z.array(z.string().min(1).max(200)).min(1),
});
export type SystemPrincipal = z.infer<typeof SystemPrincipal>;

/** The catalog's `system_principal` (throws at start-up when it is missing or malformed). */
export function loadSystemPrincipal(path: string = CATALOG_PATH): SystemPrincipal {
  const catalog = JSON.parse(readFileSync(path, "utf8")) as { system_principal?: unknown };
  return SystemPrincipal.parse(catalog.system_principal);
}

export type Compensator = (review: ApprovalRequest, reviewer: Approver) => Promise<ApprovalRequest>;

/**
 * A compensation runner's lease: after it, one that died is retried by the sweeper. Longer than
 * any one try can take (WORKER_TIMEOUT_MS is at most 120 s, plus the decision and two durable
 * records); a runner whose lease was taken over cannot record its result anyway
 * (markCompensated checks the lease's attempt number).
 */
export const COMPENSATION_LEASE_MS = 300_000;
/** Failures worth another try: the worker or the policy were away, not a refusal. */
const RETRYABLE = new Set([
  "worker_unavailable",
  "worker_timeout",
  "worker_failed",
  "policy_unavailable",
]);

/**
 * The system says what the compensation would undo is not there (a deleted message, a revoked
 * rule): undone already, by an earlier try whose answer was lost, or by a person. The goal holds.
 */
function alreadyUndone(thrown: unknown): boolean {
  return (
    isGatewayError(thrown) &&
    thrown.code === "worker_failed" &&
    thrown.extensions["worker_connector_code"] === "connector_not_found"
  );
}

/** 30 s, 1 min, 2 min, 4 min... at most 15 min. */
export function retryDelayMs(attempts: number): number {
  return Math.min(30_000 * 2 ** (attempts - 1), 15 * 60_000);
}

type CompensationPorts = Pick<
  GatewayPorts,
  "policy" | "sessions" | "audit" | "worker" | "approvals" | "killSwitch"
>;

type Outcome = Omit<CompensationResult, "at">;

export function createCompensator(
  ports: CompensationPorts,
  runtime: PipelineRuntime,
  system: SystemPrincipal = loadSystemPrincipal(),
): Compensator {
  const checkedSystem = SystemPrincipal.parse(system);

  /** The gateway's own call, as the pipeline's steps after `parse` expect it. */
  function systemCall(
    review: ApprovalRequest,
    reviewer: Approver,
    tool: ToolName,
    args: Record<string, unknown>,
  ): Approved {
    const nowSec = Math.floor(runtime.now() / 1000);
    const sessionId = `post-hoc:${review.id}`;
    return {
      request: {
        door: "system",
        tool,
        credentials: { authorization: undefined, posture: undefined },
        traceparent: undefined,
        readBody: () => Promise.resolve({}),
      },
      // The compensation continues the reviewed call's trace.
      trace: { ...traceFrom(undefined), traceId: review.trace_id },
      started: performance.now(),
      principal: {
        subject: checkedSystem.subject,
        groups: [...checkedSystem.groups],
        agent: checkedSystem.agent,
        expiresAt: nowSec + 60,
      },
      // The gateway's own process: no user device stands behind it.
      posture: { subject: checkedSystem.subject, compliant: true, checkedAt: nowSec },
      body: {
        arguments: args,
        session_id: sessionId,
        context: { decision_trace: `post-hoc review ${review.id} rejected by ${reviewer.subject}` },
      },
      tool,
      args,
      digest: argumentsDigest(args),
      sessionId,
      actorKey: `actor:${checkedSystem.subject}\u0000${checkedSystem.agent}`,
      workflow: "post-hoc-review",
      approved: undefined,
      system: { approvers: [approverInput(reviewer)] },
    };
  }

  async function run(review: ApprovalRequest, reviewer: Approver): Promise<Outcome> {
    const handle = review.compensation;
    if (handle === undefined) return { status: "unavailable", code: "compensation_unavailable" };
    const parsed = parseToolArguments(handle.tool, handle.arguments);
    if (!parsed.ok || !isToolName(handle.tool)) {
      return { status: "failed", code: "arguments_invalid", http_status: 400 };
    }
    const ctx = systemCall(review, reviewer, parsed.tool, parsed.arguments);
    let decided: Awaited<ReturnType<typeof decide>>;
    try {
      decided = await decide(ports, runtime, ctx);
    } catch (thrown) {
      // No decision (recorded by decide): a failure that may pass, retried like the worker's.
      if (isGatewayError(thrown) && thrown.code === "policy_unavailable") {
        return { status: "failed", code: "policy_unavailable", http_status: 503 };
      }
      throw thrown;
    }
    if (!decided.decision.allow) {
      await appendDurable(ports, decided.decided);
      await appendDurable(ports, {
        ...decided.followUp,
        event: "outcome",
        outcome: { status: "denied", code: "policy_denied", http_status: 403 },
        details: { approval_id: review.id, reasons: decided.decision.reasons.map((r) => r.code) },
      });
      return {
        status: "failed",
        decision_id: decided.decisionId,
        code: "policy_denied",
        http_status: 403,
      };
    }
    try {
      await handOff(ports, runtime, decided);
      return { status: "executed", decision_id: decided.decisionId, http_status: 200 };
    } catch (thrown) {
      if (isGatewayError(thrown) && thrown.code === "audit_unavailable") throw thrown;
      if (alreadyUndone(thrown)) {
        return {
          status: "executed",
          decision_id: decided.decisionId,
          code: "already_undone",
          http_status: 200,
        };
      }
      const code = isGatewayError(thrown) ? thrown.code : "worker_failed";
      const status = isGatewayError(thrown) ? thrown.status : 502;
      return { status: "failed", decision_id: decided.decisionId, code, http_status: status };
    }
  }

  /**
   * Claims, runs, then records one attempt; undefined when another runner has it or the tries
   * are spent (the claim then records the final failure). A review without a compensation handle
   * has nothing to run: recorded as unavailable at once.
   */
  async function attempt(
    review: ApprovalRequest,
    reviewer: Approver,
  ): Promise<ApprovalRequest | undefined> {
    if (review.compensation === undefined && review.compensation_result === undefined) {
      return await ports.approvals.markCompensated(review.id, {
        status: "unavailable",
        // Unknown: the call may or may not have taken effect; a person checks and undoes it.
        code:
          review.result?.status === "unknown"
            ? "compensation_outcome_unknown"
            : "compensation_unavailable",
      });
    }
    let claimed: ApprovalRequest;
    try {
      claimed = await ports.approvals.claimCompensation(review.id, COMPENSATION_LEASE_MS);
    } catch (error) {
      if (isApprovalError(error) && error.code === "approval_not_open") return undefined;
      throw error;
    }
    const lease = claimed.compensation_result;
    if (lease?.code !== "compensation_running") return claimed;
    const attempts = lease.attempts ?? 1;
    const outcome = await run(claimed, reviewer);
    const retry =
      outcome.status === "failed" &&
      RETRYABLE.has(outcome.code ?? "") &&
      attempts < COMPENSATION_MAX_ATTEMPTS;
    if (outcome.status !== "executed") {
      runtime.log("error", "post-hoc compensation did not run", {
        approval_id: review.id,
        code: outcome.code,
        attempts,
        retry,
      });
    }
    const retryAt = new Date(runtime.now() + retryDelayMs(attempts)).toISOString();
    return await ports.approvals.markCompensated(review.id, {
      ...outcome,
      attempts,
      ...(retry ? { retry_at: retryAt } : {}),
    });
  }

  return async (review, reviewer) => {
    // Not a rejected review, or its call has not answered yet (the hand-off settles it later).
    if (review.mode !== "post_hoc" || review.status !== "denied") return review;
    if (review.result?.status !== "executed" && review.result?.status !== "unknown") return review;
    return (await attempt(review, reviewer)) ?? (await ports.approvals.get(review.id)) ?? review;
  };
}

/**
 * The sweeper's part (main.ts, every few seconds): runs every compensation that is due (a
 * rejection never compensated, a retry, an expired lease), with the denier as the reviewer.
 * A denial recorded without the denier's groups cannot be decided: recorded as unavailable.
 */
export async function compensateDue(
  approvals: Pick<GatewayPorts["approvals"], "compensationsDue" | "markCompensated">,
  compensate: Compensator,
  nowMs: number,
  log: Log,
): Promise<number> {
  let tried = 0;
  for (const review of await approvals.compensationsDue(nowMs)) {
    // One review's failure (its store write, its audit record) never holds up the others.
    try {
      const denial = review.denial;
      if (denial?.groups === undefined) {
        await approvals.markCompensated(review.id, {
          status: "unavailable",
          code: "compensation_reviewer_unknown",
        });
        log("error", "post-hoc compensation needs a person: the denier's groups are unknown", {
          approval_id: review.id,
        });
        continue;
      }
      // The denier as the deny route saw them (their email too: a kill switch may name it).
      await compensate(review, {
        subject: denial.subject,
        ...(denial.email === undefined ? {} : { email: denial.email }),
        groups: denial.groups,
      });
      tried += 1;
    } catch (error) {
      log("error", "post-hoc compensation sweep failed for one review", {
        approval_id: review.id,
        error: String(error),
      });
    }
  }
  return tried;
}
