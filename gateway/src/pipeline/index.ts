// The tool-call pipeline: every front door (POST /v1/tools/{tool}, /mcp) runs a call through
// these named steps, in this order, each failing closed with a GatewayError:
//
//   authenticate (token, posture) → parse (body, tool arguments) → limits → approval use
//   → decide (policy input, WASM decision) → record (durable audit) → hand off (signed call,
//   worker result, taint) | refuse (403, or 202 waiting for approval) → answer
//
// The door only adapts: it builds the CallRequest and renders the CallAnswer or the error.
import { traceFrom } from "../lib/trace.ts";
import { verifyCaller } from "./authenticate.ts";
import type { CallAnswer, CallRequest, GatewayPorts, PipelineRuntime } from "./context.ts";
import { decide } from "./decide.ts";
import { handOff } from "./handoff.ts";
import { checkLimits } from "./limits.ts";
import { parseCall } from "./parse.ts";
import { refuse } from "./refuse.ts";
import { useApproval } from "./use-approval.ts";

export type { CallAnswer, CallRequest, GatewayPorts, PipelineRuntime } from "./context.ts";

export type ToolCallPipeline = (request: CallRequest) => Promise<CallAnswer>;

/** What the caller sent, for the record of a refusal: the arguments and session, if any. */
function sentBy(raw: unknown): { arguments?: unknown; session_id?: string } {
  if (typeof raw !== "object" || raw === null) return {};
  const { arguments: args, session_id: session } = raw as Record<string, unknown>;
  return {
    ...(args === undefined ? {} : { arguments: args }),
    ...(typeof session === "string" ? { session_id: session.slice(0, 128) } : {}),
  };
}

export function createToolCallPipeline(
  ports: GatewayPorts,
  runtime: PipelineRuntime,
): ToolCallPipeline {
  const { refusals } = runtime;
  return async (request) => {
    const started = performance.now();
    const trace = traceFrom(request.traceparent);
    const caller = await verifyCaller(ports, request.credentials).catch((thrown: unknown) => {
      refusals.unauthenticated(thrown);
      throw thrown;
    });
    let raw: unknown;
    const call = { ...request, readBody: async () => (raw = await request.readBody()) };
    try {
      const parsed = await parseCall(ports, { request: call, trace, started, ...caller });
      await checkLimits(ports, runtime, parsed);
      const approved = await useApproval(ports, runtime, parsed);
      const decided = await decide(ports, runtime, approved);
      return await (decided.decision.allow
        ? handOff(ports, runtime, decided)
        : refuse(ports, runtime, decided));
    } catch (thrown) {
      const { session_id, arguments: args } = sentBy(raw);
      await refusals.refused(thrown, caller.principal, {
        door: request.door,
        route: `POST /v1/tools/${request.tool.slice(0, 64)}`,
        trace_id: trace.traceId,
        tool: request.tool.slice(0, 64),
        session_id,
        details: args === undefined ? undefined : { arguments: args },
      });
      throw thrown;
    }
  };
}
