// Trace ids: a caller's valid traceparent is honoured; otherwise fresh random ids, never the same
// twice, including across the refills of the random pool they are drawn from.
import { describe, expect, it } from "vitest";
import { traceFrom, traceparentOf } from "../../src/lib/trace.ts";

describe("traceFrom", () => {
  it("keeps a caller's trace id and sampled flag, with a new span of its own", () => {
    const header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const trace = traceFrom(header);
    expect(trace.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(trace.sampled).toBe(true);
    expect(trace.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(trace.spanId).not.toBe("00f067aa0ba902b7");
    expect(traceparentOf(trace)).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${trace.spanId}-01`);
  });

  it("starts a new trace for no header, a malformed one or an all-zero id", () => {
    for (const header of [undefined, "garbage", `00-${"0".repeat(32)}-00f067aa0ba902b7-01`]) {
      const trace = traceFrom(header);
      expect(trace.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(trace.traceId).not.toBe("0".repeat(32));
      expect(trace.sampled).toBe(false);
    }
  });

  it("never gives the same id twice, across many refills of its random pool", () => {
    const ids = new Set<string>();
    const draws = 10_000; // 240 KB of ids: about sixty 4 KiB refills
    for (let i = 0; i < draws; i++) {
      const { traceId, spanId } = traceFrom(undefined);
      ids.add(traceId);
      ids.add(spanId);
    }
    expect(ids.size).toBe(draws * 2);
  });
});
