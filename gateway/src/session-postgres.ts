// The session signals (session.ts) shared by gateway replicas through PostgreSQL: a session
// tainted on one replica is tainted on all, and an agent's recent denials count every replica's.
//
//   zyx_session_signals(kind 'taint' | 'denial', key text, at_ms bigint, origin text)
//
// Reads stay local and synchronous (the policy input is built from memory, no round trip on the
// hot path). Every taint and denial is applied locally at once, then inserted, and the insert
// NOTIFYs `zyx_session_signals` in the same statement; every replica LISTENs and applies the
// others' signals (its own carry its origin id and are skipped). On every (re)connection of the
// LISTEN connection the replica rebuilds its memory from the table (taints, and the denials still
// in the window), so signals sent while it was away are not lost.
//
// Failure modes: an insert that fails is logged and retried by nobody: the signal stays local to
// the replica that saw it (the taint still applies there). Between an insert and the others'
// notification there are milliseconds; `taint` resolves only after the insert committed.
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
       at_ms bigint NOT NULL, origin text NOT NULL)`,
  );
  let local = createSessionSignals(options);

  const apply = (target: SessionSignals, signal: Signal): void => {
    if (signal.kind === "taint") void target.taint(signal.key);
    else target.recordDenial(signal.key, signal.at);
  };
  async function rebuild(): Promise<void> {
    const rows = await pool.query<{ kind: Signal["kind"]; key: string; at_ms: string }>(
      `SELECT kind, key, at_ms FROM ${TABLE}
        WHERE kind = 'taint' OR at_ms > $1 ORDER BY at_ms`,
      [now() - options.denialWindowMs],
    );
    const fresh = createSessionSignals(options);
    for (const row of rows.rows) {
      apply(fresh, { kind: row.kind, key: row.key, at: Number(row.at_ms), origin: "" });
    }
    local = fresh;
  }
  await rebuild();

  async function share(signal: Omit<Signal, "origin">): Promise<void> {
    const full: Signal = { ...signal, origin };
    try {
      await pool.query(
        `WITH saved AS (INSERT INTO ${TABLE} (kind, key, at_ms, origin) VALUES ($1, $2, $3, $4))
         SELECT pg_notify($5, $6)`,
        [full.kind, full.key, full.at, origin, SESSION_CHANNEL, JSON.stringify(full)],
      );
    } catch (error) {
      log("error", "session signal not shared with the other replicas", {
        kind: signal.kind,
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
      const signal = JSON.parse(payload) as Signal;
      if (signal.origin !== origin) apply(local, signal);
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
    taint: async (sessionId) => {
      void local.taint(sessionId);
      await share({ kind: "taint", key: sessionId, at: now() });
    },
    recordDenial: (agent, nowMs) => {
      local.recordDenial(agent, nowMs);
      void share({ kind: "denial", key: agent, at: nowMs });
    },
    close: async () => {
      clearInterval(sweeper);
      await stopListening();
      await pool.end();
    },
  };
}
