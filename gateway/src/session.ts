// Server-side signals the policy reads as context: whether a session has read content flagged
// as prompt injection (tainted), and how many denials an agent had recently. In memory, bounded;
// shared by replicas through PostgreSQL in session-postgres.ts (the same port).
//
// Two kinds of key are tainted together (pipeline/handoff.ts): the session the content was read
// in, and the actor (the verified user and agent, `actorKey`), so that a new session id does not
// wash a taint off. Session ids come from the caller and are as many as it likes; actors are
// verified identities, bounded by the people and agents the bank has. The bounds follow that:
//   - session taints: at most `maxSessions`; at the cap the least recently tainted session is
//     forgotten. Safe because its actor's taint, set in the same call, still holds every write
//     of that actor for approval, whatever the session;
//   - actor taints are never forgotten (with PostgreSQL, they outlive restarts: only an
//     administrator's clear deletes their rows). Past `maxActors` of them the store is
//     saturated and fails closed: every key reads as tainted (every write is held for
//     approval), an error is logged, and the metric
//     zyx_gateway_session_taints{kind="saturated"} is 1, until the process restarts with fewer
//     (with PostgreSQL, once rows are removed).
// Clearing (TaintAdmin, for the security admins' /v1/admin/taints): one key's taint goes; the
// others stay (an actor cleared keeps the sessions that read the injection tainted: their context
// holds it). In memory a clear holds when it returns. It does not lift saturation: the actors
// past the bound were never recorded, so only a restart (with PostgreSQL, a rebuild from rows
// within the bound) can tell them apart.
// Denials: at most `maxAgents` agents and `maxDenialsPerAgent` denials each; to make room for a
// new agent, the least recently denied one goes (its denials leave the window first; it counts
// only if that many distinct verified actors were denied after it within one window).

export interface SessionSignals {
  isTainted(sessionId: string): boolean;
  /**
   * Holds on this replica before it returns, and never rejects: the caller has already run the
   * tool, so a taint that failed would hand tainted content on untainted. Shared adapters
   * (session-postgres.ts) resolve once the other replicas can see it, or once a retry is
   * scheduled if PostgreSQL refused it.
   */
  taint(sessionId: string): void | Promise<void>;
  recentDenials(agent: string, nowMs: number): number;
  recordDenial(agent: string, nowMs: number): void;
}

export interface SessionSignalsOptions {
  /** The window in which denials count, in milliseconds. */
  denialWindowMs: number;
  /** Bounds on memory: session taints remembered, agents tracked, denials kept per agent. */
  maxSessions?: number;
  maxAgents?: number;
  maxDenialsPerAgent?: number;
  /** Actor taints remembered; past it, every key reads as tainted (fail closed). */
  maxActors?: number;
  /** Told once, when the store saturates (log it: every write is now held for approval). */
  onSaturated?: () => void;
}

/** A tainted actor, as the admin API shows it: the verified user and the agent. */
export interface TaintedActor {
  user: string;
  agent: string;
}

/** What the admin API lists: the tainted actors this replica holds (at most a limit), and counts. */
export interface TaintListing {
  actors: TaintedActor[];
  stats: TaintStats;
}

/** The security admins' handle on taints (/v1/admin/taints); both stores implement it. */
export interface TaintAdmin {
  /** The tainted actors, sorted by user then agent, the first `limit` of them. */
  listTaints(limit: number): TaintListing;
  /**
   * Where this store's taints stand now, a mark for clearTaint: in memory a counter of taints, in
   * PostgreSQL the database's clock in whole ms (one clock for every replica). Read it when a
   * clear is asked for; rejects when a shared store is down.
   */
  clock(): Promise<number>;
  /**
   * Clears one key's taint (a session id or an actorKey) as it stood at the mark `upTo` (from
   * `clock()`): a taint set later (new content read meanwhile) stays. On every replica for a shared store.
   * Resolves `cleared`: whether a taint went; `refused` for an actor once session taints were
   * forgotten at the bound (checked as the clear runs: those sessions' only hold is the actor's
   * taint). Rejects when a shared store did not confirm it (it may or may not have happened).
   */
  clearTaint(key: string, upTo: number): Promise<{ cleared: boolean; refused?: true }>;
}

/** How full the taint store is, for the metrics (an alert on actors / maxActors, say 0.8). */
export interface TaintStats {
  sessions: number;
  actors: number;
  maxActors: number;
  saturated: boolean;
  /**
   * Session taints forgotten at the `maxSessions` bound (safe only while their actor's taint
   * holds: an actor's clear is refused once any was forgotten).
   */
  sessionsEvicted: number;
}

/** The in-memory store, which also says how full it is and whether it saturated. */
export interface MemorySessionSignals extends SessionSignals, TaintAdmin {
  /** In memory, a taint holds when this returns. */
  taint(key: string): void;
  stats(): TaintStats;
  /**
   * Records that session taints were forgotten elsewhere (a shared store swept its rows past the
   * bound): an actor's clear is refused from then on, as after an eviction here.
   */
  noteSessionsEvicted(count: number): void;
}

const ACTOR_PREFIX = "actor:";
/** What the gateway logs, as an error, when the store saturates. */
export const TAINTS_SATURATED =
  "session taints: more actors tainted than the store holds; every call now reads as tainted " +
  "(writes held for approval) until the gateway restarts with fewer actor taints (with " +
  "PostgreSQL, after their rows are removed)";

/**
 * The key of a verified user's agent. It holds a NUL, which no session id can (the HTTP and MCP
 * contracts allow 1 to 128 of A-Z a-z 0-9 . _ : -), so the two kinds never collide.
 */
export function actorKey(subject: string, agent: string): string {
  return `${ACTOR_PREFIX}${subject}\u0000${agent}`;
}

export function isActorKey(key: string): boolean {
  return key.startsWith(ACTOR_PREFIX) && key.includes("\u0000");
}

/** The user and agent of an actorKey. */
export function actorOfKey(key: string): TaintedActor {
  const rest = key.slice(ACTOR_PREFIX.length);
  const nul = rest.indexOf("\u0000");
  return { user: rest.slice(0, nul), agent: rest.slice(nul + 1) };
}

function listActors(keys: Iterable<string>, limit: number): TaintedActor[] {
  if (limit <= 0) return [];
  return [...keys]
    .map(actorOfKey)
    .sort((a, b) => compare(a.user, b.user) || compare(a.agent, b.agent))
    .slice(0, Math.max(0, limit));
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Drops the first key in insertion order. The stores below keep insertion order as recency (a
 * key used again is deleted and re-added), so this is the least recently used one.
 */
function dropOldest(keys: { keys(): Iterator<string>; delete(key: string): boolean }): void {
  const oldest = keys.keys().next();
  if (oldest.done !== true) keys.delete(oldest.value);
}

/**
 * Whether a clear of `key` must be refused: an actor's, once session taints were forgotten at
 * their bound (those sessions' only hold is the actor's taint). Both stores and the route ask it.
 */
export function clearRefused(key: string, stats: Pick<TaintStats, "sessionsEvicted">): boolean {
  return isActorKey(key) && stats.sessionsEvicted > 0;
}

/** The taints of a memory store: when each key was tainted, bounded as the header says. */
function createTaintSets(options: SessionSignalsOptions) {
  const maxSessions = options.maxSessions ?? 100_000;
  const maxActors = options.maxActors ?? 100_000;
  // "When" is a counter: every taint a new, higher number, so a clear's mark splits before from
  // after exactly (no clock, no tie).
  let counter = 0;
  const now = (): number => ++counter;
  // key → when it was (last) tainted. Insertion order is recency: tainted again, moved to the end.
  const sessionTaints = new Map<string, number>();
  const actorTaints = new Map<string, number>();
  let saturated = false;
  let sessionsEvicted = 0;

  const taintSession = (sessionId: string): void => {
    sessionTaints.delete(sessionId);
    if (sessionTaints.size >= maxSessions) {
      dropOldest(sessionTaints);
      sessionsEvicted++;
    }
    sessionTaints.set(sessionId, now());
  };
  const taintActor = (key: string): void => {
    if (actorTaints.has(key) || actorTaints.size < maxActors) {
      actorTaints.set(key, now());
    } else if (!saturated) {
      saturated = true;
      options.onSaturated?.();
    }
  };
  const setOf = (key: string) => (isActorKey(key) ? actorTaints : sessionTaints);

  return {
    noteEvicted: (count: number): void => {
      sessionsEvicted += Math.max(0, count);
    },
    mark: (): number => counter,
    stats: (): TaintStats => ({
      sessions: sessionTaints.size,
      actors: actorTaints.size,
      maxActors,
      saturated,
      sessionsEvicted,
    }),
    actorKeys: () => actorTaints.keys(),
    clearSync: (key: string, upTo: number): boolean => {
      const set = setOf(key);
      const at = set.get(key);
      if (at === undefined || at > upTo) return false;
      return set.delete(key);
    },
    isTainted: (key: string): boolean =>
      saturated || sessionTaints.has(key) || actorTaints.has(key),
    taint: (key: string): void => {
      if (isActorKey(key)) taintActor(key);
      else taintSession(key);
    },
  };
}

export function createSessionSignals(options: SessionSignalsOptions): MemorySessionSignals {
  const { denialWindowMs } = options;
  if (!Number.isFinite(denialWindowMs) || denialWindowMs <= 0) {
    throw new TypeError("denialWindowMs must be a positive number");
  }
  const maxAgents = options.maxAgents ?? 10_000;
  const maxDenials = options.maxDenialsPerAgent ?? 1_000;
  const taints = createTaintSets(options);
  const denials = new Map<string, number[]>();

  const prune = (times: number[], nowMs: number): void => {
    while (times.length > 0 && (times[0] ?? 0) <= nowMs - denialWindowMs) times.shift();
  };

  return {
    stats: taints.stats,
    noteSessionsEvicted: taints.noteEvicted,
    listTaints: (limit) => ({
      actors: listActors(taints.actorKeys(), limit),
      stats: taints.stats(),
    }),
    clock: () => Promise.resolve(taints.mark()),
    // In memory a clear holds when this returns (the promise is already settled).
    clearTaint: (key, upTo) =>
      Promise.resolve(
        clearRefused(key, taints.stats())
          ? { cleared: false, refused: true as const }
          : { cleared: taints.clearSync(key, upTo) },
      ),
    isTainted: taints.isTainted,
    taint: taints.taint,
    recentDenials(agent, nowMs) {
      const times = denials.get(agent);
      if (times === undefined) return 0;
      prune(times, nowMs);
      return times.length;
    },
    recordDenial(agent, nowMs) {
      let times = denials.get(agent);
      if (times === undefined) {
        // The least recently denied agent, whose denials leave the window first. No scan: a
        // few µs at the cap (V8's Map walks over the slots earlier front deletions left).
        if (denials.size >= maxAgents) dropOldest(denials);
        times = [];
      } else {
        denials.delete(agent);
      }
      denials.set(agent, times);
      prune(times, nowMs);
      times.push(nowMs);
      if (times.length > maxDenials) times.shift();
    },
  };
}
