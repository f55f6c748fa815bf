// Spans for the tool-call pipeline: one SERVER span per call ("zyx.tool_call", child of the
// caller's W3C traceparent when it sends a valid one) and one span per step ("zyx.step.<name>")
// under it. The call's span is what the pipeline's TraceContext carries: its ids are the trace
// id the audit records and the parent the worker's span gets (traceparent on the hand-off).
//
// Invariants: tracing never changes a call: a step's error is recorded on its span (status
// ERROR, the stable error code as zyx.error_code) and rethrown unchanged. A caller's invalid
// traceparent starts a new trace, as lib/trace.ts does. Nothing a caller sends becomes an
// attribute but the tool name the route carries (bounded) and the door.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import { parentFrom } from "../../../common/tracing.ts";
import { isGatewayError } from "../lib/errors.ts";
import type { TraceContext } from "../lib/trace.ts";
import type { PipelineTracer, StepName } from "../pipeline/index.ts";

function failed(span: Span, thrown: unknown): void {
  const code = isGatewayError(thrown) ? thrown.code : "internal_error";
  span.setAttribute("zyx.error_code", code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

async function within<T>(span: Span, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (thrown) {
    failed(span, thrown);
    throw thrown;
  } finally {
    span.end();
  }
}

export function createPipelineTracer(tracer: Tracer): PipelineTracer {
  // The open call spans by their span id: a step finds its parent here.
  const open = new Map<string, Span>();
  return {
    async call(request, run) {
      const span = tracer.startSpan(
        "zyx.tool_call",
        {
          kind: SpanKind.SERVER,
          attributes: { "zyx.door": request.door, "zyx.tool": request.tool.slice(0, 64) },
        },
        parentFrom(request.traceparent),
      );
      const { traceId, spanId, traceFlags } = span.spanContext();
      const context: TraceContext = { traceId, spanId, sampled: (traceFlags & 1) === 1 };
      open.set(spanId, span);
      try {
        return await within(span, () => run(context));
      } finally {
        open.delete(spanId);
      }
    },
    step(context, name: StepName, run) {
      const parent = open.get(context.spanId);
      const span = tracer.startSpan(
        `zyx.step.${name}`,
        { kind: SpanKind.INTERNAL, attributes: { "zyx.step": name } },
        parent === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, parent),
      );
      return within(span, run);
    },
  };
}
