// A PostgreSQL pool for the small shared stores (call limits, the denial log), bounded on the
// client's side: connecting and every query give up after `queryTimeoutMs`, so a database that
// does not answer fails the call in time instead of hanging it. An idle client the server drops
// is discarded (the next query reconnects), never an uncaught "error" event.
//
// `ensureTable` runs a store's DDL (CREATE ... IF NOT EXISTS) at start-up. Another replica
// creating the same table at the same moment is fine; a database that cannot be reached is not:
// the pool is ended and the cause thrown, and the gateway does not start on a half-configured
// shared store.
import pg from "pg";
import { pgConnection, type PgTarget } from "./pg-connection.ts";

export interface BoundedPoolOptions extends PgTarget {
  /** Client-side bound on connecting and on every query, ms, 10..60000 (default 2000). */
  queryTimeoutMs?: number | undefined;
  /** Pooled connections. */
  max: number;
  /** What pg_stat_activity shows for these connections. */
  applicationName: string;
}

export function createBoundedPool(options: BoundedPoolOptions): pg.Pool {
  const timeout = options.queryTimeoutMs ?? 2_000;
  if (!Number.isInteger(timeout) || timeout < 10 || timeout > 60_000) {
    throw new TypeError("queryTimeoutMs must be an integer from 10 to 60000");
  }
  const pool = new pg.Pool({
    ...pgConnection(options),
    max: options.max,
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
    application_name: options.applicationName,
  });
  pool.on("error", () => undefined);
  return pool;
}

/** Runs `ddl` in order; tolerates a concurrent creator; ends the pool and throws otherwise. */
export async function ensureTable(pool: pg.Pool, table: string, ddl: readonly string[]) {
  try {
    for (const statement of ddl) await pool.query(statement);
  } catch (cause) {
    const exists = await pool.query(`SELECT 1 FROM ${table} LIMIT 1`).then(
      () => true,
      () => false,
    );
    if (exists) return;
    await pool.end().catch(() => undefined);
    throw cause;
  }
}
