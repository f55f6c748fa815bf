// Step 3: runaway-loop limits per agent, user and tool, before the policy is asked (a refused
// call is not counted). A refusal is audited (durably: audit_unavailable if it cannot be) and
// answered 429 rate_limited with Retry-After. A call to a catalog tool whose body or arguments
// the schema refused counts too (`countRefusedCall`): a loop of malformed calls is a loop.
import { GatewayError, recorded } from "../lib/errors.ts";
import { isToolName } from "../../../common/catalog.ts";
import type { Authenticated, GatewayPorts, Parsed, PipelineRuntime } from "./context.ts";
import { appendDurable, mcpDetails, sourceField } from "./record.ts";

export async function checkLimits(
  ports: Pick<GatewayPorts, "limiter" | "audit">,
  runtime: Pick<PipelineRuntime, "now" | "newId">,
  ctx: Pick<Parsed, "principal" | "tool" | "trace" | "request"> & {
    sessionId?: string | undefined;
  },
): Promise<void> {
  const { principal } = ctx;
  const { door } = ctx.request;
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
    door,
    ...sourceField(ctx.request),
    ...(ctx.sessionId === undefined ? {} : { session_id: ctx.sessionId }),
    tool: ctx.tool,
    outcome: { status: "rate_limited", code: "rate_limited", http_status: 429 },
    details: {
      ...limit,
      cause: verdict.cause,
      ...mcpDetails(ctx.request),
    },
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

/**
 * A call to a catalog tool that `parse` refused (request_malformed, arguments_invalid) is still
 * a call: it is counted, and past the limit answered 429 instead of another 400.
 */
export async function countRefusedCall(
  ports: Pick<GatewayPorts, "limiter" | "audit">,
  runtime: Pick<PipelineRuntime, "now" | "newId">,
  ctx: Pick<Authenticated, "principal" | "trace" | "request">,
  tool: string,
  refused: unknown,
): Promise<void> {
  const code = refused instanceof GatewayError ? refused.code : undefined;
  if (code !== "request_malformed" && code !== "arguments_invalid") return;
  if (!isToolName(tool)) return;
  await checkLimits(ports, runtime, { ...ctx, tool });
}
