// One contract for the session signals (taint, recent denials): in memory (the embedded default)
// and PostgreSQL (shared by replicas; a private cluster for this file, never skipped). Then two
// PostgreSQL "replicas": a taint or a denial on one is seen by the other, and a replica opened
// later starts with what the table holds.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSessionSignals, type SessionSignals } from "../../src/session.ts";
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

const backends: { name: string; open(): Promise<SessionSignals> }[] = [
  {
    name: "memory",
    open: () => Promise.resolve(createSessionSignals({ denialWindowMs: WINDOW_MS })),
  },
  { name: "postgres", open: async () => openShared(await freshSchema()) },
];

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
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
