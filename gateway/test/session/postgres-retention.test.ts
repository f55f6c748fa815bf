// What the shared session signals keep in PostgreSQL, and so what every rebuild reads (on every
// replica, every minute and on every reconnection). Taint rows are written by calls: every call
// that reads flagged content taints its session and its actor, and session ids are the caller's.
// Neither may grow the table without bound, and nothing kept for that may un-taint anything.
import type pg from "pg";
import { describe, expect, it } from "vitest";
import {
  openPostgresSessionSignals,
  type PostgresSessionSignalsOptions,
  type SharedSessionSignals,
} from "../../src/session-postgres.ts";
import { actorKey } from "../../src/session.ts";
import { sessionsDatabase, until } from "./pg-support.ts";

const WINDOW_MS = 60_000;
const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const { client, freshSchema, track } = sessionsDatabase("sessionretention");

async function open(url: string, more: Partial<PostgresSessionSignalsOptions> = {}) {
  const rebuilds: Record<string, unknown>[] = [];
  const signals = await openPostgresSessionSignals({
    denialWindowMs: WINDOW_MS,
    connectionString: url,
    now: () => T0,
    retryMs: 50,
    maxRetryMs: 200,
    log: (_level, message, fields) => {
      if (message === "session signals rebuilt from the table") rebuilds.push(fields ?? {});
    },
    ...more,
  });
  track(signals);
  await until(() => rebuilds.length === 2);
  return { signals, rebuilds };
}

/** Cuts the LISTEN connections: every replica reconnects and rebuilds; answers the rows read. */
async function rowsReadByARebuild(admin: pg.Client, rebuilds: Record<string, unknown>[]) {
  const before = rebuilds.length;
  await admin.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE query = 'LISTEN zyx_session_signals' AND pid <> pg_backend_pid()`,
  );
  await until(() => rebuilds.length > before);
  return rebuilds.at(-1)?.["rows"];
}

/** What handoff.ts does when a result is flagged: the session and the actor, together. */
const flaggedRead = (signals: SharedSessionSignals, session: string, actor: string) =>
  Promise.all([signals.taint(session), signals.taint(actor)]);

describe("session taint rows: what a rebuild reads", () => {
  it("holds one row per tainted key, however many calls tainted it", async () => {
    const { url } = await freshSchema();
    const a = await open(url);
    const actor = actorKey("engineer@zyxbank.example", "change-reviewer");
    // One agent in one session reading a poisoned ticket 100 times (its limit is 120 a minute).
    for (let i = 0; i < 100; i++) await flaggedRead(a.signals, "s-1", actor);
    const rows = await rowsReadByARebuild(await client(url), a.rebuilds);
    expect(rows).toBeLessThanOrEqual(2); // today: 200, and one more pair per flagged read
    expect(a.signals.isTainted("s-1")).toBe(true);
    expect(a.signals.isTainted(actor)).toBe(true);
  });

  it("keeps session rows within the session bound, without un-tainting what memory holds", async () => {
    const { url } = await freshSchema();
    const a = await open(url, { maxSessions: 20 });
    const actor = actorKey("engineer@zyxbank.example", "change-reviewer");
    // A fresh session id per call (the caller chooses them).
    for (let i = 0; i < 60; i++) await flaggedRead(a.signals, `s-${String(i)}`, actor);
    const admin = await client(url);
    await rowsReadByARebuild(admin, a.rebuilds);
    // Memory holds the newest 20 sessions (the rest is covered by the actor's taint).
    expect(a.signals.stats()).toMatchObject({ sessions: 20, actors: 1 });
    expect(a.signals.isTainted("s-59") && a.signals.isTainted(actor)).toBe(true);
    // The table holds what memory can hold (and a mark that some sessions were forgotten).
    const rows = await rowsReadByARebuild(admin, a.rebuilds);
    expect(rows).toBeLessThanOrEqual(20 + 1 + 1); // sessions, the actor, the eviction mark
    // What the sweep forgot is still covered: the actor stays tainted and cannot be cleared.
    expect(a.signals.stats().sessionsEvicted).toBeGreaterThan(0);
    expect(await a.signals.clearTaint(actor, await a.signals.clock())).toEqual({
      cleared: false,
      refused: true,
    });
    const later = await open(url, { maxSessions: 20 }); // a replica started afterwards
    expect(later.signals.stats()).toMatchObject({ sessions: 20, actors: 1 });
    expect(later.signals.stats().sessionsEvicted).toBeGreaterThan(0);
    expect(later.signals.isTainted("s-59") && later.signals.isTainted(actor)).toBe(true);
  });

  it("left by the previous revision (a row per flagged read), forgets no session memory holds", async () => {
    const { url } = await freshSchema();
    const a = await open(url, { maxSessions: 20 });
    const actor = actorKey("engineer@zyxbank.example", "change-reviewer");
    // Ten sessions, each tainted three times, as the previous revision wrote them: one row per
    // flagged read for the session and one for the actor (30 session rows, 10 sessions).
    const admin = await client(url);
    const { rows } = await admin.query<{ now: string }>(
      "SELECT floor(extract(epoch from clock_timestamp()) * 1000)::bigint AS now",
    );
    const start = Number(rows[0]?.now) - 60_000;
    let at = start;
    for (let session = 0; session < 10; session++) {
      for (let read = 0; read < 3; read++) {
        at += 1;
        await admin.query(
          `INSERT INTO zyx_session_signals (kind, key, at_ms, origin, id)
           VALUES ('taint', $1, $3, 'old', gen_random_uuid()::text),
                  ('taint', $2, $3, 'old', gen_random_uuid()::text)`,
          [`s-${String(session)}`, actor.replaceAll("%", "%25").replaceAll("\u0000", "%00"), at],
        );
      }
    }
    await rowsReadByARebuild(admin, a.rebuilds);
    await rowsReadByARebuild(admin, a.rebuilds);
    // Ten sessions are within the bound of 20: memory holds them all, so must the table, and an
    // agent's clear is not refused as if a session had been forgotten.
    const held = Array.from({ length: 10 }, (_, i) => a.signals.isTainted(`s-${String(i)}`));
    expect(held.every(Boolean)).toBe(true);
    expect(a.signals.stats().sessionsEvicted).toBe(0);
    const later = await open(url, { maxSessions: 20 }); // a replica started afterwards
    expect(later.signals.stats()).toMatchObject({ sessions: 10, actors: 1, sessionsEvicted: 0 });
  });
});
