// Keeps a replica's kill switch in step with the shared store: every notification (LISTEN/NOTIFY)
// and every `intervalMs` (the safety net for lost notifications) it re-reads the newest version
// and applies it (KillSwitch.sync).
//
// Fail closed: when no re-read has succeeded for longer than `staleAfterMs`, the store is lost;
// the kill switch then hands the policy its state with all_writes on (write tools refused) and
// storeStatus().healthy is false (/readyz says so). The first successful re-read afterwards
// restores the saved state: recovery needs no restart. The bound is checked on every tick, even
// while a re-read hangs (each has its own timeout in the store). A lost (or restored) state the
// policy did not take (its apply failed) is handed to it again on the next tick.
//
// The bound must be at least twice the interval (TypeError otherwise): a re-read succeeds at most
// once per tick, so with a bound no longer than the interval every tick would find the last
// success older than the bound and mark a healthy store lost, flapping writes off and on.
import type { KillSwitch } from "./service.ts";
import type { KillSwitchStore } from "./port.ts";

export interface KillSwitchSyncOptions {
  killSwitch: KillSwitch;
  store: KillSwitchStore;
  /** Periodic re-read, ms (default 500). */
  intervalMs?: number;
  /** Store lost after this long without a successful re-read, ms (default 3000). */
  staleAfterMs?: number;
  now?: () => number;
  /** Told about state changes of the store (lost, back) and failed re-reads. */
  log?: (level: "info" | "error", message: string, fields?: Record<string, unknown>) => void;
}

export interface KillSwitchSync {
  stop(): Promise<void>;
}

function checkBound(name: string, value: number, low: number, high: number): number {
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new TypeError(`${name} must be an integer from ${String(low)} to ${String(high)}`);
  }
  return value;
}

export function startKillSwitchSync(options: KillSwitchSyncOptions): KillSwitchSync {
  const { killSwitch, store } = options;
  const intervalMs = checkBound("intervalMs", options.intervalMs ?? 500, 10, 60_000);
  const staleAfterMs = checkBound("staleAfterMs", options.staleAfterMs ?? 3_000, 10, 3_600_000);
  if (staleAfterMs < 2 * intervalMs) {
    throw new TypeError(
      "staleAfterMs must be at least twice intervalMs (or a healthy store flaps)",
    );
  }
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => undefined);
  let lastOk = now();
  let running = false;
  let again = false;
  let lost = false;

  /** Hands the policy the lost (or restored) state; remembered only once it took it. */
  async function markLost(value: boolean): Promise<void> {
    if (lost === value) return;
    try {
      await killSwitch.setStoreLost(value);
    } catch (error) {
      // Not taken: the next tick tries again (a lost store must reach the policy).
      log("error", "kill-switch store state not applied (will retry)", {
        lost: value,
        error: String(error),
      });
      return;
    }
    lost = value;
    log(
      value ? "error" : "info",
      value ? "kill-switch store lost: writes refused" : "kill-switch store back",
      {
        store: store.location,
      },
    );
  }

  const askedAgain = (): boolean => again;

  async function reread(): Promise<void> {
    if (running) {
      again = true; // a notification during a re-read: read once more after it
      return;
    }
    running = true;
    try {
      do {
        again = false;
        try {
          await killSwitch.sync();
          lastOk = now();
          await markLost(false);
        } catch (error) {
          log("error", "kill-switch re-read failed", { error: String(error) });
        }
      } while (askedAgain());
    } finally {
      running = false;
    }
  }

  function tick(): void {
    if (!lost && now() - lastOk > staleAfterMs) void markLost(true).catch(() => undefined);
    void reread();
  }

  const timer = setInterval(tick, intervalMs);
  timer.unref();
  const unwatch = store.watch?.(() => void reread());
  return {
    stop: async () => {
      clearInterval(timer);
      await unwatch?.();
    },
  };
}
