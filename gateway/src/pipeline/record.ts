// The audit records of a tool call, and the one way the pipeline makes them durable.
//
// Invariant: a decision's record is durable before anything acts on it (the worker runs, an
// approval request is opened) and before a denial is answered. `appendDurable` turns any
// failure of the log into audit_unavailable (503): a call whose record cannot be written is not
// answered as if it had been.
import type { AuditRecordInput } from "../audit/record.ts";
import { GatewayError, isGatewayError } from "../lib/errors.ts";
import type { Approved, CallRequest, Decided, GatewayPorts, PipelineRuntime } from "./context.ts";

export async function appendDurable(
  ports: Pick<GatewayPorts, "audit">,
  entry: AuditRecordInput,
): Promise<void> {
  try {
    await ports.audit.append(entry);
  } catch (thrown) {
    throw isGatewayError(thrown) && thrown.code === "audit_unavailable"
      ? thrown
      : new GatewayError("audit_unavailable", "the audit record could not be written", {
          cause: thrown,
        });
  }
}

/**
 * The call's decision record, durable; then whoever waits for it is told (`ctx.recorded`: the
 * decision log, which never hears of a decision the audit could not take).
 */
export async function appendDecision(
  ports: Pick<GatewayPorts, "audit">,
  ctx: Pick<Decided, "decided" | "recorded">,
): Promise<void> {
  await appendDurable(ports, ctx.decided);
  ctx.recorded?.();
}

/**
 * An alert about a call (event "alert", outcome error `kind`), best effort: the audit may be
 * what failed, and the call's own answer must still leave.
 */
export async function appendAlert(
  ports: Pick<GatewayPorts, "audit">,
  runtime: Pick<PipelineRuntime, "now">,
  followUp: AuditRecordInput,
  kind: string,
  details: Record<string, unknown>,
): Promise<void> {
  await ports.audit
    .append({
      ...followUp,
      timestamp: new Date(runtime.now()).toISOString(),
      event: "alert",
      outcome: { status: "error", code: kind },
      details: { kind, ...details },
    })
    .catch(() => undefined);
}

/** Milliseconds since the call arrived, to the microsecond. */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/** Who called, from where, through which agent: the members every record of a call carries. */
export function callerFields(ctx: Approved): Partial<AuditRecordInput> {
  const { principal, posture } = ctx;
  return {
    user: {
      subject: principal.subject,
      ...(principal.email === undefined ? {} : { email: principal.email }),
    },
    groups: [...principal.groups],
    device: {
      compliant: posture.compliant,
      checked_at: posture.checkedAt,
      ...(posture.deviceId === undefined ? {} : { device_id: posture.deviceId }),
    },
    agent: principal.agent,
    ...sourceField(ctx.request),
  };
}

/** The call's network source, as every record of the call carries it (absent: unknown). */
export function sourceField(request: Pick<CallRequest, "source">): {
  source?: NonNullable<CallRequest["source"]>;
} {
  return request.source === undefined ? {} : { source: request.source };
}

/** An MCP call's session and client, as every record of the call carries them (none for REST). */
export function mcpDetails(request: Pick<CallRequest, "mcp">): {
  mcp?: { session: string | null; client: string | null };
} {
  const { mcp } = request;
  return mcp === undefined
    ? {}
    : { mcp: { session: mcp.session ?? null, client: mcp.client ?? null } };
}

/** The decision record of this call (event "decision"); `extra` adds or overrides members. */
export function decisionRecord(
  ports: Pick<GatewayPorts, "policy">,
  runtime: Pick<PipelineRuntime, "now">,
  ctx: Approved & { decisionId: string; input: object },
  extra: Partial<AuditRecordInput>,
): AuditRecordInput {
  const context = ctx.body.context;
  return {
    timestamp: new Date(runtime.now()).toISOString(),
    event: "decision",
    decision_id: ctx.decisionId,
    trace_id: ctx.trace.traceId,
    ...callerFields(ctx),
    ...(context?.model === undefined ? {} : { model: context.model }),
    ...(context?.decision_trace === undefined ? {} : { decision_trace: context.decision_trace }),
    workflow: ctx.workflow,
    session_id: ctx.sessionId,
    tool: ctx.tool,
    arguments: ctx.args,
    // The masked arguments may be cut or redacted; the digest binds the exact ones that ran.
    arguments_digest: ctx.digest,
    policy_revision: ports.policy.revision ?? "none",
    // Everything the policy saw, so a forensic replay can rebuild the decision exactly.
    decision_input: { ...ctx.input },
    latency_ms: elapsedMs(ctx.started),
    door: ctx.request.door,
    ...extra,
    ...(ctx.request.mcp === undefined
      ? {}
      : { details: { ...mcpDetails(ctx.request), ...extra.details } }),
  };
}
