// The retry loop behind the shared session signals' rebuilds and re-sharing: one run at a time,
// requests during a run coalesce into one more, failures back off (doubling, capped, reset by a
// success), a request waits for a scheduled retry unless it says `now`, nothing after stop.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { retryLoop } from "../../src/lib/retry-loop.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A task whose runs are counted and finish when the test says, failing when it says. */
function controlled() {
  const runs: { finish: (fail?: boolean) => void }[] = [];
  const task = () =>
    new Promise<void>((resolve, reject) => {
      runs.push({
        finish: (fail = false) => {
          if (fail) reject(new Error("down"));
          else resolve();
        },
      });
    });
  return { runs, task };
}

describe("retryLoop", () => {
  it("refuses options it cannot honour", () => {
    const onError = () => undefined;
    expect(() =>
      retryLoop(() => Promise.resolve(), { retryMs: 0, maxRetryMs: 10, onError }),
    ).toThrow("retryMs must be > 0");
    expect(() =>
      retryLoop(() => Promise.resolve(), { retryMs: 10, maxRetryMs: 5, onError }),
    ).toThrow("maxRetryMs must be a number >= retryMs");
  });

  it("runs one at a time and turns requests during a run into exactly one more", async () => {
    const { runs, task } = controlled();
    const loop = retryLoop(task, { retryMs: 100, maxRetryMs: 400, onError: () => undefined });
    loop.request();
    loop.request();
    loop.request();
    expect(runs).toHaveLength(1);
    runs[0]?.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(2);
    runs[1]?.finish();
    await loop.idle();
    expect(runs).toHaveLength(2);
  });

  it("retries a failure after a doubling, capped delay, reset by a success", async () => {
    const { runs, task } = controlled();
    const errors: unknown[] = [];
    const loop = retryLoop(task, { retryMs: 100, maxRetryMs: 250, onError: (e) => errors.push(e) });
    loop.request();
    runs[0]?.finish(true);
    await vi.advanceTimersByTimeAsync(99);
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(2);
    runs[1]?.finish(true);
    await vi.advanceTimersByTimeAsync(199);
    expect(runs).toHaveLength(2);
    loop.request(); // waits for the scheduled retry
    expect(runs).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(3);
    runs[2]?.finish(true);
    await vi.advanceTimersByTimeAsync(250); // capped at maxRetryMs
    expect(runs).toHaveLength(4);
    runs[3]?.finish();
    await loop.idle();
    expect(errors).toHaveLength(3);
    loop.request();
    runs[4]?.finish(true);
    await vi.advanceTimersByTimeAsync(100); // reset to retryMs after the success
    expect(runs).toHaveLength(6);
    loop.stop();
  });

  it("runs at once when asked with now, instead of waiting for the scheduled retry", async () => {
    const { runs, task } = controlled();
    const loop = retryLoop(task, { retryMs: 60_000, maxRetryMs: 60_000, onError: () => undefined });
    loop.request();
    runs[0]?.finish(true);
    await vi.advanceTimersByTimeAsync(0);
    loop.request();
    expect(runs).toHaveLength(1);
    loop.request(true);
    expect(runs).toHaveLength(2);
    runs[1]?.finish();
    await loop.idle();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toHaveLength(2); // the cancelled retry never fires
  });

  it("retries soon a run that fails after a request with now arrived during it", async () => {
    const { runs, task } = controlled();
    const loop = retryLoop(task, { retryMs: 100, maxRetryMs: 10_000, onError: () => undefined });
    loop.request();
    runs[0]?.finish(true);
    await vi.advanceTimersByTimeAsync(100);
    runs[1]?.finish(true);
    await vi.advanceTimersByTimeAsync(200);
    expect(runs).toHaveLength(3); // backing off: 100, 200, next 400
    loop.request(true); // during run 3
    runs[2]?.finish(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(4);
    loop.stop();
  });

  it("does not lose a request made between a failed run's end and the loop noticing it", async () => {
    const { runs, task } = controlled();
    const loop = retryLoop(task, { retryMs: 60_000, maxRetryMs: 60_000, onError: () => undefined });
    loop.request();
    runs[0]?.finish(true);
    // Runs after the failed run scheduled its retry, before the loop saw the run end.
    queueMicrotask(() => {
      loop.request(true);
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(2);
    loop.stop();
  });

  it("starts nothing after stop, and a scheduled retry is cancelled", async () => {
    const { runs, task } = controlled();
    const loop = retryLoop(task, { retryMs: 100, maxRetryMs: 100, onError: () => undefined });
    loop.request();
    runs[0]?.finish(true);
    await vi.advanceTimersByTimeAsync(0);
    loop.stop();
    loop.request(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toHaveLength(1);
  });

  it("keeps retrying when the error report itself throws", async () => {
    const { runs, task } = controlled();
    const loop = retryLoop(task, {
      retryMs: 100,
      maxRetryMs: 100,
      onError: () => {
        throw new Error("logger down");
      },
    });
    loop.request();
    runs[0]?.finish(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(2);
    loop.stop();
  });
});
