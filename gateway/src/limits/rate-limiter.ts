// Sliding-window call limits per agent, per user and per tool, from the "limits" section of the
// policy data. No HTTP here: the gateway route turns a refusal into 429 with Retry-After and an
// audit record.
//
// Semantics: an exact sliding log. A call at time t (epoch ms, from the injected clock) counts,
// in each of its three scopes, the calls that scope ADMITTED at times s with t - W < s <= t
// (W = window_seconds). A call admitted at s therefore leaves the window at exactly s + W.
// The call is admitted when every scope holds fewer than its limit; it is then recorded in all
// three. A refused call is recorded nowhere, so a caller that backs off recovers on time.
// Example, limit 3 in 60 s: calls at t = 0, 10 s, 20 s are admitted; at 30 s refused with
// retryAfterSeconds 30; at 59.999 s refused with retryAfterSeconds 1; at 60 s admitted (the call
// of t = 0 has left).
//
// The scopes and their keys:
//   agent  the acting agent's id, all users and tools together          limit per_agent
//   user   the user's subject, all agents and tools together            limit per_user
//   tool   one tool called by one agent for one user (the runaway loop)  limit per_tool[tool]
// so a busy agent never limits another agent, a busy user another user, nor one tool another.
//
// Retry-After: when the call is refused by one or more scopes, the answer names the scope whose
// oldest counted call leaves its window last, and retryAfterSeconds is ceil((oldest + W - t) /
// 1000), at least 1. At t + retryAfterSeconds every scope that was full has lost its oldest call,
// so the same call is admitted unless other calls have filled a scope again meanwhile.
//
// Memory is bounded. Each key keeps its admitted timestamps in a ring of at most `limit` entries
// (more are never needed: the ring is full exactly when the key is at its limit). The number of
// keys is capped by `maxKeys` (every scope's keys together). When a call needs a key that does
// not exist yet and the table is full, the limiter looks at the EVICTION_SCAN least recently
// called keys (not the current call's own) and evicts, in this order: a key idle for a whole
// window (nothing lost), else a key below its limit (its count is forgotten: that key may get up
// to `limit` more calls in the current window). A key AT its limit is never evicted: forgetting
// it would let an over-limit caller straight back in. If no key can be evicted the call is
// refused (fail closed) with cause "capacity", retryAfterSeconds being when the first scanned
// key drops below its limit.
//
// A clock that steps back never frees capacity early: timestamps stay in insertion order and a
// call recorded "in the future" keeps counting until it leaves the window as seen from then on.
import type { ToolName } from "../../../common/catalog.ts";
import type { Limits } from "./config.ts";
import { parseLimits } from "./config.ts";
import { checkFunction, checkId, checkPositiveInteger, LimitsError, readClock } from "./errors.ts";
import { Ring } from "./ring.ts";

export type LimitScope = "agent" | "user" | "tool";

export interface CallKey {
  /** The acting agent (verified `act.sub`). */
  agent: string;
  /** The user (verified `sub`). */
  user: string;
  /** The tool, one of the catalog's. */
  tool: ToolName | (string & Record<never, never>);
}

export type LimitVerdict =
  | { allowed: true }
  | {
      allowed: false;
      /** The scope that refused (the one that frees up last when several are full). */
      scope: LimitScope;
      /** That scope's limit: calls per window. */
      limit: number;
      windowSeconds: number;
      /** Integer, at least 1: when the scope's oldest counted call leaves the window. */
      retryAfterSeconds: number;
      /**
       * "limit": the scope is at its limit. "capacity": the key table is full of keys at their
       * limits, so a new key cannot be tracked and the call is refused (fail closed); `scope`
       * and `limit` then name the first scope of the call that needed a new key.
       */
      cause: "limit" | "capacity";
    };

export interface RateLimiterStats {
  /** Keys tracked, every scope together. */
  keys: number;
  maxKeys: number;
  /** Timestamps held, every key together. */
  timestamps: number;
  /** Ring storage allocated, every key together (never more than the keys' limits). */
  allocated: number;
  evictions: number;
  /** Calls refused because the key table was full (cause "capacity"). */
  capacityRefusals: number;
}

/** The port the pipeline uses: in memory (this file) or shared by replicas (postgres-limiter.ts). */
export interface CallLimiter {
  /** Admits and counts the call, or refuses it without counting it. */
  check(key: CallKey): LimitVerdict | Promise<LimitVerdict>;
  /** The validated limits in force. */
  readonly limits: Limits;
  /** Releases what the limiter holds (connections). */
  close?(): Promise<void>;
}

export interface RateLimiter extends CallLimiter {
  /** Admits and counts the call, or refuses it without counting it. */
  check(key: CallKey): LimitVerdict;
  /** The validated limits in force. */
  readonly limits: Limits;
  stats(): RateLimiterStats;
}

export interface RateLimiterOptions {
  /** The "limits" section of the policy data, validated here. */
  limits: unknown;
  /** The clock, epoch milliseconds (default Date.now; frozen in tests). */
  now?: (() => number) | undefined;
  /** Cap on keys tracked, every scope together (default 100,000; at least 3: one call's keys). */
  maxKeys?: number | undefined;
}

export const DEFAULT_MAX_KEYS = 100_000;
export const MAX_MAX_KEYS = 10_000_000;
/** How many least recently called keys an eviction looks at (bounds the cost of a full table). */
export const EVICTION_SCAN = 64;

interface Entry {
  limit: number;
  ring: Ring<number>;
}

/** A call's three scopes, their keys and limits (the same in every adapter). */
export function callScopes(
  limits: Limits,
  perTool: ReadonlyMap<string, number>,
  key: CallKey,
): { scope: LimitScope; id: string; limit: number }[] {
  if (typeof key !== "object") {
    throw new LimitsError("limits_key_invalid", "the call key must be an object");
  }
  const agent = checkId("agent", key.agent);
  const user = checkId("user", key.user);
  const tool = checkId("tool", key.tool);
  const toolLimit = perTool.get(tool);
  if (toolLimit === undefined) {
    throw new LimitsError("limits_key_invalid", `tool ${tool} has no limit (not in the catalog)`);
  }
  return [
    { scope: "agent", id: JSON.stringify(["agent", agent]), limit: limits.per_agent },
    { scope: "user", id: JSON.stringify(["user", user]), limit: limits.per_user },
    { scope: "tool", id: JSON.stringify(["tool", agent, user, tool]), limit: toolLimit },
  ];
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  if (typeof options !== "object") {
    throw new LimitsError("limits_option_invalid", "options must be an object");
  }
  const limits = parseLimits(options.limits);
  const now = checkFunction("now", options.now ?? Date.now);
  // A call may need three new keys (agent, user, tool): fewer could never admit a call.
  const maxKeys = checkPositiveInteger(
    "maxKeys",
    options.maxKeys ?? DEFAULT_MAX_KEYS,
    MAX_MAX_KEYS,
    3,
  );
  const windowMs = limits.window_seconds * 1000;
  const perTool: ReadonlyMap<string, number> = new Map(Object.entries(limits.per_tool));
  // Insertion order is the order of each key's last admitted call (re-inserted on every call):
  // the first keys are the least recently called, so the idle ones come first.
  const table = new Map<string, Entry>();
  let evictions = 0;
  let capacityRefusals = 0;

  const prune = (entry: Entry, t: number): void => {
    entry.ring.dropWhile((s) => s <= t - windowMs);
  };
  const retryAfter = (entry: Entry, t: number): number =>
    Math.max(1, Math.ceil(((entry.ring.oldest() ?? t) + windowMs - t) / 1000));

  /** Evicts one key, never one of `keep`; returns false when every scanned key is at its limit. */
  const evictOne = (
    t: number,
    keep: ReadonlySet<string>,
  ): { ok: true } | { ok: false; retry: number } => {
    let belowLimit: string | undefined;
    let retry = Number.POSITIVE_INFINITY;
    let scanned = 0;
    for (const [id, entry] of table) {
      if (scanned >= EVICTION_SCAN) break;
      if (keep.has(id)) continue;
      scanned += 1;
      prune(entry, t);
      if (entry.ring.size === 0) {
        table.delete(id);
        evictions += 1;
        return { ok: true };
      }
      if (entry.ring.size < entry.limit) {
        belowLimit ??= id;
      } else {
        retry = Math.min(retry, retryAfter(entry, t));
      }
    }
    if (belowLimit === undefined) {
      return { ok: false, retry: Number.isFinite(retry) ? retry : 1 };
    }
    table.delete(belowLimit);
    evictions += 1;
    return { ok: true };
  };

  return {
    limits,
    check(key) {
      const scopes = callScopes(limits, perTool, key);
      const t = readClock(now);

      // 1. Every scope under its limit? Refuse, counting nothing, with the longest wait.
      let refusal: Extract<LimitVerdict, { allowed: false }> | undefined;
      for (const { scope, id, limit } of scopes) {
        const entry = table.get(id);
        if (entry === undefined) continue;
        prune(entry, t);
        if (entry.ring.size < limit) continue;
        const retryAfterSeconds = retryAfter(entry, t);
        if (refusal === undefined || retryAfterSeconds > refusal.retryAfterSeconds) {
          refusal = {
            allowed: false,
            scope,
            limit,
            windowSeconds: limits.window_seconds,
            retryAfterSeconds,
            cause: "limit",
          };
        }
      }
      if (refusal !== undefined) return refusal;

      // 2. Room for the keys this call needs, or refuse (fail closed).
      const missing = scopes.filter(({ id }) => !table.has(id));
      const [first] = missing;
      if (first !== undefined && table.size + missing.length > maxKeys) {
        const keep = new Set(scopes.map(({ id }) => id));
        while (table.size + missing.length > maxKeys) {
          const evicted = evictOne(t, keep);
          if (!evicted.ok) {
            capacityRefusals += 1;
            return {
              allowed: false,
              scope: first.scope,
              limit: first.limit,
              windowSeconds: limits.window_seconds,
              retryAfterSeconds: evicted.retry,
              cause: "capacity",
            };
          }
        }
      }

      // 3. Admit: record the call in all three scopes, each key now the most recently called.
      for (const { id, limit } of scopes) {
        const entry = table.get(id) ?? { limit, ring: new Ring<number>(limit) };
        table.delete(id);
        entry.ring.push(t);
        table.set(id, entry);
      }
      return { allowed: true };
    },
    stats() {
      let timestamps = 0;
      let allocated = 0;
      for (const entry of table.values()) {
        timestamps += entry.ring.size;
        allocated += entry.ring.allocated;
      }
      return { keys: table.size, maxKeys, timestamps, allocated, evictions, capacityRefusals };
    },
  };
}
