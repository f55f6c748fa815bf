// W3C Trace Context: honour the caller's trace id, start a new span for each hop.
// Ids are cryptographically random, drawn from a pool refilled 4 KiB at a time (randomFillSync):
// one call into the random source per ~170 calls instead of two per call. A drawn slice is
// never handed out twice.
import { randomFillSync } from "node:crypto";

const POOL = Buffer.alloc(4096);
let poolOffset = POOL.length;

/** `size` fresh random bytes as lower-case hex. */
function randomHex(size: number): string {
  if (poolOffset + size > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const hex = POOL.toString("hex", poolOffset, poolOffset + size);
  poolOffset += size;
  return hex;
}

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
    traceId: valid ? traceId : randomHex(16),
    spanId: randomHex(8),
    sampled: valid && flags !== undefined ? (Number.parseInt(flags, 16) & 1) === 1 : false,
  };
}

export function traceparentOf(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? "01" : "00"}`;
}
