// The shadow policy: a candidate bundle evaluated beside the live one on every decided call,
// never deciding (the live mode AWS calls LOG_ONLY and Google DRY_RUN). What it would have
// decided is compared with the live decision; a difference is counted and written to the
// decision log.
//
// Invariants: the shadow only ever reads the input the live policy decided on; its outcome is
// returned to the observer and nowhere else (no path from here to a call's answer). A shadow that
// cannot decide (no bundle, a trap) is a difference of kind "error", never an exception. The
// shadow sees the same kill-switch state as the live policy (mirrorState).
import type { Decision, DecisionInput, PolicyState } from "../policy/decision.ts";
import { approversOf } from "../policy/approvers.ts";
import type { PolicyEngine } from "../policy/engine.ts";

/** How a shadow verdict differs from the live decision; "none" when it does not. */
export type ShadowDifference = "none" | "error" | "allow" | "reasons" | "approval" | "risk";

export interface ShadowVerdict {
  /** The shadow's decision, or its error. */
  result: unknown;
  revision: string;
  /** Absent when the shadow agreed. */
  difference: Exclude<ShadowDifference, "none"> | undefined;
}

export interface ShadowPolicy {
  compare(input: DecisionInput, live: Decision): Promise<ShadowVerdict>;
}

function codes(decision: Decision): string {
  return decision.reasons
    .map((r) => r.code)
    .toSorted()
    .join(",");
}

/** The first way `shadow` differs from `live`, most consequential first. */
export function differenceOf(live: Decision, shadow: Decision): ShadowVerdict["difference"] {
  if (live.allow !== shadow.allow) return "allow";
  if (codes(live) !== codes(shadow)) return "reasons";
  if (live.approval.approvers_required !== shadow.approval.approvers_required) return "approval";
  // Who may approve, and when: a shadow that lets anyone approve differs in its approval.
  if (approversOf(live.approval) !== approversOf(shadow.approval)) return "approval";
  if (live.risk.score !== shadow.risk.score) return "risk";
  return undefined;
}

export function createShadowPolicy(options: {
  engine: PolicyEngine;
  /** Told every comparison's outcome (the metric). */
  compared?: (difference: ShadowDifference) => void;
}): ShadowPolicy {
  const { engine, compared } = options;
  return {
    async compare(input, live) {
      const outcome = await engine.evaluate(input);
      const revision = engine.revision ?? "none";
      const verdict: ShadowVerdict = outcome.ok
        ? { result: outcome.decision, revision, difference: differenceOf(live, outcome.decision) }
        : {
            result: { error: { code: outcome.code, message: outcome.message } },
            revision,
            difference: "error",
          };
      compared?.(verdict.difference ?? "none");
      return verdict;
    },
  };
}

/**
 * The live engine, with every kill-switch state it is given also given to the shadow, so both
 * decide on the same state. Everything else is the live engine's own. The live engine takes the
 * state first, and nothing the shadow does (a throw, a rejection) can keep it from the live
 * one: a candidate under evaluation never holds up a kill switch.
 */
export function mirrorState<E extends PolicyEngine>(live: E, shadow: PolicyEngine): E {
  return new Proxy(live, {
    get(target, property) {
      if (property === "setState") {
        return (state: PolicyState) => {
          const applied = target.setState(state);
          try {
            void Promise.resolve(shadow.setState(state)).catch(() => undefined);
          } catch {
            // The shadow's failure is its own: its decisions then differ, and are counted so.
          }
          return applied;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function"
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}
