// The pipeline observer that writes every policy decision (allow and deny) to the decision log,
// every call the policy could not decide (an entry with `error`, as OPA's), and, when a shadow
// policy is configured, the shadow's verdict where it differs.
//
// Invariants: observing never changes a call: the entry is built and queued synchronously after
// the decision's audit record exists, and the shadow evaluation runs after, off the call's path
// (queueMicrotask), its failures counted, never thrown. The shadow never decides anything.
import type { Log } from "../../../common/service.ts";
import type { Decided } from "../pipeline/context.ts";
import type { PartialObserver } from "../pipeline/observers.ts";
import { errorEntry, liveEntry, shadowEntry, type EntryLabels } from "./entry.ts";
import type { ShadowPolicy } from "./shadow.ts";

export interface DecisionLogObserverOptions {
  /** Where entries go (the shipper's enqueue); absent: nothing is logged, only compared. */
  enqueue?: ((entry: object) => void) | undefined;
  labels: EntryLabels;
  shadow?: ShadowPolicy | undefined;
  /** The live policy's revision, for the entries of calls it could not decide. */
  revision?: () => string | null;
  log: Log;
}

export function createDecisionLogObserver(options: DecisionLogObserverOptions): PartialObserver {
  const { enqueue, labels, shadow, log, revision } = options;
  if (enqueue === undefined && shadow === undefined) {
    throw new TypeError("a decision-log observer needs a sink, a shadow policy, or both");
  }
  const compare = (decided: Decided, live: ReturnType<typeof liveEntry>) => {
    if (shadow === undefined) return;
    shadow
      .compare(decided.input, decided.decision)
      .then((verdict) => {
        if (verdict.difference === undefined || enqueue === undefined) return;
        enqueue(shadowEntry(live, { ...verdict, difference: verdict.difference }));
      })
      .catch((error: unknown) => {
        log("warn", "shadow policy comparison failed", { error: String(error) });
      });
  };
  return {
    decided(decided) {
      const entry = liveEntry(decided, labels);
      enqueue?.(entry);
      queueMicrotask(() => {
        compare(decided, entry);
      });
    },
    undecided(undecided) {
      enqueue?.(errorEntry(undecided, labels, revision?.() ?? null));
    },
  };
}
