// The shipper at shutdown: entries the sink never took are counted and logged as dropped, never
// lost silently.
import { describe, expect, it } from "vitest";
import { createDecisionLogShipper } from "../../src/decision-log/shipper.ts";

describe("the decision-log shipper at shutdown", () => {
  it("does not lose buffered entries silently when the sink is still down at the flush deadline", async () => {
    const dropped: { reason: string; count: number }[] = [];
    const logged: {
      level: string;
      message: string;
      fields: Record<string, unknown> | undefined;
    }[] = [];
    let sent = 0;
    const shipper = createDecisionLogShipper({
      url: new URL("http://sink.invalid/logs"),
      flushIntervalMs: 60_000,
      backoff: { minMs: 50, maxMs: 50 },
      log: (level, message, fields) => logged.push({ level, message, fields }),
      events: {
        dropped: (reason, count) => dropped.push({ reason, count }),
        sent: (count) => (sent += count),
      },
      fetch: () => Promise.resolve(new Response("down", { status: 503 })),
    });
    for (let i = 0; i < 3; i++) shipper.enqueue({ decision_id: `d-${String(i)}` });
    // What setup.ts's close() does at shutdown: flush with a deadline, then close.
    await shipper.flush(200);
    shipper.close();
    expect(sent).toBe(0);
    // Three decisions never reached the sink: they must be counted as dropped (or at least
    // logged with their number), as the buffer-full and rejected drops are.
    const accounted = dropped.reduce((n, d) => n + d.count, 0);
    const mentioned = logged.some(
      (l) => /drop|lost|discard/i.test(l.message) && JSON.stringify(l.fields ?? {}).includes("3"),
    );
    expect({ accounted, mentioned, logged: logged.map((l) => l.message) }).toMatchObject({
      accounted: 3,
      mentioned: true,
    });
  });
});

describe("the decision-log shipper's flush deadline", () => {
  it("returns by its deadline while an upload hangs, and counts that batch dropped if it fails after close", async () => {
    const dropped: { reason: string; count: number }[] = [];
    let answer: (response: Response) => void = () => undefined;
    let uploads = 0;
    const shipper = createDecisionLogShipper({
      url: new URL("http://sink.invalid/logs"),
      flushIntervalMs: 60_000,
      timeoutMs: 600_000,
      log: () => undefined,
      events: { dropped: (reason, count) => dropped.push({ reason, count }) },
      fetch: () => {
        uploads++;
        return new Promise<Response>((resolve) => {
          answer = resolve;
        });
      },
    });
    for (let i = 0; i < 3; i++) shipper.enqueue({ decision_id: `d-${String(i)}` });
    // The sink holds the upload open far past the flush's 50 ms: flush must give up on time,
    // not wait for the upload's own ten-minute timeout.
    const outcome = await Promise.race([
      shipper.flush(50).then(() => "returned"),
      new Promise((done) => {
        setTimeout(() => {
          done("still waiting after 5 s");
        }, 5_000);
      }),
    ]);
    expect({ outcome, uploads }).toEqual({ outcome: "returned", uploads: 1 });
    shipper.close();
    answer(new Response("down", { status: 503 }));
    await new Promise((done) => setTimeout(done, 20));
    // The in-flight batch failed after close: counted as dropped at shutdown, not re-buffered.
    expect(dropped).toEqual([{ reason: "shutdown", count: 3 }]);
    expect(shipper.stats()).toEqual({ buffered: 0 });
  });
});
