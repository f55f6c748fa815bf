// Call limits shared by gateway replicas: the same exact sliding log as rate-limiter.ts, kept in
// PostgreSQL so that a 60-per-minute limit allows 60 calls whichever replica serves them.
//
//   zyx_call_log(key text, at_ms bigint)    one row per admitted call and scope
//
// One check is one transaction: it takes a transaction-scoped advisory lock on each of the call's
// three keys (in a fixed order: no deadlock), counts each key's rows with t - W < at_ms, refuses
// (counting nothing) when a scope is at its limit, else inserts the call under its three keys and
// deletes the keys' rows that left the window. Two replicas checking the same key are serialized
// by the lock, so the count is exact (never over the limit). `t` is the gateway's clock; replicas
// need synchronized clocks (NTP), as the tokens' expiry checks already do.
//
// Retry-After and the scope named are computed as in rate-limiter.ts (the scope whose oldest
// counted call leaves last). Memory is the database's: rows older than the window are deleted on
// every admitted call of their key; keys idle for a window are deleted by `sweep` (the periodic
// job in main.ts), so the table holds at most the calls of the last window.
//
// Failure mode: fail closed. When PostgreSQL cannot be reached (or answers too slowly: every query
// has a client-side timeout), check throws GatewayError `limits_unavailable` (503): nothing runs.
// The connection of a check that failed is closed, not pooled again (lib/pg-transaction.ts): its
// session may still hold (or later get) a key's lock inside an unfinished transaction, which
// would refuse that key on every replica until the pool happened to reuse or expire it; and a
// connection reset in the middle of a check fails that check, never the process.
import type pg from "pg";
import { GatewayError } from "../lib/errors.ts";
import { createBoundedPool, ensureTable } from "../lib/pg-pool.ts";
import { inTransaction } from "../lib/pg-transaction.ts";
import type { Limits } from "./config.ts";
import { parseLimits } from "./config.ts";
import { checkFunction, readClock } from "./errors.ts";
import { callScopes, type CallKey, type CallLimiter, type LimitVerdict } from "./rate-limiter.ts";

const TABLE = "zyx_call_log";

export interface PostgresLimiterOptions {
  /** The "limits" section of the policy data. */
  limits: unknown;
  connectionString: string;
  /** A file holding the database password (see lib/pg-connection.ts). */
  passwordFile?: string | undefined;
  now?: (() => number) | undefined;
  /** Client-side bound on connecting and on every query, ms (default 2000). */
  queryTimeoutMs?: number;
}

export interface PostgresLimiter extends CallLimiter {
  check(key: CallKey): Promise<LimitVerdict>;
  /** Deletes every row that left the window; answers how many. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

function unavailable(cause: unknown): GatewayError {
  return new GatewayError(
    "limits_unavailable",
    "the shared call-limit store cannot be reached: the call is refused (fail closed)",
    { cause },
  );
}

export async function openPostgresLimiter(
  options: PostgresLimiterOptions,
): Promise<PostgresLimiter> {
  const limits: Limits = parseLimits(options.limits);
  const now = checkFunction("now", options.now ?? Date.now);
  const pool = createBoundedPool({
    connectionString: options.connectionString,
    passwordFile: options.passwordFile,
    queryTimeoutMs: options.queryTimeoutMs,
    max: 10,
    applicationName: "zyx-gateway-limits",
  });
  const windowMs = limits.window_seconds * 1000;
  const perTool: ReadonlyMap<string, number> = new Map(Object.entries(limits.per_tool));
  try {
    await ensureTable(pool, TABLE, [
      `CREATE TABLE IF NOT EXISTS ${TABLE} (key text NOT NULL, at_ms bigint NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${TABLE}_key_at ON ${TABLE} (key, at_ms)`,
    ]);
  } catch (cause) {
    throw unavailable(cause);
  }

  return {
    limits,
    check: async (key) => {
      const scopes = callScopes(limits, perTool, key);
      const t = readClock(now);
      try {
        return await inTransaction(pool, (client) => checkLocked(client, scopes, t, windowMs));
      } catch (cause) {
        throw unavailable(cause);
      }
    },
    sweep: async () => {
      try {
        const result = await pool.query(`DELETE FROM ${TABLE} WHERE at_ms <= $1`, [
          readClock(now) - windowMs,
        ]);
        return result.rowCount ?? 0;
      } catch (cause) {
        throw unavailable(cause);
      }
    },
    close: () => pool.end(),
  };
}

async function checkLocked(
  client: pg.PoolClient,
  scopes: ReturnType<typeof callScopes>,
  t: number,
  windowMs: number,
): Promise<LimitVerdict> {
  const ids = scopes.map((s) => s.id);
  for (const id of [...ids].sort()) {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [id]);
  }
  const counted = await client.query<{ key: string; n: string; oldest: string }>(
    `SELECT key, count(*) AS n, min(at_ms) AS oldest FROM ${TABLE}
      WHERE key = ANY($1) AND at_ms > $2 GROUP BY key`,
    [ids, t - windowMs],
  );
  const byKey = new Map(counted.rows.map((row) => [row.key, row]));
  let refusal: Extract<LimitVerdict, { allowed: false }> | undefined;
  let latestOldest = Number.NEGATIVE_INFINITY;
  for (const { scope, id, limit } of scopes) {
    const row = byKey.get(id);
    if (row === undefined || Number(row.n) < limit) continue;
    const oldest = Number(row.oldest);
    if (oldest <= latestOldest) continue;
    latestOldest = oldest;
    refusal = {
      allowed: false,
      scope,
      limit,
      windowSeconds: windowMs / 1000,
      retryAfterSeconds: Math.max(1, Math.ceil((oldest + windowMs - t) / 1000)),
      cause: "limit",
    };
  }
  if (refusal !== undefined) return refusal;
  await client.query(`INSERT INTO ${TABLE} (key, at_ms) SELECT unnest($1::text[]), $2`, [ids, t]);
  await client.query(`DELETE FROM ${TABLE} WHERE key = ANY($1) AND at_ms <= $2`, [
    ids,
    t - windowMs,
  ]);
  return { allowed: true };
}
