// A background task that runs one at a time, on request, and again until it succeeds: the shared
// session signals' rebuild from PostgreSQL and their re-sharing of signals whose insert failed.
//
// Invariants: at most one run at a time. A request while a run is in flight is not lost: one
// more run starts after it (requests coalesce: many during one run make one more). A failed run
// is retried after a delay that doubles from `retryMs` up to `maxRetryMs`, and resets after a
// success; a request while a retry is scheduled waits for it (a burst of requests during an
// outage does not defeat the backoff) unless it says the dependency works again (`now`). After
// `stop`, nothing new starts.
//
// Failure modes: a run that throws is reported to `onError` and retried; `onError` itself must
// not throw (what it throws is swallowed). Timers are unref'd: the loop never holds the process.

export interface RetryLoopOptions {
  /** The first retry's delay after a failure, ms (> 0). */
  retryMs: number;
  /** The longest delay between retries, ms (>= retryMs). */
  maxRetryMs: number;
  onError: (error: unknown) => void;
}

export interface RetryLoop {
  /**
   * Asks for a run: now if idle, after the current run, or at the scheduled retry; with `now`
   * (the caller has just seen the dependency work), a scheduled retry runs at once instead.
   */
  request(now?: boolean): void;
  /** Resolves once no run is in flight (tests and shutdown). */
  idle(): Promise<void>;
  stop(): void;
}

export function retryLoop(task: () => Promise<void>, options: RetryLoopOptions): RetryLoop {
  const { retryMs, maxRetryMs, onError } = options;
  if (!(Number.isFinite(retryMs) && retryMs > 0)) throw new TypeError("retryMs must be > 0");
  if (!(Number.isFinite(maxRetryMs) && maxRetryMs >= retryMs)) {
    throw new TypeError("maxRetryMs must be a number >= retryMs");
  }
  let running: Promise<void> | undefined;
  /** A request arrived during the run in flight (an object: set from other calls). */
  const asked = { again: false, now: false };
  const more = (): boolean => asked.again && !stopped;
  const askedNow = (): boolean => asked.now;
  let retry: NodeJS.Timeout | undefined;
  let delay = retryMs;
  let stopped = false;

  const schedule = (): void => {
    retry = setTimeout(() => {
      retry = undefined;
      start();
    }, delay);
    retry.unref();
    delay = Math.min(maxRetryMs, delay * 2);
  };

  async function runUntilSettled(): Promise<void> {
    do {
      asked.again = false;
      asked.now = false;
      try {
        await task();
        delay = retryMs;
      } catch (error) {
        try {
          onError(error);
        } catch {
          // the report is best effort; the retry is not
        }
        // Asked with `now` during this run: the dependency was seen working, retry soon.
        if (askedNow()) delay = retryMs;
        asked.now = false;
        if (!stopped) schedule();
        return;
      }
    } while (more());
  }

  function start(): void {
    if (stopped) return;
    running = runUntilSettled().finally(() => {
      running = undefined;
      // A request between the last run's end and here (other microtasks) is not lost.
      if (more() && retry === undefined) start();
    });
  }

  return {
    request(now = false) {
      if (stopped) return;
      if (now && retry !== undefined) {
        clearTimeout(retry);
        retry = undefined;
        delay = retryMs;
      }
      if (running !== undefined) {
        asked.again = true;
        asked.now ||= now;
      } else if (retry === undefined) start();
    },
    async idle() {
      while (running !== undefined) await running;
    },
    stop() {
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      retry = undefined;
    },
  };
}
