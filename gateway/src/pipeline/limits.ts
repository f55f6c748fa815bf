// Step 3: runaway-loop limits per agent, user and tool, before the policy is asked (a refused
// call is not counted). A refusal is audited (durably: audit_unavailable if it cannot be) and
// answered 429 rate_limited with Retry-After.
import { GatewayError, recorded } from "../lib/errors.ts";
import type { GatewayPorts, Parsed, PipelineRuntime } from "./context.ts";
import { appendDurable } from "./record.ts";

export async function checkLimits(
  ports: Pick<GatewayPorts, "limiter" | "audit">,
  runtime: Pick<PipelineRuntime, "now" | "newId">,
  ctx: Parsed,
): Promise<void> {
  const { principal } = ctx;
  const verdict = await ports.limiter.check({
    agent: principal.agent,
    user: principal.subject,
    tool: ctx.tool,
  });
  if (verdict.allowed) return;
  const decisionId = runtime.newId();
  const limit = {
    scope: verdict.scope,
    limit: verdict.limit,
    window_seconds: verdict.windowSeconds,
  };
  await appendDurable(ports, {
    timestamp: new Date(runtime.now()).toISOString(),
    event: "outcome",
    decision_id: decisionId,
    trace_id: ctx.trace.traceId,
    user: {
      subject: principal.subject,
      ...(principal.email === undefined ? {} : { email: principal.email }),
    },
    groups: [...principal.groups],
    agent: principal.agent,
    session_id: ctx.sessionId,
    tool: ctx.tool,
    outcome: { status: "rate_limited", code: "rate_limited", http_status: 429 },
    details: { ...limit, cause: verdict.cause },
  });
  throw recorded(
    new GatewayError(
      "rate_limited",
      `more than ${String(verdict.limit)} calls per ${String(verdict.windowSeconds)} s for this ${verdict.scope}`,
      {
        extensions: {
          decision_id: decisionId,
          trace_id: ctx.trace.traceId,
          ...limit,
          retry_after: verdict.retryAfterSeconds,
        },
      },
    ),
  );
}
