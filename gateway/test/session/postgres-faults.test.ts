// The shared session signals under the interleavings and faults that lost taints (fail-open) or
// blocked replicas, each forced deterministically on a private PostgreSQL: a rebuild whose
// snapshot predates an own insert confirmed before the read returns; two rebuilds, the older
// landing last; a rebuild that fails; an insert that fails; a replica opening next to a long
// reader or under a role that may only read and write; a notification that is not a signal; and
// the bound on unshared signals during an outage.
import type pg from "pg";
import { describe, expect, it } from "vitest";
import {
  openPostgresSessionSignals,
  type PostgresSessionSignalsOptions,
  type SharedSessionSignals,
} from "../../src/session-postgres.ts";
import { sessionsDatabase, until } from "./pg-support.ts";

const WINDOW_MS = 60_000;
const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const { client, freshSchema, track } = sessionsDatabase("sessionfaults");

interface Opened {
  signals: SharedSessionSignals;
  rebuilds: Record<string, unknown>[];
  errors: string[];
}

async function open(
  url: string,
  more: Partial<PostgresSessionSignalsOptions> = {},
): Promise<Opened> {
  const rebuilds: Record<string, unknown>[] = [];
  const errors: string[] = [];
  const signals = await openPostgresSessionSignals({
    denialWindowMs: WINDOW_MS,
    connectionString: url,
    now: () => T0,
    retryMs: 50,
    maxRetryMs: 200,
    log: (level, message, fields) => {
      if (message === "session signals rebuilt from the table") rebuilds.push(fields ?? {});
      if (level === "error") errors.push(message);
    },
    ...more,
  });
  track(signals);
  // Opening rebuilds once, and the LISTEN connection's first connect once more.
  await until(() => rebuilds.length === 2);
  return { signals, rebuilds, errors };
}

/** Cuts every LISTEN connection on the channel: each replica reconnects and rebuilds. */
const cutListeners = (admin: pg.Client) =>
  admin.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE query = 'LISTEN zyx_session_signals' AND pid <> pg_backend_pid()`,
  );

/**
 * Puts the table behind a view whose rows pass `gate()`: while ctl.block, a rebuild's SELECT
 * waits on advisory lock 4242 AFTER its snapshot is taken; while ctl.fail, it fails. Seeds a row.
 */
async function gateReads(admin: pg.Client, schema: string): Promise<void> {
  await admin.query(`SET search_path = ${schema}`);
  await admin.query(`ALTER TABLE zyx_session_signals RENAME TO base`);
  await admin.query(`CREATE TABLE ctl (block boolean NOT NULL, fail boolean NOT NULL)`);
  await admin.query(`INSERT INTO ctl VALUES (true, false)`);
  await admin.query(`CREATE FUNCTION gate() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
     BEGIN
       IF (SELECT fail FROM ${schema}.ctl) THEN RAISE EXCEPTION 'gate closed'; END IF;
       IF (SELECT block FROM ${schema}.ctl) THEN
         PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242);
       END IF;
       RETURN true;
     END $$`);
  await admin.query(`CREATE VIEW zyx_session_signals AS SELECT * FROM base WHERE ${schema}.gate()`);
  // gate() runs per row: one row, so that every read passes it.
  await admin.query(`INSERT INTO base VALUES ('taint', 's-seed', ${String(T0)}, 'seed', 'seed')`);
}

const readsWaiting = async (admin: pg.Client): Promise<number> =>
  (
    await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event = 'advisory' AND query LIKE '%SELECT kind, key%'`,
    )
  ).rows[0]?.n ?? 0;

/** Makes inserts into the schema's table fail while ctl_insert.fail. */
async function failInserts(admin: pg.Client, schema: string, fail: boolean): Promise<void> {
  await admin.query(`SET search_path = ${schema}`);
  await admin.query(`CREATE TABLE IF NOT EXISTS ctl_insert (fail boolean NOT NULL)`);
  await admin.query(`DELETE FROM ctl_insert`);
  await admin.query(`INSERT INTO ctl_insert VALUES ($1)`, [fail]);
  await admin.query(`CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF (SELECT fail FROM ${schema}.ctl_insert) THEN RAISE EXCEPTION 'inserts refused'; END IF;
       RETURN NEW;
     END $$`);
  await admin.query(`CREATE OR REPLACE TRIGGER refuse BEFORE INSERT ON zyx_session_signals
     FOR EACH ROW EXECUTE FUNCTION refuse()`);
}

describe("session signals on PostgreSQL: rebuilds", () => {
  it("keeps an own taint whose insert commits after the snapshot, confirmed before the read returns", async () => {
    const { url, schema } = await freshSchema();
    const a = await open(url, { queryTimeoutMs: 10_000 }); // a gated read may wait
    const admin = await client();
    const gatekeeper = await client();
    await gateReads(admin, schema);
    await gatekeeper.query(`SELECT pg_advisory_lock(4242)`);
    await admin.query("BEGIN");
    await admin.query("LOCK TABLE base IN SHARE MODE"); // the insert waits behind it
    const tainting = a.signals.taint("s-x");
    await cutListeners(admin); // the rebuild's snapshot lacks s-x; it then waits in gate()
    await until(async () => (await readsWaiting(gatekeeper)) === 1);
    await admin.query("COMMIT"); // the insert commits and is confirmed
    await tainting;
    await gatekeeper.query(`SELECT pg_advisory_unlock(4242)`); // the old snapshot lands
    await until(() => a.rebuilds.length === 3);
    expect(a.rebuilds[2]).toMatchObject({ rows: 1, replayed: 1 }); // the seed; s-x replayed
    expect(a.signals.isTainted("s-x")).toBe(true);
  });

  it("never lets an older snapshot land after a newer one", async () => {
    const { url, schema } = await freshSchema();
    const a = await open(url, { queryTimeoutMs: 10_000 }); // a gated read may wait
    const admin = await client();
    const gatekeeper = await client();
    await gateReads(admin, schema);
    await gatekeeper.query(`SELECT pg_advisory_lock(4242)`);
    await cutListeners(admin); // R1: snapshot without s-b, waits in gate()
    await until(async () => (await readsWaiting(gatekeeper)) === 1);
    await admin.query(`UPDATE ctl SET block = false`);
    // Another replica's taint commits while this replica's LISTEN connection is down again.
    await admin.query("BEGIN");
    await admin.query(`INSERT INTO base VALUES ('taint', 's-b', ${String(T0)}, 'other', 'id-b')`);
    await cutListeners(admin);
    await admin.query("COMMIT");
    await new Promise((resolve) => setTimeout(resolve, 400)); // reconnected: R2 asked for
    await gatekeeper.query(`SELECT pg_advisory_unlock(4242)`);
    await until(() => a.rebuilds.length === 4);
    expect(a.rebuilds.map((r) => r["rows"])).toEqual([0, 0, 1, 2]);
    expect(a.signals.isTainted("s-b")).toBe(true);
  });

  it("tries a failed rebuild again until it succeeds, with no reconnection", async () => {
    const { url, schema } = await freshSchema();
    const a = await open(url);
    const admin = await client();
    await gateReads(admin, schema);
    await admin.query(`UPDATE ctl SET block = false, fail = true`);
    // Another replica's taint, its notification missed by the rebuild that fails.
    await admin.query(`INSERT INTO base VALUES ('taint', 's-missed', ${String(T0)}, 'o', 'id-m')`);
    await cutListeners(admin);
    await until(() => a.errors.includes("session signals: rebuild failed (will retry)"));
    expect(a.signals.isTainted("s-missed")).toBe(false);
    await admin.query(`UPDATE ctl SET fail = false`);
    await until(() => a.signals.isTainted("s-missed"));
    expect(a.rebuilds).toHaveLength(3);
  });
});

describe("session signals on PostgreSQL: inserts", () => {
  it("inserts an own taint again once PostgreSQL takes it, and the other replicas see it", async () => {
    const { url, schema } = await freshSchema();
    const [a, b] = [await open(url), await open(url)];
    const admin = await client();
    await failInserts(admin, schema, true);
    await a.signals.taint("s-late");
    expect(a.signals.isTainted("s-late")).toBe(true); // here at once, whatever the insert did
    expect(a.errors).toContain("session signal not shared with the other replicas (will retry)");
    expect(b.signals.isTainted("s-late")).toBe(false);
    await admin.query(`UPDATE ctl_insert SET fail = false`);
    await until(() => b.signals.isTainted("s-late"));
    const rows = await admin.query(`SELECT key FROM zyx_session_signals WHERE key = 's-late'`);
    expect(rows.rows).toHaveLength(1);
  });

  it("bounds unshared signals in an outage: the oldest denials go, never a taint", async () => {
    const { url, schema } = await freshSchema();
    const a = await open(url, { maxUnconfirmed: 3, maxRetryMs: 60_000, retryMs: 60_000 });
    const b = await open(url);
    const admin = await client();
    await failInserts(admin, schema, true);
    await a.signals.taint("s-kept");
    for (let i = 1; i <= 5; i++) a.signals.recordDenial("u|agent", T0 - 10 * (6 - i));
    await until(
      () => a.errors.filter((e) => e.startsWith("session signal not shared")).length >= 7, // the taint twice, 5 denials
    );
    expect(a.errors).toContain(
      "session signals: unshared denials dropped (PostgreSQL unreachable)",
    );
    expect(a.signals.recentDenials("u|agent", T0)).toBe(5); // memory here is not bounded by it
    await admin.query(`UPDATE ctl_insert SET fail = false`);
    await cutListeners(admin); // a rebuild, then the retry of what is left
    await until(
      () => b.signals.isTainted("s-kept") && b.signals.recentDenials("u|agent", T0) === 2,
    );
    const rows = await admin.query<{ kind: string; at_ms: string }>(
      `SELECT kind, at_ms FROM zyx_session_signals ORDER BY kind, at_ms`,
    );
    // The two newest denials at their replica's times; the taint once (stamped by the database).
    expect(rows.rows.map((r) => [r.kind, r.kind === "denial" ? Number(r.at_ms) - T0 : 0])).toEqual([
      ["denial", -20],
      ["denial", -10],
      ["taint", 0],
    ]);
  });
});

describe("session signals on PostgreSQL: actor keys and closing", () => {
  it("shares a taint and a denial keyed by an actor (a NUL inside), as PostgreSQL cannot store NUL", async () => {
    const { url } = await freshSchema();
    const [a, b] = [await open(url), await open(url)];
    const actor = "actor:eng%25@zyxbank.example\u0000change-reviewer";
    await a.signals.taint(actor);
    a.signals.recordDenial(actor, T0);
    await until(() => b.signals.isTainted(actor) && b.signals.recentDenials(actor, T0) === 1);
    expect(a.errors).toEqual([]);
    const later = await open(url); // from the table: the key reads back exactly
    expect(later.signals.isTainted(actor)).toBe(true);
    expect(later.signals.isTainted("actor:eng%@zyxbank.example\u0000change-reviewer")).toBe(false);
    expect(later.signals.recentDenials(actor, T0)).toBe(1);
  });

  it("says so at close when a taint never reached the table", async () => {
    const { url, schema } = await freshSchema();
    const a = await open(url, { retryMs: 60_000, maxRetryMs: 60_000 });
    await failInserts(await client(), schema, true);
    await a.signals.taint("s-unshared");
    await a.signals.close();
    expect(a.errors).toContain(
      "session signals: taints never shared with the other replicas at close",
    );
  });
});

describe("session signals on PostgreSQL: opening and notifications", () => {
  it("upgrades an older table: the id column, and a unique index in place of a wrong one", async () => {
    const { url } = await freshSchema();
    const admin = await client(url);
    await admin.query(`CREATE TABLE zyx_session_signals (kind text NOT NULL, key text NOT NULL,
       at_ms bigint NOT NULL, origin text NOT NULL)`);
    await admin.query(
      `INSERT INTO zyx_session_signals VALUES ('taint', 's-older', ${String(T0)}, 'o')`,
    );
    await admin.query(`CREATE INDEX zyx_session_signals_id_key ON zyx_session_signals (kind)`);
    const a = await open(url);
    expect(a.signals.isTainted("s-older")).toBe(true);
    const index = await admin.query<{ def: string }>(
      `SELECT pg_get_indexdef('zyx_session_signals_id_key'::regclass) AS def`,
    );
    expect(index.rows[0]?.def).toMatch(
      /CREATE UNIQUE INDEX zyx_session_signals_id_key ON .* \(id\)/,
    );
    await a.signals.taint("s-newer");
    const rows = await admin.query(`SELECT key FROM zyx_session_signals ORDER BY key`);
    expect(rows.rows.map((r: { key: string }) => r.key)).toEqual(["s-newer", "s-older"]);
  });

  it("opens next to a long reader without locking the table", async () => {
    const { url } = await freshSchema();
    await open(url);
    const reader = await client(url);
    await reader.query("BEGIN");
    await reader.query("SELECT count(*) FROM zyx_session_signals"); // ACCESS SHARE until COMMIT
    // The previous code queued ALTER TABLE behind the reader and failed on the query timeout.
    const second = await open(url, { queryTimeoutMs: 1_000, migrationTimeoutMs: 1_000 });
    await second.signals.taint("s-while-read");
    await reader.query("COMMIT");
  });

  it("opens under a role that may only read, insert and delete once the schema is in place", async () => {
    const { url, schema } = await freshSchema();
    await open(url);
    const admin = await client();
    const role = `gw_${schema}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
    await admin.query(`GRANT SELECT, INSERT, DELETE ON ${schema}.zyx_session_signals TO ${role}`);
    const limited = url.replace(/\/\/[^@/]+@/, `//${role}@`);
    expect(limited).not.toBe(url);
    const c = await open(limited);
    await c.signals.taint("s-limited");
    const rows = await admin.query(
      `SELECT origin FROM ${schema}.zyx_session_signals WHERE key = 's-limited'`,
    );
    expect(rows.rows).toHaveLength(1);
  });

  it("ignores a notification that is not a signal, and never counts it as a denial", async () => {
    const { url } = await freshSchema();
    const a = await open(url);
    const admin = await client(url);
    const notify = (payload: unknown) =>
      admin.query(`SELECT pg_notify('zyx_session_signals', $1)`, [JSON.stringify(payload)]);
    await notify({ kind: "untaint", key: "u|agent", at: T0, origin: "other", id: "x1" });
    await notify({ kind: "denial", key: "u|agent", at: "soon", origin: "other" });
    await notify({ kind: "taint", key: "s-valid", at: T0, origin: "other", id: "x2" });
    await until(() => a.signals.isTainted("s-valid"));
    expect(a.signals.recentDenials("u|agent", T0)).toBe(0);
    expect(a.errors.filter((e) => e.includes("notification ignored"))).toHaveLength(2);
  });
});
