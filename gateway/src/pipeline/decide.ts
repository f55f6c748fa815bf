// Step 5: the decision, from verified facts and server-side context only: the policy input is
// built here and nowhere else, then evaluated in-process (WASM) or by the sidecar adapter.
//
// Failure mode: the engine cannot decide (no policy, a trap, a malformed result): the failure
// is recorded durably and answered 503 policy_unavailable. Never an allow. The thrown error's
// `cause` is an `UndecidedCall` (the call's input and the engine's error), for the decision
// log, which ships policy errors as OPA does.
import type { AuditRecordInput } from "../audit/record.ts";
import type { ApproverInput, DecisionInput } from "../policy/decision.ts";
import { GatewayError, recorded } from "../lib/errors.ts";
import type { Approved, Decided, GatewayPorts, PipelineRuntime } from "./context.ts";
import { appendDurable, decisionRecord } from "./record.ts";

/** A call the policy could not decide: what the decision log's error entry is made of. */
export class UndecidedCall extends Error {
  readonly call: Pick<Decided, "decisionId" | "input" | "trace" | "started">;
  readonly policyError: { code: string; message: string };
  readonly timestamp: string;

  constructor(
    call: Pick<Decided, "decisionId" | "input" | "trace" | "started">,
    policyError: { code: string; message: string },
    timestamp: string,
  ) {
    super(`no policy decision (${policyError.code})`);
    this.name = "UndecidedCall";
    this.call = call;
    this.policyError = policyError;
    this.timestamp = timestamp;
  }
}

/**
 * An approver as the policy sees it: the email too, so that a kill switch naming the approver by
 * email voids their approval as one naming the subject does.
 */
export function approverInput(approver: {
  subject: string;
  email?: string | undefined;
  groups: readonly string[];
}): ApproverInput {
  return {
    sub: approver.subject,
    ...(approver.email === undefined ? {} : { email: approver.email }),
    groups: approver.groups,
  };
}

export function decisionInput(
  ports: Pick<GatewayPorts, "sessions">,
  ctx: Approved,
  nowMs: number,
): DecisionInput {
  const { principal, posture, approved, system } = ctx;
  const approvers = system?.approvers ?? approved?.approvals.map(approverInput);
  return {
    principal: {
      sub: principal.subject,
      ...(principal.email === undefined ? {} : { email: principal.email }),
      groups: principal.groups,
    },
    agent: { id: principal.agent },
    device: { compliant: posture.compliant, checked_at: posture.checkedAt },
    tool: ctx.tool,
    arguments: ctx.args,
    context: {
      now: Math.floor(nowMs / 1000),
      workflow: ctx.workflow,
      session_tainted: isTainted(ports, ctx),
      recent_denials: ports.sessions.recentDenials(ctx.actorKey, nowMs),
      ...(system === undefined ? {} : { system_call: true }),
    },
    ...(approvers === undefined ? {} : { approval: { approvers } }),
  };
}

/** The session, or anything this user's agent read before, was flagged as prompt injection. */
export function isTainted(
  ports: Pick<GatewayPorts, "sessions">,
  ctx: { sessionId: string; actorKey: string },
): boolean {
  return ports.sessions.isTainted(ctx.sessionId) || ports.sessions.isTainted(ctx.actorKey);
}

export async function decide(
  ports: Pick<GatewayPorts, "policy" | "sessions" | "audit" | "killSwitch">,
  runtime: Pick<PipelineRuntime, "now" | "newId">,
  ctx: Approved,
): Promise<Decided> {
  const decisionId = runtime.newId();
  const input = decisionInput(ports, ctx, runtime.now());
  // Read before the policy decides: a kill-switch state handed over from here on shows in it.
  const killSwitchGeneration = ports.killSwitch.appliedGeneration();
  const outcome = await ports.policy.evaluate(input);
  const base = { ...ctx, decisionId, input };
  if (!outcome.ok) {
    const record = decisionRecord(ports, runtime, base, {
      decision: { allow: false, reasons: [] },
      outcome: { status: "error", code: "policy_unavailable", http_status: 503 },
      details: { policy_error: outcome.code, message: outcome.message },
    });
    await appendDurable(ports, record);
    throw recorded(
      new GatewayError(
        "policy_unavailable",
        `no policy decision (${outcome.code}): nothing was executed`,
        {
          cause: new UndecidedCall(
            base,
            { code: outcome.code, message: outcome.message },
            record.timestamp ?? new Date(runtime.now()).toISOString(),
          ),
          extensions: {
            decision_id: decisionId,
            trace_id: ctx.trace.traceId,
            policy_error: outcome.code,
          },
        },
      ),
    );
  }
  const { decision } = outcome;
  const decided = decisionRecord(ports, runtime, base, {
    decision: { allow: decision.allow, reasons: decision.reasons },
    risk_score: decision.risk.score,
    // The factors behind the score, for the approver console and forensics.
    details: { risk: { band: decision.risk.band, factors: decision.risk.factors } },
    approval: {
      required: decision.approval.required,
      approvers_required: decision.approval.approvers_required,
      // Who may approve, and when: part of the decision (replay and the shadow compare them).
      approver_groups: decision.approval.approver_groups,
      fallback_groups: decision.approval.fallback_groups,
      ...(decision.approval.mode === undefined ? {} : { mode: decision.approval.mode }),
      state: decision.approval.required
        ? decision.approval.mode === "post_hoc"
          ? "post_hoc_review"
          : decision.allow
            ? "approved"
            : "pending"
        : "not_required",
    },
    policy_revision: decision.policy_revision,
  });
  return { ...base, decision, killSwitchGeneration, decided, followUp: followUpOf(decided) };
}

/** The decision record without its policy input: what outcome and alert records repeat. */
export function followUpOf(decided: AuditRecordInput): AuditRecordInput {
  const { decision_input: _input, ...rest } = decided;
  return rest;
}
