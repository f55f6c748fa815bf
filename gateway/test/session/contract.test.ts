// One contract for the session signals (taint, recent denials): in memory (the embedded default)
// and PostgreSQL (shared by replicas; a private cluster for this file, never skipped). Then two
// PostgreSQL "replicas": a taint or a denial on one is seen by the other, and a replica opened
// later starts with what the table holds.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  actorKey,
  createSessionSignals,
  TAINTS_SATURATED,
  type SessionSignals,
  type TaintAdmin,
} from "../../src/session.ts";
import {
  openPostgresSessionSignals,
  type SharedSessionSignals,
} from "../../src/session-postgres.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";

const WINDOW_MS = 60_000;
const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
let postgres: PrivatePostgres;
let schemas = 0;
const opened: SharedSessionSignals[] = [];

beforeAll(async () => {
  postgres = await startPostgres({ database: "sessions" });
}, 60_000);
afterAll(async () => {
  await Promise.all(opened.map((signals) => signals.close()));
  await postgres.stop();
});

async function freshSchema(): Promise<string> {
  const schema = `sessions_${String(++schemas)}`;
  const admin = new pg.Client({ connectionString: postgres.connectionString });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return postgres.urlFor(postgres.database, { searchPath: schema });
}

async function openShared(url: string): Promise<SharedSessionSignals> {
  const signals = await openPostgresSessionSignals({
    denialWindowMs: WINDOW_MS,
    connectionString: url,
    now: () => T0,
  });
  opened.push(signals);
  return signals;
}

const backends: { name: string; open(): Promise<SessionSignals & TaintAdmin> }[] = [
  {
    name: "memory",
    open: () => Promise.resolve(createSessionSignals({ denialWindowMs: WINDOW_MS })),
  },
  { name: "postgres", open: async () => openShared(await freshSchema()) },
];

/** A few ms: a mark read after it is past a taint just stamped, on any store. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

async function until(check: () => boolean): Promise<void> {
  // A bound on waiting, not a timing claim: a loaded machine may take seconds to deliver.
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(backends)("session signals contract: $name", (backend) => {
  it("taints a session and only that session", async () => {
    const signals = await backend.open();
    expect(signals.isTainted("s-1")).toBe(false);
    await signals.taint("s-1");
    expect(signals.isTainted("s-1")).toBe(true);
    expect(signals.isTainted("s-2")).toBe(false);
  });

  it("clears one key's taint, and lists the tainted actors", async () => {
    const signals = await backend.open();
    const actor = actorKey("u-engineer", "change-reviewer");
    await Promise.all([signals.taint("s-1"), signals.taint(actor), signals.taint("s-2")]);
    expect(signals.listTaints(10)).toMatchObject({
      actors: [{ user: "u-engineer", agent: "change-reviewer" }],
      stats: { sessions: 2, actors: 1, saturated: false },
    });
    // A clear cut before the taint was set leaves it (it came from content read since).
    expect(await signals.clearTaint(actor, 0)).toEqual({ cleared: false });
    expect(signals.isTainted(actor)).toBe(true);
    await tick(); // PostgreSQL marks in whole ms: a taint in the mark's own ms stays
    expect(await signals.clearTaint(actor, await signals.clock())).toEqual({ cleared: true });
    expect(signals.isTainted(actor)).toBe(false);
    expect(signals.isTainted("s-1")).toBe(true);
    expect(await signals.clearTaint("s-1", await signals.clock())).toEqual({ cleared: true });
    expect(signals.isTainted("s-1")).toBe(false);
    expect(signals.isTainted("s-2")).toBe(true);
    expect(await signals.clearTaint("s-never", await signals.clock())).toEqual({ cleared: false });
    // Tainted again after the clear: tainted.
    await signals.taint(actor);
    expect(signals.isTainted(actor)).toBe(true);
  });

  it("counts the denials of the window per key", async () => {
    const signals = await backend.open();
    signals.recordDenial("user|agent", T0);
    signals.recordDenial("user|agent", T0 + 1_000);
    signals.recordDenial("other|agent", T0 + 1_000);
    expect(signals.recentDenials("user|agent", T0 + 2_000)).toBe(2);
    expect(signals.recentDenials("user|agent", T0 + WINDOW_MS + 500)).toBe(1);
    expect(signals.recentDenials("nobody|agent", T0)).toBe(0);
  });
});

describe("session signals on PostgreSQL: several replicas", () => {
  it("a taint and a denial on one replica are seen by the other", async () => {
    const url = await freshSchema();
    const [a, b] = [await openShared(url), await openShared(url)];
    await a.taint("s-injected");
    a.recordDenial("u|agent", T0);
    await until(() => b.isTainted("s-injected") && b.recentDenials("u|agent", T0) === 1);
    expect(a.recentDenials("u|agent", T0)).toBe(1); // its own signal is not counted twice
  });

  it("a denial counts once when its notification arrives after a snapshot that held its row", async () => {
    const url = await freshSchema();
    const b = await openShared(url);
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      // Another replica's denial, committed; its notification not delivered yet.
      const signal = { kind: "denial", key: "u|agent", at: T0, origin: "replica-a", id: "d-1" };
      await other.query(
        `INSERT INTO zyx_session_signals (kind, key, at_ms, origin, id) VALUES ($1, $2, $3, $4, $5)`,
        [signal.kind, signal.key, signal.at, signal.origin, signal.id],
      );
      // b rebuilds from the table (a clear elsewhere asks every replica to): it holds the row.
      await other.query(`SELECT pg_notify('zyx_session_signals', $1)`, [
        JSON.stringify({ kind: "clear", key: "s-other", origin: "replica-a" }),
      ]);
      await until(() => b.recentDenials("u|agent", T0) === 1);
      // The late notification of the same denial, then one of a new denial as a marker.
      for (const payload of [signal, { ...signal, key: "marker|agent", id: "d-2" }]) {
        await other.query(`SELECT pg_notify('zyx_session_signals', $1)`, [JSON.stringify(payload)]);
      }
      await until(() => b.recentDenials("marker|agent", T0) === 1);
      expect(b.recentDenials("u|agent", T0)).toBe(1);
    } finally {
      await other.end();
    }
  });

  it("a clear on one replica reaches the other, and a replica opened later does not see it", async () => {
    const url = await freshSchema();
    const [a, b] = [await openShared(url), await openShared(url)];
    const actor = actorKey("u-engineer", "change-reviewer");
    await a.taint(actor);
    await until(() => b.isTainted(actor));
    await tick();
    expect(await b.clearTaint(actor, await b.clock())).toEqual({ cleared: true });
    expect(b.isTainted(actor)).toBe(false);
    await until(() => !a.isTainted(actor));
    const later = await openShared(url);
    expect(later.isTainted(actor)).toBe(false);
    await later.close();
    // A taint after the clear holds everywhere.
    await a.taint(actor);
    await until(() => b.isTainted(actor));
    await Promise.all([a.close(), b.close()]);
  });

  it("a clear cuts by the database's clock: a taint set since, at once, on a replica behind, stays", async () => {
    const url = await freshSchema();
    const skewed = (offsetMs: number) =>
      openPostgresSessionSignals({
        denialWindowMs: WINDOW_MS,
        connectionString: url,
        now: () => Date.now() + offsetMs,
      });
    const a = await skewed(60_000); // the clearing replica's clock a minute ahead
    const behind = await skewed(-60_000); // the tainting one's a minute behind
    opened.push(a, behind);
    const actor = actorKey("u-engineer", "change-reviewer");
    await a.taint(actor);
    await tick();
    const upTo = await a.clock();
    await behind.taint(actor); // new content read right after the clear was asked for
    // One row per key: the new taint replaced the older row, so nothing stamped before the mark
    // is left to clear, and the key stays tainted.
    expect(await a.clearTaint(actor, upTo)).toEqual({ cleared: false });
    expect(a.isTainted(actor)).toBe(true);
    const later = await openShared(url);
    expect(later.isTainted(actor)).toBe(true);
    // Closed now, not at the end: the private cluster's connections are few.
    await Promise.all([a.close(), behind.close(), later.close()]);
  });

  it("refuses an actor's clear once session taints were forgotten at the bound, on rebuild too", async () => {
    const url = await freshSchema();
    const small = async () => {
      const signals = await openPostgresSessionSignals({
        denialWindowMs: WINDOW_MS,
        connectionString: url,
        maxSessions: 2,
      });
      opened.push(signals);
      return signals;
    };
    const a = await small();
    const actor = actorKey("u-engineer", "change-reviewer");
    await Promise.all([a.taint(actor), a.taint("s-1"), a.taint("s-2"), a.taint("s-3")]);
    expect(await a.clearTaint(actor, await a.clock())).toEqual({ cleared: false, refused: true });
    // A session whose id merely starts like an actor key is a session: it clears.
    await a.taint("actor:abc");
    await tick();
    expect(await a.clearTaint("actor:abc", await a.clock())).toEqual({ cleared: true });
    // A replica opened on the same rows forgets the same sessions, and refuses too.
    const b = await small();
    expect(b.stats().sessionsEvicted).toBe(1);
    expect(await b.clearTaint(actor, await b.clock())).toEqual({ cleared: false, refused: true });
    expect(b.isTainted(actor)).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  it("a replica opened later starts with the taints and the denials in the window", async () => {
    const url = await freshSchema();
    const a = await openShared(url);
    await a.taint("s-old");
    a.recordDenial("u|agent", T0 - 1_000);
    a.recordDenial("u|agent", T0 - WINDOW_MS - 1_000);
    const later = await openShared(url);
    await until(() => later.isTainted("s-old") && later.recentDenials("u|agent", T0) === 1);
  });
});

describe("session signals on PostgreSQL: the actor-taint bound fails closed", () => {
  it("past maxActors every key reads as tainted, logged, on a replica opened later too", async () => {
    const url = await freshSchema();
    const errors: string[] = [];
    const open = async () => {
      const signals = await openPostgresSessionSignals({
        denialWindowMs: WINDOW_MS,
        connectionString: url,
        now: () => T0,
        maxActors: 1,
        log: (level, message) => {
          if (level === "error") errors.push(message);
        },
      });
      opened.push(signals);
      return signals;
    };
    const a = await open();
    await a.taint(actorKey("u-1", "change-reviewer"));
    expect(a.isTainted("s-clean")).toBe(false);
    await a.taint(actorKey("u-2", "change-reviewer"));
    expect(a.isTainted("s-clean")).toBe(true);
    expect(a.stats().saturated).toBe(true);
    expect(errors).toContain(TAINTS_SATURATED);
    // The rows outlive the replica: one opened later rebuilds into the same closed state.
    const later = await open();
    expect(later.stats()).toMatchObject({ actors: 1, saturated: true });
    expect(later.isTainted(actorKey("u-9", "change-reviewer"))).toBe(true);
  });
});

describe("session signals on PostgreSQL: a rebuild never drops a signal", () => {
  it("a taint applied while a rebuild reads an older snapshot is still there after it", async () => {
    const url = await freshSchema();
    const rebuilt: Record<string, unknown>[] = [];
    const signals = await openPostgresSessionSignals({
      denialWindowMs: WINDOW_MS,
      connectionString: url,
      now: () => T0,
      log: (_level, message, fields) => {
        if (message === "session signals rebuilt from the table") rebuilt.push(fields ?? {});
      },
    });
    opened.push(signals);
    // Opening rebuilds once, and the LISTEN connection's first connect once more.
    await until(() => rebuilt.length === 2);

    // Inserts wait behind a SHARE lock; a rebuild's SELECT does not, so its snapshot cannot
    // hold the taint's row: exactly the interleaving that lost taints.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query("BEGIN");
      await admin.query("LOCK TABLE zyx_session_signals IN SHARE MODE");
      const tainting = signals.taint("s-during");
      expect(signals.isTainted("s-during")).toBe(true);
      // Every LISTEN connection on the channel is cut (other files' replicas just reconnect):
      // this one reconnects and rebuilds while the taint's insert still waits.
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE query = 'LISTEN zyx_session_signals' AND pid <> pg_backend_pid()`,
      );
      await until(() => rebuilt.length === 3);
      expect(rebuilt[2]).toMatchObject({ replayed: 1 }); // the taint, not yet in the table
      expect(signals.isTainted("s-during")).toBe(true);
      expect(signals.isTainted("s-other")).toBe(false);
      await admin.query("COMMIT");
      await tainting;
    } finally {
      await admin.end();
    }
    const later = await openShared(url);
    expect(later.isTainted("s-during")).toBe(true);
  });
});
