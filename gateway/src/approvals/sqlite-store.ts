// The embedded approval store: one SQLite file through Node's own `node:sqlite`.
//
// WAL journal with synchronous=FULL: a write that returned is on disk (a committed approval
// survives a crash or a power cut, not just a process restart). busy_timeout lets two
// connections to the same file (a second gateway process, a CLI) wait for each other instead of
// failing at once. node:sqlite is synchronous: each call blocks the event loop for the duration
// of one small statement, which is what keeps a read-then-write in `compareAndSet` atomic here.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
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

export interface SqliteApprovalStoreOptions {
  /** The database file; its folder is created (0700) when absent. */
  path: string;
  /** How long a write waits for another connection's lock, in ms (default 5000). */
  busyTimeoutMs?: number;
}

/** The SQLite store, with the settings it reads back from its connection (for tests, /readyz). */
export interface SqliteApprovalStore extends ApprovalStore {
  readonly path: string;
  /** journal_mode ("wal") and synchronous (2 = FULL) as the connection reports them. */
  readonly settings: { journalMode: string; synchronous: number };
}

interface Row {
  id: unknown;
  status: unknown;
  version: unknown;
  record: unknown;
}

export function openSqliteApprovalStore(
  options: SqliteApprovalStoreOptions,
): Promise<SqliteApprovalStore> {
  // Errors surface as rejections, like the PostgreSQL adapter's.
  try {
    return Promise.resolve(openSync(options));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function openSync(options: SqliteApprovalStoreOptions): SqliteApprovalStore {
  if (
    typeof options.path !== "string" ||
    options.path.length === 0 ||
    options.path === ":memory:"
  ) {
    throw new TypeError("path must name the SQLite database file");
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 60_000) {
    throw new TypeError("busyTimeoutMs must be an integer from 0 to 60000");
  }
  const path = resolve(options.path);

  let db: DatabaseSync;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    db = new DatabaseSync(path);
  } catch (cause) {
    throw storeUnavailable(`opening ${path}`, cause);
  }
  let statements: ReturnType<typeof prepare>;
  try {
    statements = prepare(db, path, busyTimeoutMs);
  } catch (cause) {
    db.close();
    throw storeUnavailable(`preparing ${path}`, cause);
  }
  const { insert, select, update, due, openBy, openWaitingBy, compensationDue, settings } =
    statements;
  let closed = false;

  function guard<T>(what: string, run: () => T): Promise<T> {
    if (closed) {
      return Promise.reject(
        new ApprovalError("approval_store_unavailable", `approval store ${path} is closed`),
      );
    }
    try {
      return Promise.resolve(run());
    } catch (cause) {
      return Promise.reject(storeUnavailable(what, cause));
    }
  }

  return {
    kind: "sqlite",
    path,
    settings,
    create: (request: ApprovalRequest) =>
      guard("create", () => {
        if (request.version !== 1) {
          throw new ApprovalError("approval_invalid", "a new approval request has version 1");
        }
        const row = toRow(request, 1);
        const result = insert.run(
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
        );
        if (Number(result.changes) !== 1) {
          throw new ApprovalError(
            "approval_already_exists",
            `approval request ${row.id} already exists`,
          );
        }
        return fromRow(row);
      }),
    get: (id: string) =>
      guard("get", () => {
        const row = select.get(id) as Row | undefined;
        return row === undefined ? undefined : fromRow(row);
      }),
    compareAndSet: (expectedVersion: number, next: ApprovalRequest) =>
      guard("compareAndSet", () => {
        if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 1) {
          throw new ApprovalError("approval_invalid", "expectedVersion must be a positive integer");
        }
        const row = toRow(next, expectedVersion + 1);
        const result = update.run(
          row.status,
          row.version,
          row.expiresAtMs,
          row.compensationDueMs,
          row.record,
          row.id,
          expectedVersion,
        );
        return Number(result.changes) === 1 ? fromRow(row) : undefined;
      }),
    listDue: (nowMs: number, limit = 100) =>
      guard("listDue", () =>
        (due.all(checkNowMs(nowMs), checkListLimit(limit)) as unknown as Row[]).map(fromRow),
      ),
    listCompensationDue: (nowMs: number, limit = 100) =>
      guard("listCompensationDue", () =>
        (compensationDue.all(checkNowMs(nowMs), checkListLimit(limit)) as unknown as Row[]).map(
          fromRow,
        ),
      ),
    listOpen: (by: OpenFilter, limit = 100) =>
      guard("listOpen", () => {
        const [column, value] = openFilterColumn(by);
        const statement = by.waiting === true ? openWaitingBy[column] : openBy[column];
        return (statement.all(value, checkListLimit(limit)) as unknown as Row[]).map(fromRow);
      }),
    ping: () =>
      guard("ping", () => {
        db.prepare("SELECT 1").get();
      }),
    close: () => {
      if (!closed) {
        closed = true;
        db.close();
      }
      return Promise.resolve();
    },
  };
}

/** Settings, schema, statements; throws when the file cannot be used as the store wants it. */
function prepare(db: DatabaseSync, path: string, busyTimeoutMs: number) {
  db.exec(`PRAGMA busy_timeout = ${String(busyTimeoutMs)}`);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  const settings = {
    journalMode: String(
      (db.prepare("PRAGMA journal_mode").get() as { journal_mode: unknown }).journal_mode,
    ),
    synchronous: Number(
      (db.prepare("PRAGMA synchronous").get() as { synchronous: unknown }).synchronous,
    ),
  };
  // Durability is not negotiable: a file system that cannot do WAL gets no approval store.
  if (settings.journalMode !== "wal" || settings.synchronous !== 2) {
    throw new Error(
      `journal_mode=${settings.journalMode} synchronous=${String(settings.synchronous)}, wanted wal and 2 (FULL)`,
    );
  }
  migrate(db, path);
  return {
    settings,
    insert: db.prepare(
      `INSERT INTO approval_requests
         (id, status, version, expires_at_ms, created_at_ms, session_id, requester_subject, agent,
          compensation_due_ms, record)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING`,
    ),
    select: db.prepare("SELECT id, status, version, record FROM approval_requests WHERE id = ?"),
    update: db.prepare(
      `UPDATE approval_requests
          SET status = ?, version = ?, expires_at_ms = ?, compensation_due_ms = ?, record = ?
        WHERE id = ? AND version = ?`,
    ),
    compensationDue: db.prepare(
      `SELECT id, status, version, record FROM approval_requests
        WHERE compensation_due_ms IS NOT NULL AND compensation_due_ms <= ?
        ORDER BY compensation_due_ms, id LIMIT ?`,
    ),
    due: db.prepare(
      `SELECT id, status, version, record FROM approval_requests
        WHERE status IN ('pending', 'escalated') AND expires_at_ms <= ?
        ORDER BY expires_at_ms, id LIMIT ?`,
    ),
    openBy: {
      requester_subject: db.prepare(
        `SELECT id, status, version, record FROM approval_requests
          WHERE requester_subject = ? AND status IN ('pending', 'escalated')
          ORDER BY created_at_ms, id LIMIT ?`,
      ),
      agent: db.prepare(
        `SELECT id, status, version, record FROM approval_requests
          WHERE agent = ? AND status IN ('pending', 'escalated')
          ORDER BY created_at_ms, id LIMIT ?`,
      ),
    },
    openWaitingBy: {
      requester_subject: db.prepare(
        `SELECT id, status, version, record FROM approval_requests
          WHERE requester_subject = ? AND status IN ('pending', 'escalated')
            AND json_extract(record, '$.mode') IS NULL
          ORDER BY created_at_ms, id LIMIT ?`,
      ),
      agent: db.prepare(
        `SELECT id, status, version, record FROM approval_requests
          WHERE agent = ? AND status IN ('pending', 'escalated')
            AND json_extract(record, '$.mode') IS NULL
          ORDER BY created_at_ms, id LIMIT ?`,
      ),
    },
  };
}

function migrate(db: DatabaseSync, path: string): void {
  // IMMEDIATE: the write lock is taken before reading what is applied, so two processes opening
  // the same new file do not both apply migration 1.
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(CREATE_MIGRATIONS_TABLE);
    const applied = (
      db.prepare(`SELECT version FROM ${MIGRATIONS_TABLE}`).all() as { version: unknown }[]
    ).map((row) => Number(row.version));
    checkAppliedVersions(applied, path);
    const record = db.prepare(
      `INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`,
    );
    for (const migration of MIGRATIONS) {
      if (applied.includes(migration.version)) continue;
      for (const statement of migration.statements) db.exec(statement);
      record.run(migration.version, migration.name, new Date().toISOString());
    }
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}
