// The gateway's deadline for the call being run, as the connectors see it.
//
// The gateway waits `timeout_ms` (a signed claim of the call token) for the worker's answer and
// then records the call as timed out. Work the worker did after that would be work nobody
// records: a Jira comment posted on the third retry, a security-group change applied after the
// gateway answered 504. So the worker runs each call under a deadline a little short of the
// gateway's (agent/src/app.ts), and every connector's HTTP layer honours it:
//   - `withCallDeadline(signal)`: a request's own timeout, also aborted at the call's deadline;
//   - `deadlineFetch(fetch)`: the same for libraries that take a fetch (Octokit, Slack's client);
//   - `remainingMs()`: a retry or a Retry-After wait longer than what is left is not started.
// The deadline travels in an AsyncLocalStorage, so the connector ports keep their signatures and
// no adapter can forget to pass it on: anything that runs inside `runWithDeadline` sees it.
//
// Outside a call (tests of one adapter, start-up) there is no deadline: `remainingMs()` is
// Infinity and the signals are the adapters' own.
import { AsyncLocalStorage } from "node:async_hooks";

interface Deadline {
  signal: AbortSignal;
  /** performance.now() at which the signal fires. */
  at: number;
}

const current = new AsyncLocalStorage<Deadline>();

/** Runs `run` with a deadline `budgetMs` from now; the signal is the one the connectors see. */
export function runWithDeadline<T>(
  budgetMs: number,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (!Number.isFinite(budgetMs) || budgetMs <= 0) {
    throw new RangeError("budgetMs must be a positive number of milliseconds");
  }
  const signal = AbortSignal.timeout(Math.ceil(budgetMs));
  return current.run({ signal, at: performance.now() + budgetMs }, () => run(signal));
}

/**
 * Runs `run` with `stop` joined to the running call's deadline (if any): every connector request
 * it makes is also aborted, and no retry of it starts, once `stop` fires (the kill switch's
 * revocation of a connector, agent/src/admin.ts). The time left is the deadline's.
 */
export function runWithStop<T>(stop: AbortSignal, run: () => Promise<T>): Promise<T> {
  const outer = current.getStore();
  const signal = outer === undefined ? stop : AbortSignal.any([outer.signal, stop]);
  return current.run({ signal, at: outer?.at ?? Infinity }, run);
}

/** The running call's deadline signal, or undefined outside a call. */
export function callDeadline(): AbortSignal | undefined {
  return current.getStore()?.signal;
}

/** Milliseconds left before the running call's deadline (Infinity outside a call; never < 0). */
export function remainingMs(): number {
  const deadline = current.getStore();
  return deadline === undefined ? Infinity : Math.max(0, deadline.at - performance.now());
}

/** `signal`, also aborted when the running call's deadline passes. */
export function withCallDeadline(signal: AbortSignal): AbortSignal {
  const deadline = callDeadline();
  return deadline === undefined ? signal : AbortSignal.any([signal, deadline]);
}

/** A fetch whose every request is also aborted at the running call's deadline. */
export function deadlineFetch(base: typeof fetch): typeof fetch {
  return (input, init) => {
    const deadline = callDeadline();
    if (deadline === undefined) return base(input, init);
    const own = init?.signal ?? undefined;
    const signal = own === undefined ? deadline : AbortSignal.any([own, deadline]);
    return base(input, { ...init, signal });
  };
}
