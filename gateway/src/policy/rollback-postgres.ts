// The policy high-water mark (rollback.ts) shared by every gateway replica through PostgreSQL
// (the kill switch's database: the other shared input of the policy):
//
//   zyx_policy_high_water(id boolean PRIMARY KEY CHECK (id), serial bigint, revision text,
//                         accepted_at timestamptz)
//
// Invariants: one row; `raise` is one upsert whose update applies only to a strictly higher
// serial, so concurrent replicas never lower the mark whatever their order; a replica that
// boots (or reloads) after another accepted a newer bundle refuses the older one, even with an
// empty ZYX_STATE_DIR (a fresh pod).
//
// Failure modes: opening throws when PostgreSQL cannot be reached or the table cannot be created
// (the gateway does not start on a half-configured shared store, as with the other stores); a
// later failed query, or a row that is not a valid mark, throws, which the guard turns into
// policy_rollback_state_unavailable (the candidate is refused; what serves keeps serving).
import type pg from "pg";
import { createBoundedPool, ensureTable } from "../lib/pg-pool.ts";
import type { PgTarget } from "../lib/pg-connection.ts";
import { HighWaterMark, type HighWaterStore } from "./rollback.ts";

const TABLE = "zyx_policy_high_water";

export interface PostgresHighWaterOptions extends PgTarget {
  /** Client-side bound on connecting and on every query, ms (default 2000). */
  queryTimeoutMs?: number;
}

async function read(pool: pg.Pool): Promise<HighWaterMark | undefined> {
  const { rows } = await pool.query<{ serial: string; revision: string }>(
    `SELECT serial::text AS serial, revision FROM ${TABLE} WHERE id`,
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return HighWaterMark.parse({ serial: Number(row.serial), revision: row.revision });
}

export async function openPostgresHighWaterStore(
  options: PostgresHighWaterOptions,
): Promise<HighWaterStore & { close(): Promise<void> }> {
  const pool = createBoundedPool({
    connectionString: options.connectionString,
    passwordFile: options.passwordFile,
    queryTimeoutMs: options.queryTimeoutMs,
    max: 2,
    applicationName: "zyx-gateway-policy-high-water",
  });
  await ensureTable(pool, TABLE, [
    `CREATE TABLE IF NOT EXISTS ${TABLE} (
       id boolean PRIMARY KEY DEFAULT true CHECK (id),
       serial bigint NOT NULL CHECK (serial > 0),
       revision text NOT NULL CHECK (revision <> ''),
       accepted_at timestamptz NOT NULL DEFAULT now())`,
  ]);
  return {
    location: `PostgreSQL table ${TABLE}`,
    load: () => read(pool),
    raise: async (mark) => {
      const next = HighWaterMark.parse(mark);
      await pool.query(
        `INSERT INTO ${TABLE} AS t (id, serial, revision) VALUES (true, $1, $2)
         ON CONFLICT (id) DO UPDATE
           SET serial = EXCLUDED.serial, revision = EXCLUDED.revision, accepted_at = now()
           WHERE t.serial < EXCLUDED.serial`,
        [String(next.serial), next.revision],
      );
      const stored = await read(pool);
      if (stored === undefined) throw new Error(`${TABLE} has no row after the upsert`);
      return stored;
    },
    close: () => pool.end(),
  };
}
