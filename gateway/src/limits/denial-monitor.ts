// Automatic suspension of a runaway agent: when one agent collects `threshold` policy denials
// within `windowSeconds`, the monitor suspends it (the gateway wires `suspend` to the kill
// switch's agent scope) and writes an alert record. No HTTP here.
//
// What counts: policy denials only, that is refusals with the problem code "policy_denied" (the
// policy said no, with reasons). Not counted: "approval_required" (asking for a human approval is
// the normal route to a write, not misbehaviour) and "rate_limited" (a call over a rate limit
// never reached the policy; the limiter already slows the caller down, and counting it would turn
// a burst into a suspension). Those return { action: "ignored" }.
//
// Window: a denial at time s (epoch ms) counts for a denial at t while t - W < s <= t, like the
// rate limiter. The denial that brings the count to `threshold` triggers the suspension.
//
// Once: the monitor calls `suspend` once per episode. While that call is in flight, and after it
// succeeded, later denials of the agent are recorded but trigger nothing ("suspension_pending",
// "already_suspended"). The caller re-arms the agent with `cleared(agent)` when the suspension is
// lifted (the kill switch cleared); that also forgets the agent's denials, so the agent starts
// from zero instead of being suspended again by the denials that led to the first suspension (or
// by the kill-switch denials it collected while suspended).
//
// Failure: if `suspend` throws or rejects, the monitor still writes an alert (kind
// "agent_suspension_failed", with the error) and leaves the agent armed: its denials stay counted,
// so the next denial within the window tries again. If `alert` fails, the outcome says so (the
// suspension, when it succeeded, stands).
//
// Replicas: with `shared` (limits/shared-denials.ts, PostgreSQL), the count is every replica's:
// each denial is also recorded there and the threshold is judged on the larger of the two
// counts (the shared one, unless it failed: then this replica's own, logged through
// `onSharedError`; a denial has already refused its call, so a lost count only delays a
// suspension). `cleared` forgets the agent's shared denials up to that moment too. The
// suspension itself goes through the kill switch, shared already; two replicas reaching the
// threshold together both suspend, the second a no-op.
//
// Memory is bounded: at most `threshold` denials per agent (more are never needed to decide) and
// at most `maxAgents` agents. To make room for a new agent the monitor looks at the
// EVICTION_SCAN least recently denied agents and evicts, in this order: an armed agent with no
// denial in the window (nothing lost); a suspended agent (its state lives in the kill switch;
// forgetting it can only cause a second suspension and alert later, never a missed one); an armed
// agent below the threshold (its count is forgotten). An agent whose suspension is in flight, or
// that is armed at the threshold after a failed suspension, is never evicted. If nothing can be
// evicted the denial is not tracked ({ action: "untracked" }).
import type { AuditRecordInput } from "../audit/record.ts";
import { describeThrown } from "../policy/errors.ts";
import { MAX_DENIAL_THRESHOLD, MAX_WINDOW_SECONDS } from "./config.ts";
import { checkFunction, checkId, checkPositiveInteger, LimitsError, readClock } from "./errors.ts";
import { Ring } from "./ring.ts";
import type { SharedDenials } from "./shared-denials.ts";

/** Who the kill switch records as having suspended the agent. */
export const AUTO_SUSPENSION_ACTOR = "system:auto-suspension";

/** The problem codes a caller may report; only "policy_denied" counts. */
export type DenialCode = "policy_denied" | "approval_required" | "rate_limited";

export interface SuspendRequest {
  by: typeof AUTO_SUSPENSION_ACTOR;
  reason: string;
}

/** The alert, an audit record (event "alert"); `AuditLog.append` accepts it as it is. */
export interface SuspensionAlert extends AuditRecordInput {
  timestamp: string;
  event: "alert";
  kind: "agent_suspended" | "agent_suspension_failed";
  agent: string;
  /** Denials in the window when the threshold was reached (equals the threshold). */
  count: number;
  threshold: number;
  window_seconds: number;
  /** The counted denials' decision ids, oldest first (the last MAX_ALERT_DECISION_IDS). */
  decision_ids: string[];
  outcome: { status: "suspended" } | { status: "failed"; code: "suspend_failed" };
  details: {
    suspended_by: typeof AUTO_SUSPENSION_ACTOR;
    reason: string;
    first_denial_at: string;
    last_denial_at: string;
    error?: string;
  };
}

export type DenialOutcome =
  | { action: "ignored"; code: string }
  | { action: "counted"; count: number }
  | { action: "suspension_pending"; count: number }
  | { action: "already_suspended"; count: number }
  | { action: "suspended"; count: number; alerted: boolean; alertError?: string }
  | {
      action: "suspend_failed";
      count: number;
      error: string;
      alerted: boolean;
      alertError?: string;
    }
  | { action: "untracked" };

export type AgentState = "armed" | "suspending" | "suspended";

export interface DenialMonitor {
  /** Records one denial of `agent`; resolves once any suspension and alert it caused are done. */
  recordDenial(
    agent: string,
    denial: { code: DenialCode; decisionId: string },
  ): Promise<DenialOutcome>;
  /** The agent's suspension was lifted: re-arm it and forget its denials. */
  cleared(agent: string): void;
  /** The agent's state, undefined when not tracked. */
  state(agent: string): AgentState | undefined;
  stats(): { agents: number; maxAgents: number; denials: number; evictions: number };
}

export interface DenialMonitorOptions {
  /** Denials within the window that suspend the agent (limits.suspend_agent_after_denials). */
  threshold: number;
  /** The window, seconds (limits.denial_window_seconds). */
  windowSeconds: number;
  /** The clock, epoch milliseconds (default Date.now; frozen in tests). */
  now?: (() => number) | undefined;
  /**
   * Suspends the agent (the kill switch's agent scope). An answer `{ changed: false }` says it
   * was suspended already (another replica reached the threshold first): no second alert.
   */
  suspend: (agent: string, request: SuspendRequest) => unknown;
  /** Writes the alert record (AuditLog.append). */
  alert: (record: SuspensionAlert) => unknown;
  /** Cap on agents tracked (default 10,000). */
  maxAgents?: number | undefined;
  /** The denials of every replica (absent: this replica's alone). */
  shared?: SharedDenials | undefined;
  /** Told when the shared log failed (the local count then decides). */
  onSharedError?: ((error: unknown) => void) | undefined;
}

export const DEFAULT_MAX_AGENTS = 10_000;
export const MAX_MAX_AGENTS = 1_000_000;
/** Decision ids an alert carries at most (the newest). */
export const MAX_ALERT_DECISION_IDS = 50;
const EVICTION_SCAN = 64;

interface Denial {
  at: number;
  decisionId: string;
}

interface AgentEntry {
  state: AgentState;
  /** Bumped by cleared(): a suspension that resolves after it does not mark the agent. */
  generation: number;
  denials: Ring<Denial>;
}

/** Whether a suspension answered that nothing changed (the agent was suspended already). */
function isUnchanged(answer: unknown): boolean {
  return (
    typeof answer === "object" &&
    answer !== null &&
    (answer as { changed?: unknown }).changed === false
  );
}

export function createDenialMonitor(options: DenialMonitorOptions): DenialMonitor {
  if (typeof options !== "object") {
    throw new LimitsError("limits_option_invalid", "options must be an object");
  }
  const threshold = checkPositiveInteger("threshold", options.threshold, MAX_DENIAL_THRESHOLD);
  const windowSeconds = checkPositiveInteger(
    "windowSeconds",
    options.windowSeconds,
    MAX_WINDOW_SECONDS,
  );
  const now = checkFunction("now", options.now ?? Date.now);
  const suspend = checkFunction("suspend", options.suspend);
  const alert = checkFunction("alert", options.alert);
  const maxAgents = checkPositiveInteger(
    "maxAgents",
    options.maxAgents ?? DEFAULT_MAX_AGENTS,
    MAX_MAX_AGENTS,
  );
  const windowMs = windowSeconds * 1000;
  const { shared, onSharedError } = options;
  // Insertion order is the order of each agent's last denial (re-inserted on every denial).
  const agents = new Map<string, AgentEntry>();
  let evictions = 0;

  const prune = (entry: AgentEntry, t: number): void => {
    entry.denials.dropWhile((d) => d.at <= t - windowMs);
  };

  const makeRoom = (t: number): boolean => {
    let rank = Number.POSITIVE_INFINITY;
    let victim: string | undefined;
    let scanned = 0;
    for (const [id, entry] of agents) {
      if (scanned >= EVICTION_SCAN) break;
      scanned += 1;
      prune(entry, t);
      let r: number;
      if (entry.state === "armed" && entry.denials.size === 0) r = 0;
      else if (entry.state === "suspended") r = 1;
      else if (entry.state === "armed" && entry.denials.size < threshold) r = 2;
      else continue; // suspending, or armed at the threshold (retry pending): never evicted
      if (r < rank) {
        rank = r;
        victim = id;
        if (r === 0) break;
      }
    }
    if (victim === undefined) return false;
    agents.delete(victim);
    evictions += 1;
    return true;
  };

  const alertRecord = (
    agent: string,
    denials: readonly Denial[],
    reason: string,
    failure: string | undefined,
    fallbackTime: number,
  ): SuspensionAlert => {
    const firstAt = denials[0]?.at ?? fallbackTime;
    const lastAt = denials[denials.length - 1]?.at ?? fallbackTime;
    // The alert's own time; the triggering denial's time if the clock misbehaves meanwhile.
    let at: number;
    try {
      at = readClock(now);
    } catch {
      at = fallbackTime;
    }
    return {
      timestamp: new Date(at).toISOString(),
      event: "alert",
      kind: failure === undefined ? "agent_suspended" : "agent_suspension_failed",
      agent,
      count: denials.length,
      threshold,
      window_seconds: windowSeconds,
      decision_ids: denials.slice(-MAX_ALERT_DECISION_IDS).map((d) => d.decisionId),
      outcome:
        failure === undefined
          ? { status: "suspended" }
          : { status: "failed", code: "suspend_failed" },
      details: {
        suspended_by: AUTO_SUSPENSION_ACTOR,
        reason,
        first_denial_at: new Date(firstAt).toISOString(),
        last_denial_at: new Date(lastAt).toISOString(),
        ...(failure === undefined ? {} : { error: failure }),
      },
    };
  };

  const writeAlert = async (
    record: SuspensionAlert,
  ): Promise<{ alerted: true } | { alerted: false; alertError: string }> => {
    try {
      await alert(record);
      return { alerted: true };
    } catch (thrown) {
      return { alerted: false, alertError: describeThrown(thrown) };
    }
  };

  /** The agent's denials as every replica counted them, or this replica's when longer or alone. */
  const everyReplicas = async (
    log: SharedDenials,
    agent: string,
    local: Denial[],
    denial: Denial,
  ): Promise<readonly Denial[]> => {
    try {
      const all = await log.record(agent, denial, windowMs, threshold);
      return all.length > local.length ? all : local;
    } catch (thrown) {
      onSharedError?.(thrown);
      return local;
    }
  };

  return {
    async recordDenial(agentId, denial) {
      const agent = checkId("agent", agentId);
      if (typeof denial !== "object") {
        throw new LimitsError("limits_key_invalid", "the denial must be an object");
      }
      const decisionId = checkId("decisionId", denial.decisionId);
      if (denial.code !== "policy_denied") {
        return { action: "ignored", code: denial.code };
      }
      const t = readClock(now);
      let entry = agents.get(agent);
      if (entry === undefined) {
        if (agents.size >= maxAgents && !makeRoom(t)) return { action: "untracked" };
        entry = { state: "armed", generation: 0, denials: new Ring<Denial>(threshold) };
      }
      agents.delete(agent);
      agents.set(agent, entry);
      prune(entry, t);
      entry.denials.pushOverwrite({ at: t, decisionId });
      const armedAs = entry.generation;
      // Alone, synchronously: the state moves on before this call first yields.
      const counted =
        shared === undefined
          ? entry.denials.values()
          : await everyReplicas(shared, agent, entry.denials.values(), { at: t, decisionId });
      const count = counted.length;

      if (entry.state === "suspending") return { action: "suspension_pending", count };
      if (entry.state === "suspended") return { action: "already_suspended", count };
      // Lifted while the shared count was read: that count holds the denials the lift forgot.
      if (entry.generation !== armedAs) return { action: "counted", count: entry.denials.size };
      if (count < threshold) return { action: "counted", count };

      // The threshold is reached: suspend once.
      entry.state = "suspending";
      const { generation } = entry;
      const current = entry;
      const reason =
        `${count} policy denials within ${windowSeconds} s (threshold ${threshold}): ` +
        "suspended automatically as a runaway agent";
      let failure: string | undefined;
      let already = false;
      try {
        already = isUnchanged(await suspend(agent, { by: AUTO_SUSPENSION_ACTOR, reason }));
      } catch (thrown) {
        failure = describeThrown(thrown);
      }
      if (current.generation === generation && agents.get(agent) === current) {
        current.state = failure === undefined ? "suspended" : "armed";
      }
      // Suspended already (by another replica, or an admin): one alert is enough.
      if (already) return { action: "already_suspended", count };
      const record = alertRecord(agent, counted, reason, failure, t);
      const written = await writeAlert(record);
      return failure === undefined
        ? { action: "suspended", count, ...written }
        : { action: "suspend_failed", count, error: failure, ...written };
    },
    cleared(agentId) {
      const agent = checkId("agent", agentId);
      const entry = agents.get(agent);
      if (entry !== undefined) {
        entry.state = "armed";
        entry.generation += 1;
        entry.denials.clear();
      }
      if (shared !== undefined) {
        // Not awaited (the kill switch's apply calls this): a failure leaves rows that leave
        // the window in time; the agent may be suspended again sooner, never later.
        let t: number;
        try {
          t = readClock(now);
        } catch {
          return;
        }
        shared.forget(agent, t).catch((thrown: unknown) => onSharedError?.(thrown));
      }
    },
    state(agentId) {
      return agents.get(agentId)?.state;
    },
    stats() {
      let denials = 0;
      for (const entry of agents.values()) denials += entry.denials.size;
      return { agents: agents.size, maxAgents, denials, evictions };
    },
  };
}
