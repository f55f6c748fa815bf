// The session signals (session.ts) shared by gateway replicas through PostgreSQL: a session
// tainted on one replica is tainted on all, and an agent's recent denials count every replica's.
//
//   zyx_session_signals(kind 'taint' | 'denial', key text, at_ms bigint, origin text, id text)
//   with a unique index on id; keys stored with NUL as %00 and % as %25 (actor keys hold a NUL,
//   which PostgreSQL text cannot)
//
// Reads stay local and synchronous (the policy input is built from memory, no round trip on the
// hot path). Every taint and denial is applied locally at once, then inserted, and the insert
// NOTIFYs `zyx_session_signals` in the same statement; every replica LISTENs and applies the
// others' signals (its own carry its origin id and are skipped). The replica rebuilds its memory
// from the table (taints, and the denials still in the window) on every (re)connection of the
// LISTEN connection and every `rebuildEveryMs`, so signals sent while it was away are not lost.
//
// Invariants:
// - A rebuild never drops a signal. Its snapshot may lack this replica's own signals whose insert
//   has not committed when the read starts (unconfirmed then, even if confirmed before the read
//   returns) and others' signals notified while it reads; those are replayed onto the rebuilt
//   memory unless the snapshot holds their row (each signal carries a unique id). A signal
//   without an id (from a replica of an older revision) is replayed whatever the snapshot holds:
//   a taint twice is one taint, a denial may count twice (the stricter error).
// - One rebuild at a time (lib/retry-loop.ts): an older snapshot never lands after a newer one.
//   A rebuild asked for during another runs after it; a failed one is retried with backoff.
// - An own signal stays "unconfirmed" until its insert commits or a snapshot holds its row; one
//   whose insert failed is inserted again (same id, ON CONFLICT DO NOTHING, notified only if
//   new) with backoff, and after every rebuild: a taint reaches the other replicas once
//   PostgreSQL takes it. Unconfirmed memory is bounded (`maxUnconfirmed`): denials out of the
//   window go first, then the oldest denials (logged); taints are never dropped.
// - Notifications are checked (kind, key, time, origin, id) before they are applied; anything
//   else is ignored and logged, never counted.
// - A denial with an id counts once however it arrives: a notification is delivered on its own
//   connection and may come after a snapshot that already held its row (`counted`).
// - Opening changes the schema only when something is missing (table, id column, a valid unique
//   index, built CONCURRENTLY), on its own connection, one replica at a time, under a lock
//   timeout: a replica starting next to a long reader neither waits behind it nor queues every
//   other replica's inserts behind an ACCESS EXCLUSIVE lock, and a role that may only read and
//   write the table can open it once the schema is in place.
// - A (re)connection of the LISTEN connection rebuilds at once, even during a retry's backoff.
//   `close` tries once more to share what is unshared and logs, as an error, the taints it could
//   not (lost to the other replicas).
//
// Clearing a taint (TaintAdmin, the security admins' API): taint rows are stamped with the
// database's clock, which the clear reads when it is asked for (one clock for every replica: no
// skew between them decides what a clear removes; rows written by a replica of an older revision
// carry that replica's clock, so during a rolling upgrade a replica running behind can still lose
// a taint to a clear); one statement deletes the key's taint rows stamped before then (a taint
// from content read since stays) and NOTIFYs
// {"kind": "clear"}; this replica, then every other on the notification, rebuilds
// from the table. Memory is never edited by a clear: a rebuild is what keeps a concurrent taint
// (its insert committing after the delete, or still unconfirmed) from being lost, so a replica
// reads the key as tainted until its rebuild lands (the safe side). A replica of an older revision
// ignores the notification and clears at its next periodic rebuild. A taint that a replica could
// not share yet (PostgreSQL refused its insert) survives the clear and is inserted by the retry:
// clear again once it is shared. A clear whose statement errs rejects: PostgreSQL may or may not
// have committed it (the query timeout is the client's), so this replica rebuilds all the same.
//
// Failure modes: opening fails (throws) when PostgreSQL cannot be reached, the schema cannot be
// put in place or the first rebuild fails. Afterwards nothing throws: a failed insert leaves the
// signal local (the taint still applies here, across rebuilds) until a retry succeeds; `taint`
// resolves after the first insert committed or failed. Denial rows older than the window are
// deleted every window (sweep). A key keeps one taint row (a new one replaces the older); session
// rows past the newest `maxSessions` are deleted before each rebuild, with a mark row that keeps
// actors' clears refused (as memory does once it evicted a session); actor rows are kept.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { pgConnection, type PgTarget } from "./lib/pg-connection.ts";
import { z } from "zod";
import { listenForever } from "./lib/pg-listen.ts";
import { retryLoop } from "./lib/retry-loop.ts";
import {
  clearRefused,
  createSessionSignals,
  TAINTS_SATURATED,
  type MemorySessionSignals,
  type SessionSignals,
  type TaintStats,
  type SessionSignalsOptions,
  type TaintAdmin,
} from "./session.ts";

export const SESSION_CHANNEL = "zyx_session_signals";
/**
 * The database's clock in whole epoch ms (rounded down): what taint rows are stamped with and
 * clears cut by. A clear removes rows stamped strictly before its mark, so a taint stamped in the
 * very millisecond the mark was read stays (the safe side).
 */
const DB_NOW_MS = "floor(extract(epoch from clock_timestamp()) * 1000)::bigint";
const TABLE = "zyx_session_signals";
const ID_INDEX = `${TABLE}_id_key`;
/** Taint rows by key: a new taint deletes its key's older rows, a clear deletes them. */
const KEY_INDEX = `${TABLE}_taint_key`;
/**
 * The mark that session taint rows were swept past the bound (stored "%25evicted": no session id
 * holds a %, no actor key is without %00). Read back, it refuses actors' clears (session.ts).
 */
const EVICTED_KEY = "%evicted";
const EVICTED_ID = "sessions-evicted";
/** Any number in pg_advisory_lock's key space: "zyx sess" in ASCII. */
const MIGRATION_LOCK = "8751164158270485363";

export interface PostgresSessionSignalsOptions extends SessionSignalsOptions, PgTarget {
  now?: () => number;
  log?: (level: "info" | "error", message: string, fields?: Record<string, unknown>) => void;
  /** Client-side bound on connecting and on every query, ms (default 2000). */
  queryTimeoutMs?: number;
  /** Rebuild from the table at least this often, ms (default 60 000). */
  rebuildEveryMs?: number;
  /** First delay before a failed rebuild or insert is tried again, ms (default 250). */
  retryMs?: number;
  /** Longest delay between those tries, ms (default 30 000). */
  maxRetryMs?: number;
  /** Bound on opening's schema changes (a unique index built on a large table), ms (default 60 000). */
  migrationTimeoutMs?: number;
  /** Own signals kept for replay and retry before denials are dropped (default 10 000). */
  maxUnconfirmed?: number;
}

export interface SharedSessionSignals extends SessionSignals, TaintAdmin {
  taint(sessionId: string): Promise<void>;
  /** This replica's in-memory store's fill (session.ts). */
  stats(): TaintStats;
  close(): Promise<void>;
}

const Signal = z.object({
  kind: z.enum(["taint", "denial"]),
  key: z.string().min(1), // bounded by pg_notify's payload (8000 bytes); never cut short
  at: z.number(),
  origin: z.string().max(64),
  /** Unique per signal; absent in rows and notifications of older revisions. */
  id: z.string().min(1).max(64).optional(),
});
type Signal = z.infer<typeof Signal>;

/** A replica cleared a key's taint rows: every other replica rebuilds from the table. */
const ClearNotice = z.object({
  kind: z.literal("clear"),
  key: z.string().min(1),
  origin: z.string().max(64),
});

/**
 * A key as stored: PostgreSQL text cannot hold NUL, which every actor key has ("actor:" subject
 * NUL agent), so NUL is written %00 and % is written %25. Rows of older revisions hold session
 * ids (no %) and never an actor key (their insert always failed): they read back unchanged.
 */
const storedKey = (key: string): string => key.replaceAll("%", "%25").replaceAll("\u0000", "%00");
const keyFromRow = (stored: string): string =>
  stored.replace(/%(00|25)/g, (_match, code: string) => (code === "00" ? "\u0000" : "%"));

/** What the schema lacks: the statements that put it in place, in order (none: nothing). */
async function missingSchema(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{
    table: boolean;
    id: boolean;
    index: string;
    key_index: boolean;
  }>(
    `SELECT to_regclass($1) IS NOT NULL AS table,
            EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1)
                      AND attname = 'id' AND NOT attisdropped) AS id,
            CASE WHEN to_regclass($2) IS NULL THEN 'none'
                 WHEN EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($2)
                                AND indrelid = to_regclass($1) AND indisunique AND indisvalid
                                AND indpred IS NULL) THEN 'valid'
                 ELSE 'invalid' END AS index,
            EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($3)
                      AND indrelid = to_regclass($1) AND indisvalid) AS key_index`,
    [TABLE, ID_INDEX, KEY_INDEX],
  );
  const found = rows[0] ?? { table: false, id: false, index: "none", key_index: false };
  const statements: string[] = [];
  if (!found.table) {
    statements.push(`CREATE TABLE IF NOT EXISTS ${TABLE} (kind text NOT NULL, key text NOT NULL,
       at_ms bigint NOT NULL, origin text NOT NULL, id text)`);
  } else if (!found.id) statements.push(`ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS id text`);
  // An index left invalid by an interrupted build (or not the unique one) is built again.
  if (found.index === "invalid") statements.push(`DROP INDEX IF EXISTS ${ID_INDEX}`);
  if (found.index !== "valid") {
    statements.push(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${ID_INDEX} ON ${TABLE} (id)`);
  }
  if (!found.key_index) {
    statements.push(`DROP INDEX IF EXISTS ${KEY_INDEX}`);
    statements.push(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${KEY_INDEX} ON ${TABLE} (key) WHERE kind = 'taint'`,
    );
  }
  return statements;
}

/**
 * Creates what is missing, and only that, so an opened schema is never locked. On its own
 * connection with its own (long) bound: one replica at a time (session advisory lock), each
 * statement under a lock timeout, the unique index built CONCURRENTLY (writers go on while it
 * builds on a large table).
 */
async function ensureSchema(clientOptions: pg.ClientConfig, migrationMs: number): Promise<void> {
  const client = new pg.Client({ ...clientOptions, query_timeout: migrationMs });
  client.on("error", () => undefined);
  await client.connect();
  try {
    if ((await missingSchema(client)).length === 0) return;
    await client.query(`SET lock_timeout = ${String(Math.round(migrationMs / 2))}`);
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    for (const statement of await missingSchema(client)) await client.query(statement);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function openPostgresSessionSignals(
  options: PostgresSessionSignalsOptions,
): Promise<SharedSessionSignals> {
  const connection = pgConnection(options);
  const timeout = options.queryTimeoutMs ?? 2_000;
  const maxUnconfirmed = options.maxUnconfirmed ?? 10_000;
  if (!(Number.isInteger(maxUnconfirmed) && maxUnconfirmed > 0)) {
    throw new TypeError("maxUnconfirmed must be a positive integer");
  }
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => undefined);
  const origin = randomUUID();
  const clientOptions = {
    ...connection,
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
    application_name: "zyx-gateway-sessions",
  };
  await ensureSchema(clientOptions, options.migrationTimeoutMs ?? 60_000);
  // The alarm of a saturated in-memory store (session.ts), on every rebuild's store too.
  const signalOptions = {
    ...options,
    onSaturated: () => {
      log("error", TAINTS_SATURATED);
    },
  };
  const pool = new pg.Pool({ ...clientOptions, max: 4 });
  pool.on("error", () => undefined);
  const state: SignalState = {
    local: createSessionSignals(signalOptions),
    during: undefined,
    unconfirmed: new Map(),
    inserting: new Set(),
    counted: new Map(),
  };
  const context: Context = {
    options: signalOptions,
    pool,
    now,
    log,
    origin,
    maxUnconfirmed,
    state,
  };
  try {
    await rebuild(context);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return startSharing(context, clientOptions);
}

/** What one replica holds: its memory, and its own signals not yet seen in the table. */
interface SignalState {
  local: MemorySessionSignals;
  /** The signals applied while the rebuild in flight reads the table (one rebuild at a time). */
  during: Signal[] | undefined;
  /** This replica's own signals whose row is not known to be in the table, by id, oldest first. */
  unconfirmed: Map<string, Signal>;
  /** Ids whose insert is in flight (not tried again meanwhile). */
  inserting: Set<string>;
  /**
   * The ids of the denials `local` counts, with their time: a signal reaches a replica twice
   * when its notification arrives after a snapshot that already held its row, and a denial
   * counted twice would stop an agent early. Rebuilt with `local`; pruned to the window.
   */
  counted: Map<string, number>;
}

interface Context {
  options: PostgresSessionSignalsOptions;
  pool: pg.Pool;
  now: () => number;
  log: NonNullable<PostgresSessionSignalsOptions["log"]>;
  origin: string;
  maxUnconfirmed: number;
  state: SignalState;
}

function apply(target: SessionSignals, signal: Signal): void {
  if (signal.kind === "taint") void target.taint(signal.key);
  else target.recordDenial(signal.key, signal.at);
}

/** Applies a signal unless `counted` shows it applied already (a taint twice is one taint). */
function applyOnce(target: SessionSignals, counted: Map<string, number>, signal: Signal): void {
  if (signal.kind === "denial" && signal.id !== undefined) {
    if (counted.has(signal.id)) return;
    counted.set(signal.id, signal.at);
  }
  apply(target, signal);
}

function applyLocal(state: SignalState, signal: Signal): void {
  applyOnce(state.local, state.counted, signal);
  state.during?.push(signal);
}

/** Forgets the ids of denials out of the window: they count no more, wherever they arrive. */
function pruneCounted(counted: Map<string, number>, windowStart: number): void {
  for (const [id, at] of counted) if (at <= windowStart) counted.delete(id);
}

/** Reads the table into a fresh memory, replays what the snapshot may lack, swaps it in. */
async function rebuild(c: Context): Promise<void> {
  const { state } = c;
  // Own signals unconfirmed when the read starts: even if confirmed before it returns, their
  // commit may postdate the snapshot.
  const during: Signal[] = [...state.unconfirmed.values()];
  state.during = during;
  try {
    await sweepSessions(c);
    const rows = await c.pool.query<{
      kind: Signal["kind"];
      key: string;
      at_ms: string;
      id: string | null;
    }>(
      `SELECT kind, key, at_ms, id FROM ${TABLE}
        WHERE kind = 'taint' OR at_ms > $1 ORDER BY at_ms`,
      [c.now() - c.options.denialWindowMs],
    );
    const fresh = createSessionSignals(c.options);
    const counted = new Map<string, number>();
    const held = new Set<string>();
    for (const row of rows.rows) {
      if (row.kind === "taint" && row.key === storedKey(EVICTED_KEY)) {
        fresh.noteSessionsEvicted(1);
        continue;
      }
      const signal: Signal = {
        kind: row.kind,
        key: keyFromRow(row.key),
        at: Number(row.at_ms),
        origin: "",
      };
      if (row.id !== null) signal.id = row.id;
      applyOnce(fresh, counted, signal);
      if (row.id !== null) held.add(row.id);
    }
    // A row in the snapshot confirms its insert (one that timed out on this side included).
    for (const id of held) state.unconfirmed.delete(id);
    pruneUnconfirmed(c, false);
    // `during` holds every own signal unconfirmed at any point of the read (those of the start,
    // and each one shared since), and every other replica's notified meanwhile.
    let replayed = 0;
    for (const signal of new Set(during)) {
      if (signal.id !== undefined && held.has(signal.id)) continue;
      applyOnce(fresh, counted, signal);
      replayed++;
    }
    state.local = fresh;
    state.counted = counted;
    c.log("info", "session signals rebuilt from the table", { rows: rows.rows.length, replayed });
  } finally {
    state.during = undefined;
  }
}

/**
 * Deletes the session taint rows past the newest `maxSessions` sessions: those a rebuild's memory forgets
 * anyway (it applies rows oldest first and keeps the newest `maxSessions` sessions), and marks,
 * in the same statement, that sessions were forgotten, so that no replica lets an actor's clear
 * through afterwards (the actor's taint is then those sessions' only hold: never swept). Actor
 * rows are never swept. Best effort: a sweep that fails leaves the rows for the next one.
 */
async function sweepSessions(c: Context): Promise<void> {
  try {
    await c.pool.query(
      // By session, not by row: a key may hold several rows (left by an older revision, or two
      // replicas tainting it at once), and counting rows forgot sessions memory holds. A key's
      // older rows go too (its newest decides what a clear leaves, as for the insert); only a
      // key past the bound is a forgotten session, and marked.
      `WITH sessions AS (SELECT ctid, key, at_ms,
                               row_number() OVER (PARTITION BY key ORDER BY at_ms DESC) AS nth
                          FROM ${TABLE} WHERE kind = 'taint' AND strpos(key, '%') = 0),
            kept AS (SELECT key FROM sessions WHERE nth = 1 ORDER BY at_ms DESC LIMIT $1),
            doomed AS (SELECT ctid, NOT EXISTS (SELECT 1 FROM kept WHERE kept.key = s.key) AS evicted
                         FROM sessions s
                        WHERE nth > 1 OR NOT EXISTS (SELECT 1 FROM kept WHERE kept.key = s.key)),
            gone AS (DELETE FROM ${TABLE} WHERE ctid IN (SELECT ctid FROM doomed) RETURNING ctid)
       INSERT INTO ${TABLE} (kind, key, at_ms, origin, id)
       SELECT 'taint', $2, ${DB_NOW_MS}, $3, $4
        WHERE EXISTS (SELECT 1 FROM gone JOIN doomed USING (ctid) WHERE doomed.evicted)
       ON CONFLICT (id) DO NOTHING`,
      [c.options.maxSessions ?? 100_000, storedKey(EVICTED_KEY), c.origin, EVICTED_ID],
    );
  } catch (error) {
    c.log("error", "session signals: sweeping session taints failed (will retry)", {
      error: String(error),
    });
  }
}

/**
 * Forgets own denials out of the window; with `makeRoom`, then the oldest denials until one more
 * signal fits the bound. Never a taint (a taint dropped here would be lost at the next rebuild).
 */
function pruneUnconfirmed(c: Context, makeRoom: boolean): void {
  const { unconfirmed } = c.state;
  const windowStart = c.now() - c.options.denialWindowMs;
  for (const [id, signal] of unconfirmed) {
    if (signal.kind === "denial" && signal.at <= windowStart) unconfirmed.delete(id);
  }
  if (!makeRoom || unconfirmed.size < c.maxUnconfirmed) return;
  let dropped = 0;
  for (const [id, signal] of unconfirmed) {
    if (unconfirmed.size < c.maxUnconfirmed) break;
    if (signal.kind !== "denial") continue;
    unconfirmed.delete(id);
    dropped++;
  }
  if (dropped > 0) {
    c.log("error", "session signals: unshared denials dropped (PostgreSQL unreachable)", {
      dropped,
      unconfirmed: unconfirmed.size,
    });
  }
}

/** Inserts and notifies one own signal; true once its row is in the table. */
async function insert(c: Context, signal: Signal & { id: string }): Promise<boolean> {
  const { state } = c;
  state.inserting.add(signal.id);
  try {
    await c.pool.query(
      // A taint row is stamped with the database's clock (DB_NOW_MS): one clock for every
      // replica, the one a clear cuts by. A denial keeps its replica's time (its window).
      // A new taint row replaces its key's older ones (one row per key, however many calls
      // taint it): only once it is in (stamped later than they are), so a clear between them
      // never finds the key without a row stamped after its mark.
      `WITH saved AS (INSERT INTO ${TABLE} (kind, key, at_ms, origin, id)
                      VALUES ($1, $2, CASE WHEN $1 = 'taint' THEN ${DB_NOW_MS} ELSE $3::bigint END,
                              $4, $5)
                      ON CONFLICT (id) DO NOTHING RETURNING 1),
            older AS (DELETE FROM ${TABLE} WHERE $1 = 'taint' AND kind = 'taint' AND key = $2
                        AND id IS DISTINCT FROM $5 AND EXISTS (SELECT 1 FROM saved))
       SELECT pg_notify($6, $7) FROM saved`,
      [
        signal.kind,
        storedKey(signal.key),
        signal.at,
        c.origin,
        signal.id,
        SESSION_CHANNEL,
        JSON.stringify(signal),
      ],
    );
    state.unconfirmed.delete(signal.id);
    return true;
  } catch (error) {
    c.log("error", "session signal not shared with the other replicas (will retry)", {
      kind: signal.kind,
      key: signal.key,
      id: signal.id,
      error: String(error),
    });
    return false;
  } finally {
    state.inserting.delete(signal.id);
  }
}

/** Inserts in flight at once when re-sharing: the pool (4) keeps room for new calls' signals. */
const RESHARE_AT_ONCE = 2;

/**
 * Inserts again every own signal not in the table and not being inserted, taints first, a few
 * at a time; stops and throws at the first batch that fails (PostgreSQL still refuses: the rest
 * waits for the retry instead of queueing thousands of doomed inserts and log lines).
 */
async function reshare(c: Context): Promise<void> {
  pruneUnconfirmed(c, false);
  const waiting = [...c.state.unconfirmed.entries()]
    .filter(([id]) => !c.state.inserting.has(id))
    .sort(([, a], [, b]) => Number(a.kind === "denial") - Number(b.kind === "denial"));
  for (let i = 0; i < waiting.length; i += RESHARE_AT_ONCE) {
    const batch = waiting.slice(i, i + RESHARE_AT_ONCE);
    const results = await Promise.all(batch.map(([id, signal]) => insert(c, { ...signal, id })));
    if (results.includes(false)) {
      throw new Error(`signals not shared: ${String(waiting.length - i)} left for the retry`);
    }
  }
}

/** Listening, the periodic rebuild, the retries and the sweep; the replica's public face. */
function startSharing(c: Context, clientOptions: pg.ClientConfig): SharedSessionSignals {
  const { state, options } = c;
  const retry = {
    retryMs: options.retryMs ?? 250,
    maxRetryMs: options.maxRetryMs ?? 30_000,
  };
  const resharing = retryLoop(() => reshare(c), { ...retry, onError: () => undefined });
  const rebuilding = retryLoop(
    async () => {
      await rebuild(c);
      resharing.request(true); // PostgreSQL just answered: retry the unshared now
    },
    {
      ...retry,
      onError: (error) => {
        c.log("error", "session signals: rebuild failed (will retry)", { error: String(error) });
      },
    },
  );
  const stopListening = listenForever(clientOptions, SESSION_CHANNEL, 250, (payload) => {
    // (Re)connected: PostgreSQL answers, so a retry scheduled during the outage runs now.
    if (payload === undefined) rebuilding.request(true);
    else
      receive(c, payload, () => {
        rebuilding.request(true);
      });
  });
  const periodic = setInterval(() => {
    rebuilding.request();
  }, options.rebuildEveryMs ?? 60_000);
  periodic.unref();
  const sweeper = setInterval(() => {
    pruneCounted(state.counted, c.now() - options.denialWindowMs);
    c.pool
      .query(`DELETE FROM ${TABLE} WHERE kind = 'denial' AND at_ms <= $1`, [
        c.now() - options.denialWindowMs,
      ])
      .catch(() => undefined);
  }, options.denialWindowMs);
  sweeper.unref();

  /** Applied here at once, then inserted and notified; unconfirmed until the insert commits. */
  const share = async (kind: Signal["kind"], key: string, at: number): Promise<void> => {
    const signal = { kind, key, at, origin: c.origin, id: randomUUID() };
    if (kind === "denial") pruneUnconfirmed(c, true);
    state.unconfirmed.set(signal.id, signal);
    applyLocal(state, signal);
    if (!(await insert(c, signal))) resharing.request();
  };
  /**
   * Deletes the key's taint rows stamped before the mark `upTo` and notifies, in one statement,
   * then rebuilds here (see the header). A statement that errs may still have committed (the
   * timeout is the client's): this replica rebuilds either way, and the caller hears it is
   * unconfirmed.
   */
  const clearTaint = async (
    key: string,
    upTo: number,
  ): Promise<{ cleared: boolean; refused?: true }> => {
    if (clearRefused(key, state.local.stats())) return { cleared: false, refused: true };
    let deleted: number;
    try {
      const { rows } = await c.pool.query<{ deleted: number }>(
        `WITH gone AS (DELETE FROM ${TABLE} WHERE kind = 'taint' AND key = $1 AND at_ms < $2
                       RETURNING 1)
         SELECT (SELECT count(*) FROM gone)::int AS deleted, pg_notify($3, $4)`,
        [
          storedKey(key),
          upTo,
          SESSION_CHANNEL,
          JSON.stringify({ kind: "clear", key, origin: c.origin }),
        ],
      );
      deleted = rows[0]?.deleted ?? 0;
    } finally {
      rebuilding.request(true);
    }
    await rebuilding.idle();
    return { cleared: deleted > 0 };
  };
  let closing: Promise<void> | undefined;
  return {
    isTainted: (sessionId) => state.local.isTainted(sessionId),
    stats: () => state.local.stats(),
    listTaints: (limit) => state.local.listTaints(limit),
    clock: async () => {
      const { rows } = await c.pool.query<{ ms: string }>(`SELECT ${DB_NOW_MS} AS ms`);
      const ms = Number(rows[0]?.ms);
      if (!Number.isSafeInteger(ms)) throw new Error("the database's clock gave no time");
      return ms;
    },
    clearTaint,
    recentDenials: (agent, nowMs) => state.local.recentDenials(agent, nowMs),
    taint: (sessionId) => share("taint", sessionId, c.now()),
    recordDenial: (agent, nowMs) => {
      void share("denial", agent, nowMs);
    },
    close: () => (closing ??= closeOnce()),
  };
  async function closeOnce(): Promise<void> {
    clearInterval(periodic);
    clearInterval(sweeper);
    rebuilding.stop();
    resharing.stop();
    await stopListening();
    await Promise.all([rebuilding.idle(), resharing.idle()]);
    // One last try for what is not shared (each insert bounded by the query timeout); a taint
    // still unshared is lost to the other replicas: said, loudly.
    await reshare(c).catch(() => undefined);
    const unshared = [...state.unconfirmed.values()].filter((s) => s.kind === "taint");
    if (unshared.length > 0) {
      c.log("error", "session signals: taints never shared with the other replicas at close", {
        taints: unshared.length,
        ids: unshared.slice(0, 20).map((s) => s.id),
      });
    }
    await c.pool.end();
  }
}

/**
 * Another replica's notification: a signal is applied, a clear asks for a rebuild (`onClear`);
 * anything else is ignored and logged.
 */
function receive(c: Context, payload: string, onClear: () => void): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    parsed = undefined;
  }
  const clear = ClearNotice.safeParse(parsed);
  if (clear.success) {
    if (clear.data.origin !== c.origin) onClear();
    return;
  }
  const checked = Signal.safeParse(parsed);
  if (!checked.success) {
    c.log("error", "session signals: notification ignored (not a signal)", {
      bytes: payload.length,
    });
    return;
  }
  if (checked.data.origin !== c.origin) applyLocal(c.state, checked.data);
}
