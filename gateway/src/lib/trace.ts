// W3C Trace Context: honour the caller's trace id, start a new span for each hop.
import { randomBytes } from "node:crypto";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export interface TraceContext {
  traceId: string;
  /** This hop's span, the parent of the worker's. */
  spanId: string;
  sampled: boolean;
}

export function traceFrom(header: string | undefined): TraceContext {
  const match = header === undefined ? null : TRACEPARENT.exec(header.trim());
  const [, traceId, parent, flags] = match ?? [];
  const valid = traceId !== undefined && traceId !== ZERO_TRACE && parent !== ZERO_SPAN;
  return {
    traceId: valid ? traceId : randomBytes(16).toString("hex"),
    spanId: randomBytes(8).toString("hex"),
    sampled: valid && flags !== undefined ? (Number.parseInt(flags, 16) & 1) === 1 : false,
  };
}

export function traceparentOf(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? "01" : "00"}`;
}
