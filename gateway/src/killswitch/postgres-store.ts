// The shared kill-switch store: a versioned table in PostgreSQL (the database the approvals use),
// for several gateway replicas that must stop the same things at once.
//
//   zyx_kill_switch_versions(version bigint PRIMARY KEY, saved_at timestamptz, document jsonb)
//
// One row per version, never updated: the newest row is the state, the older ones its history.
// Saving version N inserts row N (ON CONFLICT DO NOTHING): when another replica saved N first,
// nothing is written and save answers false (compare-and-set on the version). The insert and a
// NOTIFY on the channel `zyx_kill_switch` are one transaction, so a listener is told only of
// committed versions. `watch` keeps one dedicated LISTEN connection, reconnecting every
// `reconnectMs` while the server is away, and reports every reconnection as a possible change
// (notifications sent while it was away are lost; the re-read covers them).
//
// Failure modes: every query has a client-side timeout (`queryTimeoutMs`) so that a lost server
// is noticed within a bound; errors become KillSwitchError kill_switch_unavailable; a stored
// document that is not a valid state is kill_switch_state_corrupt.
import pg from "pg";
import { pgConnection, type PgTarget } from "../lib/pg-connection.ts";
import { inTransaction } from "../lib/pg-transaction.ts";
import { listenForever } from "../lib/pg-listen.ts";
import { describeThrown, KillSwitchError } from "./errors.ts";
import type { KillSwitchStore } from "./port.ts";
import { StateFile } from "./store.ts";

export const KILL_SWITCH_CHANNEL = "zyx_kill_switch";
const TABLE = "zyx_kill_switch_versions";

export interface PostgresKillSwitchStoreOptions extends PgTarget {
  /** Client-side bound on connecting and on every query, ms (default 2000). */
  queryTimeoutMs?: number;
  /** Delay between attempts to re-open the LISTEN connection, ms (default 250). */
  reconnectMs?: number;
}

function unavailable(what: string, cause: unknown): KillSwitchError {
  if (cause instanceof KillSwitchError) return cause;
  return new KillSwitchError(
    "kill_switch_unavailable",
    `kill-switch store (postgres): ${what} failed: ${describeThrown(cause)}`,
    { cause },
  );
}

function parseDocument(document: unknown, version: unknown): StateFile {
  const parsed = StateFile.safeParse(document);
  if (!parsed.success || parsed.data.version !== Number(version)) {
    throw new KillSwitchError(
      "kill_switch_state_corrupt",
      `kill-switch store (postgres): version ${String(version)} of ${TABLE} is not a valid state`,
    );
  }
  return parsed.data;
}

function checkedTimeouts(options: PostgresKillSwitchStoreOptions): [number, number] {
  const queryTimeoutMs = options.queryTimeoutMs ?? 2_000;
  const reconnectMs = options.reconnectMs ?? 250;
  for (const [name, value] of [
    ["queryTimeoutMs", queryTimeoutMs],
    ["reconnectMs", reconnectMs],
  ] as const) {
    if (!Number.isInteger(value) || value < 10 || value > 60_000) {
      throw new TypeError(`${name} must be an integer from 10 to 60000`);
    }
  }
  return [queryTimeoutMs, reconnectMs];
}

export async function openPostgresKillSwitchStore(
  options: PostgresKillSwitchStoreOptions,
): Promise<KillSwitchStore> {
  const connection = pgConnection(options);
  const [queryTimeoutMs, reconnectMs] = checkedTimeouts(options);
  const clientOptions = {
    ...connection,
    connectionTimeoutMillis: queryTimeoutMs,
    query_timeout: queryTimeoutMs,
    application_name: "zyx-gateway-kill-switch",
  };
  const pool = new pg.Pool({ ...clientOptions, max: 4 });
  pool.on("error", () => undefined); // an idle client lost: the pool drops it, the next query reconnects
  try {
    await pool.query(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (
         version bigint PRIMARY KEY CHECK (version >= 0),
         saved_at timestamptz NOT NULL DEFAULT now(),
         document jsonb NOT NULL)`,
    );
  } catch (cause) {
    // Two replicas creating the table at once: one wins, the other sees a duplicate type.
    const exists = await pool.query(`SELECT 1 FROM ${TABLE} LIMIT 1`).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await pool.end().catch(() => undefined);
      throw unavailable("creating its table", cause);
    }
  }
  const watchers = new Set<() => Promise<void>>();

  return {
    kind: "postgres",
    location: `PostgreSQL table ${TABLE}`,
    shared: true,
    load: async () => {
      let rows: { version: unknown; document: unknown }[];
      try {
        rows = (
          await pool.query<{ version: unknown; document: unknown }>(
            `SELECT version, document FROM ${TABLE} ORDER BY version DESC LIMIT 1`,
          )
        ).rows;
      } catch (cause) {
        throw unavailable("reading the state", cause);
      }
      const row = rows[0];
      return row === undefined ? undefined : parseDocument(row.document, row.version);
    },
    save: (next) => saveVersion(pool, next),
    watch: (onChange) => {
      const stop = listenForever(clientOptions, KILL_SWITCH_CHANNEL, reconnectMs, () => {
        onChange();
      });
      watchers.add(stop);
      return async () => {
        watchers.delete(stop);
        await stop();
      };
    },
    ping: async () => {
      try {
        await pool.query("SELECT 1");
      } catch (cause) {
        throw unavailable("ping", cause);
      }
    },
    close: async () => {
      await Promise.all([...watchers].map((stop) => stop()));
      watchers.clear();
      await pool.end();
    },
  };
}

async function saveVersion(pool: pg.Pool, next: StateFile): Promise<boolean> {
  try {
    // One transaction (lib/pg-transaction.ts: a failed one's connection is closed, and a reset
    // fails the save, not the process). Nothing inserted: the empty transaction commits.
    return await inTransaction(pool, async (client) => {
      const inserted = await client.query(
        `INSERT INTO ${TABLE} (version, document) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`,
        [next.version, JSON.stringify(next)],
      );
      if (inserted.rowCount !== 1) return false;
      await client.query("SELECT pg_notify($1, $2)", [KILL_SWITCH_CHANNEL, String(next.version)]);
      return true;
    });
  } catch (cause) {
    throw unavailable(`saving version ${String(next.version)}`, cause);
  }
}
