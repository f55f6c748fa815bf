// The shipper's buffer while the sink is down is bounded in bytes, not only in entries: every
// decision carries the call's masked input (up to the request body limit, 64 KiB by default),
// so 10 000 entries of a verified caller's large arguments would hold most of a GiB per replica.
import { describe, expect, it } from "vitest";
import { createDecisionLogShipper } from "../../src/decision-log/shipper.ts";

describe("the decision-log shipper's buffer while the sink is down", () => {
  it("keeps at most a bounded number of bytes, dropping (and counting) the oldest", async () => {
    let dropped = 0;
    const shipper = createDecisionLogShipper({
      url: new URL("http://sink.invalid/logs"),
      flushIntervalMs: 60_000,
      backoff: { minMs: 60_000, maxMs: 60_000 },
      log: () => undefined,
      events: { dropped: (_reason, count) => (dropped += count) },
      fetch: () => Promise.resolve(new Response("down", { status: 503 })),
    });
    // 3 000 decisions of 32 masked 2 KiB strings each (64 KiB: the default body limit): ~200 MB.
    const entryBytes = 32 * 2048;
    for (let i = 0; i < 3_000; i++) {
      const args = Object.fromEntries(
        Array.from({ length: 32 }, (_, k) => [`f${String(k)}`, `${String(i)}:`.padEnd(2048, "x")]),
      );
      shipper.enqueue({ decision_id: `d-${String(i)}`, input: { arguments: args } });
    }
    await shipper.flush(50);
    const kept = shipper.stats().buffered;
    shipper.close();
    expect({
      atMost64MiB: kept * entryBytes <= 64 * 1024 * 1024,
      droppedSome: dropped > 0,
    }).toEqual({
      atMost64MiB: true,
      droppedSome: true,
    });
  });
});
