// The shared approval store: PostgreSQL through `pg`, for several gateway processes that must
// see the same requests. Same schema and behaviour as the SQLite adapter (one contract test).
//
// Failure modes: every operation that cannot complete is approval_store_unavailable (503). Each
// is bounded on the client's side (`queryTimeoutMs`), not only by the server's statement_timeout:
// when the network to the database is cut silently (a partition: no reset, no answer), a query
// sent on a pooled connection would otherwise wait for an answer that never comes, and the call
// with it. A connection whose query timed out is dropped from the pool (pool.query releases it
// with the error), so nothing later runs on a connection in an unknown state.
//
// The tables live in the connection's search_path (the `public` schema by default; another
// through the connection string's `options=-c search_path=...`). Migrations run under a
// transaction-scoped advisory lock, so gateways starting together apply each one once.
import pg from "pg";
import { pgConnection, type PgTarget } from "../lib/pg-connection.ts";
import { ApprovalError } from "./errors.ts";
import type { ApprovalRequest } from "./request.ts";
import type { ApprovalStore, OpenFilter } from "./store.ts";
import {
  CREATE_MIGRATIONS_TABLE,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  checkAppliedVersions,
  checkListLimit,
  checkNowMs,
  fromRow,
  openFilterColumn,
  storeUnavailable,
  toRow,
} from "./store.ts";

export interface PostgresApprovalStoreOptions extends PgTarget {
  /** Largest number of pooled connections (default 10). */
  maxConnections?: number;
  /** Give up connecting after this many ms (default 5000). */
  connectTimeoutMs?: number;
  /** Abort a statement after this many ms (default 10000). */
  statementTimeoutMs?: number;
  /**
   * Give up waiting for any answer after this many ms, whatever the server does (default 5000):
   * the bound when the network is cut silently.
   */
  queryTimeoutMs?: number;
  /** Told about errors of idle pooled connections (which the pool then drops). Default: ignored. */
  onIdleError?: (error: Error) => void;
}

/**
 * A stored record as jsonb, for a filter on its members. jsonb cannot hold U+0000, which the
 * record's JSON text writes "\u0000" (arguments may hold it: a URL is checked as a URL, not as
 * free text), and a cast that fails fails the whole listing, for every request it scans. That
 * escape is read as "\u0001" instead: same length, still an escape where it was one and plain
 * text where it was not (after an escaped backslash), so the JSON's structure is unchanged.
 */
const RECORD_AS_JSONB = String.raw`replace(record, '\u0000', '\u0001')::jsonb`;

/** Any number in the key space of pg_advisory_xact_lock; "zyx approvals" in ASCII, truncated. */
const MIGRATION_LOCK = 0x7a7978_617070;

interface Row {
  id: unknown;
  status: unknown;
  version: unknown;
  record: unknown;
}

export async function openPostgresApprovalStore(
  options: PostgresApprovalStoreOptions,
): Promise<ApprovalStore> {
  const connection = pgConnection(options);
  const max = options.maxConnections ?? 10;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5_000;
  for (const [name, value, low, high] of [
    ["maxConnections", max, 1, 1_000],
    ["connectTimeoutMs", connectTimeoutMs, 1, 600_000],
    ["statementTimeoutMs", statementTimeoutMs, 1, 600_000],
    ["queryTimeoutMs", queryTimeoutMs, 1, 600_000],
  ] as const) {
    if (!Number.isInteger(value) || value < low || value > high) {
      throw new TypeError(`${name} must be an integer from ${String(low)} to ${String(high)}`);
    }
  }
  const pool = new pg.Pool({
    ...connection,
    max,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    query_timeout: queryTimeoutMs,
    application_name: "zyx-gateway-approvals",
  });
  // An idle client that loses its connection emits on the pool; unhandled, it would end the
  // process. The pool drops that client; the next query opens a new one.
  const onIdleError = options.onIdleError;
  pool.on("error", (error) => {
    onIdleError?.(error);
  });

  try {
    await migrate(pool);
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw storeUnavailable("opening the PostgreSQL store", cause);
  }

  let closed = false;

  async function guard<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (closed) {
      throw new ApprovalError("approval_store_unavailable", "approval store (postgres) is closed");
    }
    try {
      return await run();
    } catch (cause) {
      throw storeUnavailable(what, cause);
    }
  }

  return {
    kind: "postgres",
    create: (request: ApprovalRequest) =>
      guard("create", async () => {
        if (request.version !== 1) {
          throw new ApprovalError("approval_invalid", "a new approval request has version 1");
        }
        const row = toRow(request, 1);
        const result = await pool.query(
          `INSERT INTO approval_requests
             (id, status, version, expires_at_ms, created_at_ms, session_id, requester_subject, agent,
              compensation_due_ms, record)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (id) DO NOTHING`,
          [
            row.id,
            row.status,
            row.version,
            row.expiresAtMs,
            row.createdAtMs,
            row.sessionId,
            row.requesterSubject,
            row.agent,
            row.compensationDueMs,
            row.record,
          ],
        );
        if (result.rowCount !== 1) {
          throw new ApprovalError(
            "approval_already_exists",
            `approval request ${row.id} already exists`,
          );
        }
        return fromRow(row);
      }),
    get: (id: string) =>
      guard("get", async () => {
        const result = await pool.query<Row>(
          "SELECT id, status, version, record FROM approval_requests WHERE id = $1",
          [id],
        );
        const row = result.rows[0];
        return row === undefined ? undefined : fromRow(row);
      }),
    compareAndSet: (expectedVersion: number, next: ApprovalRequest) =>
      guard("compareAndSet", async () => {
        if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 1) {
          throw new ApprovalError("approval_invalid", "expectedVersion must be a positive integer");
        }
        const row = toRow(next, expectedVersion + 1);
        // One statement: the row lock it takes makes a concurrent writer wait, then re-check
        // the version and find it changed (READ COMMITTED re-evaluates the WHERE clause).
        const result = await pool.query(
          `UPDATE approval_requests
              SET status = $1, version = $2, expires_at_ms = $3, compensation_due_ms = $4,
                  record = $5
            WHERE id = $6 AND version = $7`,
          [
            row.status,
            row.version,
            row.expiresAtMs,
            row.compensationDueMs,
            row.record,
            row.id,
            expectedVersion,
          ],
        );
        return result.rowCount === 1 ? fromRow(row) : undefined;
      }),
    listDue: (nowMs: number, limit = 100) =>
      guard("listDue", async () => {
        const result = await pool.query<Row>(
          `SELECT id, status, version, record FROM approval_requests
            WHERE status IN ('pending', 'escalated') AND expires_at_ms <= $1
            ORDER BY expires_at_ms, id LIMIT $2`,
          [checkNowMs(nowMs), checkListLimit(limit)],
        );
        return result.rows.map(fromRow);
      }),
    listCompensationDue: (nowMs: number, limit = 100) =>
      guard("listCompensationDue", async () => {
        const result = await pool.query<Row>(
          `SELECT id, status, version, record FROM approval_requests
            WHERE compensation_due_ms IS NOT NULL AND compensation_due_ms <= $1
            ORDER BY compensation_due_ms, id LIMIT $2`,
          [checkNowMs(nowMs), checkListLimit(limit)],
        );
        return result.rows.map(fromRow);
      }),
    listOpen: (by: OpenFilter, limit = 100) =>
      guard("listOpen", async () => {
        // The column name comes from openFilterColumn's closed pair, never from the caller.
        const [column, value] = openFilterColumn(by);
        const result = await pool.query<Row>(
          `SELECT id, status, version, record FROM approval_requests
            WHERE ${column} = $1 AND status IN ('pending', 'escalated')
            ${by.waiting === true ? `AND (${RECORD_AS_JSONB} ->> 'mode') IS NULL` : ""}
            ORDER BY created_at_ms, id LIMIT $2`,
          [value, checkListLimit(limit)],
        );
        return result.rows.map(fromRow);
      }),
    ping: () =>
      guard("ping", async () => {
        await pool.query("SELECT 1");
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const applied = (
      await client.query<{ version: unknown }>(`SELECT version FROM ${MIGRATIONS_TABLE}`)
    ).rows.map((row) => Number(row.version));
    const database = (await client.query<{ db: string }>("SELECT current_database() AS db")).rows[0]
      ?.db;
    checkAppliedVersions(applied, `database ${database ?? "?"}`);
    for (const migration of MIGRATIONS) {
      if (applied.includes(migration.version)) continue;
      for (const statement of migration.statements) await client.query(statement);
      await client.query(
        `INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES ($1, $2, $3)`,
        [migration.version, migration.name, new Date().toISOString()],
      );
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
