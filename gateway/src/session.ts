// Server-side signals the policy reads as context: whether a session has read content flagged
// as prompt injection (tainted), and how many denials an agent had recently. In memory, bounded;
// shared by replicas through PostgreSQL in session-postgres.ts (the same port).

export interface SessionSignals {
  isTainted(sessionId: string): boolean;
  /** Shared adapters (session-postgres.ts) resolve once the other replicas can see it. */
  taint(sessionId: string): void | Promise<void>;
  recentDenials(agent: string, nowMs: number): number;
  recordDenial(agent: string, nowMs: number): void;
}

export interface SessionSignalsOptions {
  /** The window in which denials count, in milliseconds. */
  denialWindowMs: number;
  /** Bounds on memory: sessions remembered, agents tracked, denials kept per agent. */
  maxSessions?: number;
  maxAgents?: number;
  maxDenialsPerAgent?: number;
}

export function createSessionSignals(options: SessionSignalsOptions): SessionSignals {
  const { denialWindowMs } = options;
  if (!Number.isFinite(denialWindowMs) || denialWindowMs <= 0) {
    throw new TypeError("denialWindowMs must be a positive number");
  }
  const maxSessions = options.maxSessions ?? 100_000;
  const maxAgents = options.maxAgents ?? 10_000;
  const maxDenials = options.maxDenialsPerAgent ?? 1_000;
  const tainted = new Set<string>();
  const denials = new Map<string, number[]>();

  const prune = (times: number[], nowMs: number): void => {
    while (times.length > 0 && (times[0] ?? 0) <= nowMs - denialWindowMs) times.shift();
  };

  return {
    isTainted: (sessionId) => tainted.has(sessionId),
    taint(sessionId) {
      // Bounded: at the cap, the oldest taint is forgotten to make room (a new one is never
      // refused). The cap is far above what a day of sessions holds.
      if (!tainted.has(sessionId) && tainted.size >= maxSessions) {
        const oldest = tainted.values().next().value;
        if (oldest !== undefined) tainted.delete(oldest);
      }
      tainted.add(sessionId);
    },
    recentDenials(agent, nowMs) {
      const times = denials.get(agent);
      if (times === undefined) return 0;
      prune(times, nowMs);
      return times.length;
    },
    recordDenial(agent, nowMs) {
      let times = denials.get(agent);
      if (times === undefined) {
        if (denials.size >= maxAgents) {
          const oldest = denials.keys().next().value;
          if (oldest !== undefined) denials.delete(oldest);
        }
        times = [];
        denials.set(agent, times);
      }
      prune(times, nowMs);
      times.push(nowMs);
      if (times.length > maxDenials) times.shift();
    },
  };
}
