// Several pipeline observers as one (metrics, the decision log, the shadow policy): each is told
// everything, in order; one that throws is skipped and the others still hear.
import type { PipelineObserver } from "./index.ts";

export type PartialObserver = Partial<PipelineObserver>;

function each(observers: readonly PartialObserver[], tell: (o: PartialObserver) => void): void {
  for (const observer of observers) {
    try {
      tell(observer);
    } catch {
      // an observer's failure never changes a call, nor what the others hear
    }
  }
}

/** One observer telling all of `observers`; undefined when there is none. */
export function combineObservers(
  observers: readonly (PartialObserver | undefined)[],
): PipelineObserver | undefined {
  const present = observers.filter((o): o is PartialObserver => o !== undefined);
  if (present.length === 0) return undefined;
  return {
    step: (...args) => {
      each(present, (o) => o.step?.(...args));
    },
    call: (...args) => {
      each(present, (o) => o.call?.(...args));
    },
    decided: (...args) => {
      each(present, (o) => o.decided?.(...args));
    },
    undecided: (...args) => {
      each(present, (o) => o.undecided?.(...args));
    },
  };
}
