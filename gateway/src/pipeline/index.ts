// The tool-call pipeline: every front door (POST /v1/tools/{tool}, /mcp) runs a call through
// these named steps, in this order, each failing closed with a GatewayError:
//
//   authenticate (token, posture) → parse (body, tool arguments) → limits → approval use
//   → decide (policy input, WASM decision) → record (durable audit) → hand off (signed call,
//   worker result, taint) | refuse (403, or 202 waiting for approval) → answer
//
// The door only adapts: it builds the CallRequest and renders the CallAnswer or the error.
//
// An optional observer (metrics, decision log, shadow policy) is told each step's duration, each
// decision and the call's outcome; it wraps the steps from outside and changes nothing they do.
// An observer that throws is ignored. An optional tracer (tracing/) runs the call and each step
// inside a span and supplies the trace context the steps carry (else: traceFrom the header).
import { isGatewayError } from "../lib/errors.ts";
import { traceFrom, type TraceContext } from "../lib/trace.ts";
import { verifyCaller, type Caller } from "./authenticate.ts";
import type { CallAnswer, CallRequest, Decided, GatewayPorts, PipelineRuntime } from "./context.ts";
import { mcpDetails } from "./record.ts";
import { decide, UndecidedCall } from "./decide.ts";
import { handOff } from "./handoff.ts";
import { checkLimits, countRefusedCall } from "./limits.ts";
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

/** Where a refused call came in: its door and route (the MCP door's is /mcp, its method). */
function refusalWhere(request: CallRequest): { door: string; route: string; tool: string } {
  const tool = request.tool.slice(0, 64);
  const route = request.door === "mcp" ? "POST /mcp tools/call" : `POST /v1/tools/${tool}`;
  return { door: request.door, route, tool };
}

/** What a refused call's record adds: the arguments sent, and an MCP call's session and client. */
function refusalDetails(request: CallRequest, args: unknown): Record<string, unknown> | undefined {
  const details: Record<string, unknown> = {};
  if (args !== undefined) details["arguments"] = args;
  Object.assign(details, mcpDetails(request));
  return Object.keys(details).length === 0 ? undefined : details;
}

export type StepName =
  "authenticate" | "parse" | "limits" | "approval" | "decide" | "handoff" | "refuse";

export interface PipelineObserver {
  /** A step ended after `seconds`: `failure` is the error code it threw, if any. */
  step(name: StepName, seconds: number, failure: string | undefined): void;
  /** The call ended: outcome "executed", "approval_pending", or the error code. */
  call(call: {
    door: CallRequest["door"];
    tool: string | undefined;
    outcome: string;
    decision: { result: "allow" | "deny" | "error"; reasons: readonly string[] } | undefined;
  }): void;
  /** The policy decided (allow or deny), its record made: what the decision log ships. */
  decided?(decided: Decided): void;
  /** The policy could not decide (503 policy_unavailable), its record made: an error entry. */
  undecided?(undecided: UndecidedCall): void;
}

/** Runs a call, and each of its steps, inside a span (tracing/); absent: no spans. */
export interface PipelineTracer {
  /** Starts the call's span from the caller's traceparent; `run` gets the context to carry. */
  call<T>(request: CallRequest, run: (trace: TraceContext) => Promise<T>): Promise<T>;
  step<T>(trace: TraceContext, name: StepName, run: () => Promise<T>): Promise<T>;
}

function errorCode(thrown: unknown): string {
  return isGatewayError(thrown) ? thrown.code : "internal_error";
}

function quietly(tell: () => void): void {
  try {
    tell();
  } catch {
    // an observer's failure never changes a call
  }
}

export function createToolCallPipeline(
  ports: GatewayPorts,
  runtime: PipelineRuntime,
  observer?: PipelineObserver,
  tracer?: PipelineTracer,
): ToolCallPipeline {
  const measured = async <T>(name: StepName, run: () => Promise<T>): Promise<T> => {
    if (observer === undefined) return run();
    const start = performance.now();
    let failure: string | undefined;
    try {
      return await run();
    } catch (thrown) {
      failure = errorCode(thrown);
      throw thrown;
    } finally {
      const seconds = (performance.now() - start) / 1000;
      quietly(() => {
        observer.step(name, seconds, failure);
      });
    }
  };
  const timed = <T>(name: StepName, run: () => Promise<T>, trace?: TraceContext): Promise<T> =>
    tracer === undefined || trace === undefined
      ? measured(name, run)
      : tracer.step(trace, name, () => measured(name, run));
  const { refusals } = runtime;
  const steps = async (
    request: CallRequest,
    seen: CallSeen,
    caller: Caller,
    trace: TraceContext,
    started: number,
  ): Promise<CallAnswer> => {
    const parsed = await timed(
      "parse",
      () => parseCall(ports, { request, trace, started, ...caller }),
      trace,
    ).catch(async (thrown: unknown) => {
      // A malformed call to a catalog tool counts toward the limits (429 once over them).
      await countRefusedCall(ports, runtime, { ...caller, trace, request }, request.tool, thrown);
      throw thrown;
    });
    seen.tool = parsed.tool;
    await timed("limits", () => checkLimits(ports, runtime, parsed), trace);
    const approved = await timed("approval", () => useApproval(ports, runtime, parsed), trace);
    const decided = await timed("decide", () => decide(ports, runtime, approved), trace).catch(
      (thrown: unknown) => {
        if (isGatewayError(thrown) && thrown.cause instanceof UndecidedCall) {
          const undecided = thrown.cause;
          quietly(() => observer?.undecided?.(undecided));
        }
        throw thrown;
      },
    );
    const { allow, reasons } = decided.decision;
    seen.decision = { result: allow ? "allow" : "deny", reasons: reasons.map((r) => r.code) };
    // The decision log hears of the decision once its audit record is durable (never of one the
    // audit could not take: that call is answered 503 and nothing runs).
    const decidedCall: Decided =
      observer?.decided === undefined
        ? decided
        : {
            ...decided,
            recorded: () => {
              quietly(() => observer.decided?.(decided));
            },
          };
    return await (allow
      ? timed("handoff", () => handOff(ports, runtime, decidedCall), trace)
      : timed("refuse", () => refuse(ports, runtime, decidedCall), trace));
  };
  const traced = (request: CallRequest, run: (trace: TraceContext) => Promise<CallAnswer>) =>
    tracer === undefined ? run(traceFrom(request.traceparent)) : tracer.call(request, run);
  const run = (request: CallRequest, seen: CallSeen): Promise<CallAnswer> =>
    traced(request, (trace) => runTraced(request, seen, trace));
  const runTraced = async (
    request: CallRequest,
    seen: CallSeen,
    trace: TraceContext,
  ): Promise<CallAnswer> => {
    const started = performance.now();
    const caller = await timed(
      "authenticate",
      () => verifyCaller(ports, request.credentials),
      trace,
    ).catch((thrown: unknown) => {
      refusals.unauthenticated(thrown);
      throw thrown;
    });
    // The body as sent, kept for the record of a refusal.
    let raw: unknown;
    const call = { ...request, readBody: async () => (raw = await request.readBody()) };
    try {
      return await steps(call, seen, caller, trace, started);
    } catch (thrown) {
      const { session_id, arguments: args } = sentBy(raw);
      await refusals.refused(thrown, caller.principal, {
        ...refusalWhere(request),
        source: request.source,
        trace_id: trace.traceId,
        session_id,
        details: refusalDetails(request, args),
      });
      throw thrown;
    }
  };
  if (observer === undefined) return (request) => run(request, {});
  return async (request) => {
    const seen: CallSeen = {};
    let outcome = "internal_error";
    try {
      const answer = await run(request, seen);
      outcome = answer.status === 202 ? "approval_pending" : "executed";
      return answer;
    } catch (thrown) {
      outcome = errorCode(thrown);
      const policyError = isGatewayError(thrown) ? thrown.extensions["policy_error"] : undefined;
      if (typeof policyError === "string")
        seen.decision = { result: "error", reasons: [policyError] };
      throw thrown;
    } finally {
      quietly(() => {
        observer.call({ door: request.door, tool: seen.tool, outcome, decision: seen.decision });
      });
    }
  };
}

interface CallSeen {
  tool?: string;
  decision?: { result: "allow" | "deny" | "error"; reasons: readonly string[] };
}
