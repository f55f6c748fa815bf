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

export function createToolCallPipeline(
  ports: GatewayPorts,
  runtime: PipelineRuntime,
): ToolCallPipeline {
  return async (request) => {
    const started = performance.now();
    const trace = traceFrom(request.traceparent);
    const caller = await verifyCaller(ports, request.credentials);
    const parsed = await parseCall(ports, { request, trace, started, ...caller });
    await checkLimits(ports, runtime, parsed);
    const approved = await useApproval(ports, runtime, parsed);
    const decided = await decide(ports, runtime, approved);
    return decided.decision.allow
      ? handOff(ports, runtime, decided)
      : refuse(ports, runtime, decided);
  };
}
