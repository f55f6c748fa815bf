// The agents' policy denials as every gateway replica sees them, for the denial monitor
// (denial-monitor.ts): without it each replica counted alone, and three replicas let a runaway
// agent collect three times its threshold of denials before one of them suspended it.
//
//   zyx_agent_denials(agent text, at_ms bigint, decision_id text)   one row per counted denial
//
// `record` inserts the denial and answers the agent's denials in the window (t - W, t], oldest
// first, the newest `limit` of them; rows that left the window are deleted on the way. Two
// replicas recording at once each see their own row, not the other's (one snapshot, READ
// COMMITTED): the crossing may be seen by both (both suspend; the kill switch takes the second
// as a no-op change, and no second alert is written), or by neither, in which case the next
// denial sees it. A suspension may come one denial late, never early. `forget` deletes an agent's
// denials up to a time (its suspension was lifted). `t` is the gateway's clock: replicas need
// synchronized clocks (NTP), as the tokens' expiry checks already do.
//
// Failure mode: every query has a client-side timeout; a failure rejects. The monitor then
// counts this replica's denials alone (a denial has already refused the call: counting is about
// when to suspend, and a lost count only delays that). Never a reason to allow anything.
import { createBoundedPool, ensureTable } from "../lib/pg-pool.ts";

export interface CountedDenial {
  /** Epoch ms. */
  at: number;
  decisionId: string;
}

/** The shared log of agents' denials (a port: PostgreSQL, or memory for one process and tests). */
export interface SharedDenials {
  /** Records one denial; the agent's denials in (at - windowMs, at], oldest first, newest `limit`. */
  record(
    agent: string,
    denial: CountedDenial,
    windowMs: number,
    limit: number,
  ): Promise<CountedDenial[]>;
  /** Forgets the agent's denials at or before `atMs`. */
  forget(agent: string, atMs: number): Promise<void>;
  close(): Promise<void>;
}

const TABLE = "zyx_agent_denials";

/** One process's shared log (two monitors on it behave as two replicas on one database). */
export function createMemoryDenials(): SharedDenials {
  const byAgent = new Map<string, CountedDenial[]>();
  return {
    record(agent, denial, windowMs, limit) {
      const kept = (byAgent.get(agent) ?? []).filter((d) => d.at > denial.at - windowMs);
      kept.push(denial);
      kept.sort((a, b) => a.at - b.at);
      byAgent.set(agent, kept);
      return Promise.resolve(kept.filter((d) => d.at <= denial.at).slice(-limit));
    },
    forget(agent, atMs) {
      const kept = (byAgent.get(agent) ?? []).filter((d) => d.at > atMs);
      if (kept.length === 0) byAgent.delete(agent);
      else byAgent.set(agent, kept);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}

export interface PostgresDenialsOptions {
  connectionString: string;
  /** A file holding the database password (see lib/pg-connection.ts). */
  passwordFile?: string | undefined;
  /** Client-side bound on connecting and on every query, ms (default 2000). */
  queryTimeoutMs?: number;
}

/** The log in PostgreSQL, shared by replicas; the table is created when missing. */
export async function openPostgresDenials(options: PostgresDenialsOptions): Promise<SharedDenials> {
  const pool = createBoundedPool({
    connectionString: options.connectionString,
    passwordFile: options.passwordFile,
    queryTimeoutMs: options.queryTimeoutMs,
    max: 4,
    applicationName: "zyx-gateway-denials",
  });
  try {
    await ensureTable(pool, TABLE, [
      `CREATE TABLE IF NOT EXISTS ${TABLE} (agent text NOT NULL, at_ms bigint NOT NULL, decision_id text NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${TABLE}_agent_at ON ${TABLE} (agent, at_ms)`,
    ]);
  } catch (cause) {
    throw new Error("the shared denial log (PostgreSQL) cannot be opened", { cause });
  }
  return {
    async record(agent, denial, windowMs, limit) {
      const since = denial.at - windowMs;
      // One statement: the insert, the clean-up and the read see one snapshot plus this row.
      const result = await pool.query<{ at_ms: string; decision_id: string }>(
        `WITH added AS (
           INSERT INTO ${TABLE} (agent, at_ms, decision_id) VALUES ($1, $2, $3)
           RETURNING at_ms, decision_id
         ), dropped AS (
           DELETE FROM ${TABLE} WHERE agent = $1 AND at_ms <= $4
         ), seen AS (
           SELECT at_ms, decision_id FROM ${TABLE} WHERE agent = $1 AND at_ms > $4 AND at_ms <= $2
           UNION ALL SELECT at_ms, decision_id FROM added
         )
         SELECT at_ms, decision_id FROM seen ORDER BY at_ms DESC LIMIT $5`,
        [agent, denial.at, denial.decisionId, since, limit],
      );
      return result.rows
        .map((row) => ({ at: Number(row.at_ms), decisionId: row.decision_id }))
        .reverse();
    },
    async forget(agent, atMs) {
      await pool.query(`DELETE FROM ${TABLE} WHERE agent = $1 AND at_ms <= $2`, [agent, atMs]);
    },
    close: () => pool.end(),
  };
}
