// The approval store: the storage port of the approval service, and what its adapters share.
//
// Two adapters, one behaviour (one contract test runs on both):
//   - SQLite through Node's own `node:sqlite` (sqlite-store.ts): the embedded default, one file.
//   - PostgreSQL through `pg` (postgres-store.ts): when several gateways share the requests.
//
// Each adapter creates its schema when it opens (the numbered migrations below, applied once,
// in a transaction, idempotent) and keeps one row per request: the whole record as JSON text
// (the exact arguments survive byte for byte) beside the columns that queries need.
//
// Writes after `create` go through `compareAndSet`, keyed by the record's `version`: of two
// writers that read the same version, exactly one wins. That is what keeps two approvers racing,
// or two executors claiming, from both succeeding.
import { z } from "zod";
import { ApprovalError, describeError } from "./errors.ts";
import { ApprovalRequest, compensationDueMs, epochMs } from "./request.ts";

export interface ApprovalStore {
  /** "sqlite" or "postgres", for logs and /readyz. */
  readonly kind: string;
  /** Stores a new request (its `version` must be 1); approval_already_exists if the id is taken. */
  create(request: ApprovalRequest): Promise<ApprovalRequest>;
  /** The stored request, or undefined. */
  get(id: string): Promise<ApprovalRequest | undefined>;
  /**
   * Writes `next` (same id) with version `expectedVersion + 1` if and only if the stored version
   * is still `expectedVersion`. Returns the record as written, or undefined when another writer
   * got there first (or the request does not exist). `next.version` is ignored.
   */
  compareAndSet(
    expectedVersion: number,
    next: ApprovalRequest,
  ): Promise<ApprovalRequest | undefined>;
  /**
   * Open requests (pending or escalated) whose `expires_at` is at or before `nowMs`, oldest
   * deadline first, at most `limit` (default 100).
   */
  listDue(nowMs: number, limit?: number): Promise<ApprovalRequest[]>;
  /**
   * Open requests (pending or escalated) of one requester subject or of one agent, oldest first,
   * at most `limit` (default 100): to find an identical call already waiting, and to bound how
   * many one user or one agent may have waiting.
   */
  listOpen(by: OpenFilter, limit?: number): Promise<ApprovalRequest[]>;
  /**
   * Rejected post-hoc reviews whose compensation is due at or before `nowMs` (never run, or a
   * failed one scheduled again: request.ts's compensationDueMs), earliest first, at most `limit`.
   */
  listCompensationDue(nowMs: number, limit?: number): Promise<ApprovalRequest[]>;
  /** Resolves when the store answers a trivial query (for /readyz). */
  ping(): Promise<void>;
  /** Releases the file or the pool. Later calls reject with approval_store_unavailable. */
  close(): Promise<void>;
}

export type ApprovalStoreConfig =
  | { kind: "sqlite"; path: string }
  | {
      kind: "postgres";
      connectionString: string;
      /** A file holding the database password (see lib/pg-connection.ts). */
      passwordFile?: string | undefined;
      /** Largest number of pooled connections (default 10). */
      maxConnections?: number;
    };

export type OpenFilter = ({ requesterSubject: string } | { agent: string }) & {
  /**
   * Only requests that wait before their call runs (no post-hoc reviews: their calls ran, and
   * they stay open for days, so they would fill any bounded listing of the waiting ones).
   */
  waiting?: boolean;
};

/** The column and value an OpenFilter selects on. */
export function openFilterColumn(by: OpenFilter): ["requester_subject" | "agent", string] {
  const [column, value] =
    "requesterSubject" in by
      ? (["requester_subject", by.requesterSubject] as const)
      : (["agent", by.agent] as const);
  if (typeof value !== "string" || value === "" || value.length > 512) {
    throw new ApprovalError("approval_invalid", "listOpen needs a subject or an agent id");
  }
  return [column, value];
}

/** Opens the configured adapter (its migrations run before this resolves). */
export async function openApprovalStore(config: ApprovalStoreConfig): Promise<ApprovalStore> {
  switch (config.kind) {
    case "sqlite": {
      const { openSqliteApprovalStore } = await import("./sqlite-store.ts");
      return openSqliteApprovalStore({ path: config.path });
    }
    case "postgres": {
      const { openPostgresApprovalStore } = await import("./postgres-store.ts");
      const { connectionString, passwordFile, maxConnections } = config;
      return openPostgresApprovalStore(
        maxConnections === undefined
          ? { connectionString, passwordFile }
          : { connectionString, passwordFile, maxConnections },
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What the adapters share.

export interface Migration {
  version: number;
  name: string;
  /** Statements, run in order, in one transaction with the bookkeeping row. */
  statements: readonly string[];
}

/** The bookkeeping table: one row per applied migration. */
export const MIGRATIONS_TABLE = "approval_schema_migrations";

export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

/**
 * The schema, in SQL that SQLite and PostgreSQL both accept with the same meaning. Append new
 * migrations; never edit an applied one.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "approval_requests",
    statements: [
      `CREATE TABLE approval_requests (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN
          ('pending', 'escalated', 'approved', 'denied', 'expired', 'executing', 'executed', 'failed')),
        version INTEGER NOT NULL CHECK (version >= 1),
        expires_at_ms BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        session_id TEXT NOT NULL,
        requester_subject TEXT NOT NULL,
        record TEXT NOT NULL
      )`,
      `CREATE INDEX approval_requests_open_due ON approval_requests (expires_at_ms)
        WHERE status IN ('pending', 'escalated')`,
      `CREATE INDEX approval_requests_session ON approval_requests (session_id, created_at_ms)`,
    ],
  },
  {
    version: 2,
    name: "approval_requests_agent",
    statements: [
      // The acting agent as a column, so that its open requests can be counted (the record has
      // it already; rows written before this migration keep '' and count for no agent).
      `ALTER TABLE approval_requests ADD COLUMN agent TEXT NOT NULL DEFAULT ''`,
      `CREATE INDEX approval_requests_open_requester ON approval_requests (requester_subject)
        WHERE status IN ('pending', 'escalated')`,
      `CREATE INDEX approval_requests_open_agent ON approval_requests (agent)
        WHERE status IN ('pending', 'escalated')`,
    ],
  },
  {
    version: 3,
    name: "approval_requests_compensation_due",
    statements: [
      // When a rejected post-hoc review's compensation is due (NULL: none is), so that the
      // sweeper can catch up one that never ran or failed (rows from before: NULL).
      `ALTER TABLE approval_requests ADD COLUMN compensation_due_ms BIGINT`,
      `CREATE INDEX approval_requests_compensation_due ON approval_requests (compensation_due_ms)
        WHERE compensation_due_ms IS NOT NULL`,
    ],
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

/** Refuses a database migrated by newer code: its meaning is unknown here. */
export function checkAppliedVersions(applied: readonly number[], where: string): void {
  const unknown = applied.filter((version) => version > SCHEMA_VERSION);
  if (unknown.length > 0) {
    throw new ApprovalError(
      "approval_store_unavailable",
      `${where} has approval schema version ${String(Math.max(...unknown))}, newer than this gateway knows (${String(SCHEMA_VERSION)})`,
    );
  }
}

/** The columns written for a record (besides id). */
export interface RowValues {
  id: string;
  status: string;
  version: number;
  expiresAtMs: number;
  createdAtMs: number;
  sessionId: string;
  requesterSubject: string;
  agent: string;
  compensationDueMs: number | null;
  record: string;
}

/** Checks a record about to be written and derives its columns. */
export function toRow(request: ApprovalRequest, version: number): RowValues {
  const checked = ApprovalRequest.safeParse({ ...request, version });
  if (!checked.success) {
    throw new ApprovalError(
      "approval_invalid",
      `approval request refused by the store: ${z.prettifyError(checked.error)}`,
    );
  }
  const record = checked.data;
  return {
    id: record.id,
    status: record.status,
    version,
    expiresAtMs: epochMs(record.expires_at),
    createdAtMs: epochMs(record.created_at),
    sessionId: record.session_id,
    requesterSubject: record.requester.subject,
    agent: record.agent,
    compensationDueMs: compensationDueMs(record),
    record: JSON.stringify(record),
  };
}

/**
 * Reads a stored row back. Fails closed: a record that does not parse, or whose columns disagree
 * with its JSON (a hand edit), is approval_store_corrupt, never a half-trusted request.
 */
export function fromRow(row: {
  id: unknown;
  status: unknown;
  version: unknown;
  record: unknown;
}): ApprovalRequest {
  const id = String(row.id);
  let value: unknown;
  try {
    value = JSON.parse(String(row.record));
  } catch (cause) {
    throw new ApprovalError(
      "approval_store_corrupt",
      `approval request ${id}: stored record is not JSON (${describeError(cause)})`,
      { cause },
    );
  }
  const checked = ApprovalRequest.safeParse(value);
  if (!checked.success) {
    throw new ApprovalError(
      "approval_store_corrupt",
      `approval request ${id}: stored record is invalid: ${z.prettifyError(checked.error)}`,
    );
  }
  const record = checked.data;
  if (record.id !== id || record.status !== row.status || record.version !== Number(row.version)) {
    throw new ApprovalError(
      "approval_store_corrupt",
      `approval request ${id}: stored columns disagree with the record (id, status or version)`,
    );
  }
  return record;
}

export function checkListLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new ApprovalError("approval_invalid", "listDue limit must be an integer from 1 to 10000");
  }
  return limit;
}

export function checkNowMs(nowMs: number): number {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new ApprovalError("approval_invalid", "nowMs must be a non-negative integer (epoch ms)");
  }
  return nowMs;
}

export function storeUnavailable(what: string, cause: unknown): ApprovalError {
  if (cause instanceof ApprovalError) return cause;
  return new ApprovalError(
    "approval_store_unavailable",
    `approval store: ${what} failed: ${describeError(cause)}`,
    { cause },
  );
}
