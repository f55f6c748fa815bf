// The work the gateway is doing right now (requests being answered, a sweep's compensations),
// for a graceful stop: the drain must wait for the calls, not for their sockets. A client that
// hangs up while its write is at the worker closes its connection, and the HTTP server's close
// then completes; the call still runs, and its outcome record still has to be written before the
// audit log is closed and the process exits.

export interface InFlight {
  /** Runs `work`, counted until it settles. */
  track<T>(work: () => Promise<T>): Promise<T>;
  /** Resolves once nothing is in flight. */
  idle(): Promise<void>;
  /** How many are in flight. */
  size(): number;
}

export function createInFlight(): InFlight {
  let count = 0;
  let waiters: (() => void)[] = [];
  return {
    async track(work) {
      count += 1;
      try {
        return await work();
      } finally {
        count -= 1;
        if (count === 0) {
          const woken = waiters;
          waiters = [];
          for (const wake of woken) wake();
        }
      }
    },
    idle: () =>
      count === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiters.push(resolve);
          }),
    size: () => count,
  };
}
