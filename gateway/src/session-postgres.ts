// The session signals (session.ts) shared by gateway replicas through PostgreSQL: a session
// tainted on one replica is tainted on all, and an agent's recent denials count every replica's.
//
//   zyx_session_signals(kind 'taint' | 'denial', key text, at_ms bigint, origin text, id text)
//
// Reads stay local and synchronous (the policy input is built from memory, no round trip on the
// hot path). Every taint and denial is applied locally at once, then inserted, and the insert
// NOTIFYs `zyx_session_signals` in the same statement; every replica LISTENs and applies the
// others' signals (its own carry its origin id and are skipped). On every (re)connection of the
// LISTEN connection the replica rebuilds its memory from the table (taints, and the denials still
// in the window), so signals sent while it was away are not lost.
//
// Invariant: a rebuild never drops a signal. Its table snapshot may lack this replica's own
// signals whose insert has not committed (or failed) and others' signals notified while it reads,
// so those are replayed onto the rebuilt memory unless the snapshot holds their row (each signal
// carries a unique id). A signal without an id (from a replica of an older revision) is replayed
// whatever the snapshot holds: a taint twice is one taint, a denial may count twice (the stricter
// error).
//
// Failure modes: an insert that fails is logged and retried by nobody: the signal stays local to
// the replica that saw it (the taint still applies there, across rebuilds; a denial until it
// leaves the window). Between an insert and the others' notification there are milliseconds;
// `taint` resolves only after the insert committed (or failed).
// Denial rows older than the window are deleted every window (sweep); taint rows are kept.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { listenForever } from "./lib/pg-listen.ts";
import {
  createSessionSignals,
  type SessionSignals,
  type SessionSignalsOptions,
} from "./session.ts";

export const SESSION_CHANNEL = "zyx_session_signals";
const TABLE = "zyx_session_signals";

export interface PostgresSessionSignalsOptions extends SessionSignalsOptions {
  connectionString: string;
  now?: () => number;
  log?: (level: "info" | "error", message: string, fields?: Record<string, unknown>) => void;
  /** Client-side bound on connecting and on every query, ms (default 2000). */
  queryTimeoutMs?: number;
}

export interface SharedSessionSignals extends SessionSignals {
  taint(sessionId: string): Promise<void>;
  close(): Promise<void>;
}

interface Signal {
  kind: "taint" | "denial";
  key: string;
  at: number;
  origin: string;
  /** Unique per signal; absent in rows and notifications of older revisions. */
  id?: string | undefined;
}

export async function openPostgresSessionSignals(
  options: PostgresSessionSignalsOptions,
): Promise<SharedSessionSignals> {
  if (typeof options.connectionString !== "string" || options.connectionString === "") {
    throw new TypeError("connectionString is required");
  }
  const timeout = options.queryTimeoutMs ?? 2_000;
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => undefined);
  const origin = randomUUID();
  const clientOptions = {
    connectionString: options.connectionString,
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
    application_name: "zyx-gateway-sessions",
  };
  const pool = new pg.Pool({ ...clientOptions, max: 4 });
  pool.on("error", () => undefined);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${TABLE} (kind text NOT NULL, key text NOT NULL,
       at_ms bigint NOT NULL, origin text NOT NULL, id text)`,
  );
  // A table created by an older revision has no id column.
  await pool.query(`ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS id text`);
  let local = createSessionSignals(options);
  /** One buffer per rebuild in flight: the signals applied while it reads the table. */
  const duringRebuilds = new Set<Signal[]>();
  /** This replica's own signals whose insert has not been seen to commit, by id. */
  const unconfirmed = new Map<string, Signal>();

  const apply = (target: SessionSignals, signal: Signal): void => {
    if (signal.kind === "taint") void target.taint(signal.key);
    else target.recordDenial(signal.key, signal.at);
  };
  const applyLocal = (signal: Signal): void => {
    apply(local, signal);
    for (const buffer of duringRebuilds) buffer.push(signal);
  };
  async function rebuild(): Promise<void> {
    const during: Signal[] = [];
    duringRebuilds.add(during);
    try {
      const rows = await pool.query<{
        kind: Signal["kind"];
        key: string;
        at_ms: string;
        id: string | null;
      }>(
        `SELECT kind, key, at_ms, id FROM ${TABLE}
          WHERE kind = 'taint' OR at_ms > $1 ORDER BY at_ms`,
        [now() - options.denialWindowMs],
      );
      const fresh = createSessionSignals(options);
      const held = new Set<string>();
      for (const row of rows.rows) {
        apply(fresh, { kind: row.kind, key: row.key, at: Number(row.at_ms), origin: "" });
        if (row.id !== null) held.add(row.id);
      }
      const windowStart = now() - options.denialWindowMs;
      for (const [id, signal] of unconfirmed) {
        if (signal.kind === "denial" && signal.at <= windowStart) unconfirmed.delete(id);
      }
      let replayed = 0;
      for (const signal of new Set([...unconfirmed.values(), ...during])) {
        if (signal.id !== undefined && held.has(signal.id)) continue;
        apply(fresh, signal);
        replayed++;
      }
      local = fresh;
      log("info", "session signals rebuilt from the table", {
        rows: rows.rows.length,
        replayed,
      });
    } finally {
      duringRebuilds.delete(during);
    }
  }
  await rebuild();

  const signal = (kind: Signal["kind"], key: string, at: number): Signal => ({
    kind,
    key,
    at,
    origin,
    id: randomUUID(),
  });
  /** Applied here at once, then inserted and notified; unconfirmed until the insert commits. */
  async function share(full: Signal): Promise<void> {
    if (full.id !== undefined) unconfirmed.set(full.id, full);
    applyLocal(full);
    try {
      await pool.query(
        `WITH saved AS (INSERT INTO ${TABLE} (kind, key, at_ms, origin, id)
                        VALUES ($1, $2, $3, $4, $5))
         SELECT pg_notify($6, $7)`,
        [full.kind, full.key, full.at, origin, full.id, SESSION_CHANNEL, JSON.stringify(full)],
      );
      if (full.id !== undefined) unconfirmed.delete(full.id);
    } catch (error) {
      log("error", "session signal not shared with the other replicas", {
        kind: full.kind,
        error: String(error),
      });
    }
  }

  const stopListening = listenForever(clientOptions, SESSION_CHANNEL, 250, (payload) => {
    if (payload === undefined) {
      rebuild().catch((error: unknown) => {
        log("error", "session signals: rebuild failed", { error: String(error) });
      });
      return;
    }
    try {
      const received = JSON.parse(payload) as Signal;
      if (received.origin !== origin) applyLocal(received);
    } catch {
      // not ours
    }
  });
  const sweeper = setInterval(() => {
    pool
      .query(`DELETE FROM ${TABLE} WHERE kind = 'denial' AND at_ms <= $1`, [
        now() - options.denialWindowMs,
      ])
      .catch(() => undefined);
  }, options.denialWindowMs);
  sweeper.unref();

  return {
    isTainted: (sessionId) => local.isTainted(sessionId),
    recentDenials: (agent, nowMs) => local.recentDenials(agent, nowMs),
    taint: (sessionId) => share(signal("taint", sessionId, now())),
    recordDenial: (agent, nowMs) => {
      void share(signal("denial", agent, nowMs));
    },
    close: async () => {
      clearInterval(sweeper);
      await stopListening();
      await pool.end();
    },
  };
}
