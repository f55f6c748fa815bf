// One contract for both call limiters: in memory (the embedded default) and PostgreSQL (shared by
// replicas; a private cluster started for this file, never skipped). The same exact sliding-log
// semantics with a frozen clock on both; then, PostgreSQL only, two limiters (two replicas) on
// one database racing for the same key admit exactly the limit, and an unreachable database
// refuses with limits_unavailable (fail closed).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresLimiter } from "../../src/limits/postgres-limiter.ts";
import {
  createMemoryDenials,
  openPostgresDenials,
  type SharedDenials,
} from "../../src/limits/shared-denials.ts";
import type { CallKey, CallLimiter, LimitVerdict } from "../../src/limits/rate-limiter.ts";
import { createRateLimiter } from "../../src/limits/rate-limiter.ts";
import { startPgProxy } from "../../../test/support/pg-proxy.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import { frozenClock, limitsWith, type FrozenClock } from "./support.ts";

let postgres: PrivatePostgres;
let schemas = 0;
const opened: CallLimiter[] = [];

beforeAll(async () => {
  postgres = await startPostgres({ database: "limits" });
}, 60_000);
afterAll(async () => {
  for (const limiter of opened) await limiter.close?.();
  await postgres.stop();
});

async function freshSchema(): Promise<string> {
  const schema = `limits_${String(++schemas)}`;
  const admin = new pg.Client({ connectionString: postgres.connectionString });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return postgres.urlFor(postgres.database, { searchPath: schema });
}

type Overrides = Parameters<typeof limitsWith>[0];

interface Backend {
  name: string;
  open(overrides: Overrides, clock: FrozenClock): Promise<CallLimiter>;
}

const backends: Backend[] = [
  {
    name: "memory",
    open: (overrides, clock) =>
      Promise.resolve(createRateLimiter({ limits: limitsWith(overrides), now: clock.now })),
  },
  {
    name: "postgres",
    open: async (overrides, clock) => {
      const limiter = await openPostgresLimiter({
        limits: limitsWith(overrides),
        now: clock.now,
        connectionString: await freshSchema(),
      });
      opened.push(limiter);
      return limiter;
    },
  },
];

const ALLOWED: LimitVerdict = { allowed: true };
const refused = (scope: "agent" | "user" | "tool", limit: number, retry: number): LimitVerdict => ({
  allowed: false,
  scope,
  limit,
  windowSeconds: 60,
  retryAfterSeconds: retry,
  cause: "limit",
});
const call = (agent: string, user: string, tool: CallKey["tool"] = "jira_read"): CallKey => ({
  agent,
  user,
  tool,
});

describe.each(backends)("call limiter contract: $name", (backend) => {
  async function setup(overrides: Overrides) {
    const clock = frozenClock();
    const limiter = await backend.open(overrides, clock);
    return async (seconds: number, key: CallKey) => {
      clock.at(seconds);
      return await limiter.check(key);
    };
  }
  const a = call("change-reviewer", "engineer@zyxbank.example");

  it("admits 3 in 60 s, refuses until the oldest call leaves at exactly t + 60 s", async () => {
    const at = await setup({ per_agent: 3 });
    expect(await at(0, a)).toEqual(ALLOWED);
    expect(await at(10, a)).toEqual(ALLOWED);
    expect(await at(20, a)).toEqual(ALLOWED);
    expect(await at(30, a)).toEqual(refused("agent", 3, 30));
    expect(await at(59.999, a)).toEqual(refused("agent", 3, 1));
    expect(await at(60, a)).toEqual(ALLOWED);
    expect(await at(60.001, a)).toEqual(refused("agent", 3, 10));
  });

  it("does not count refused calls", async () => {
    const at = await setup({ per_agent: 3 });
    for (const t of [0, 10, 20]) expect(await at(t, a)).toEqual(ALLOWED);
    for (const t of [30, 40, 50]) expect(await at(t, a)).toMatchObject({ allowed: false });
    expect(await at(60.001, a)).toEqual(ALLOWED);
  });

  it("limits each scope to its own calls", async () => {
    const at = await setup({ per_user: 2, per_tool: { jira_read: 1 } });
    expect(await at(0, a)).toEqual(ALLOWED);
    expect(await at(1, a)).toEqual(refused("tool", 1, 59));
    expect(
      await at(2, call("change-reviewer", "engineer@zyxbank.example", "github_read_pr")),
    ).toEqual(ALLOWED);
    expect(await at(3, call("other-agent", "engineer@zyxbank.example", "confluence_read"))).toEqual(
      refused("user", 2, 57),
    );
    expect(await at(4, call("change-reviewer", "someone@zyxbank.example"))).toEqual(ALLOWED);
  });

  it("names the scope that frees up last", async () => {
    const at = await setup({ per_user: 2, per_agent: 2 });
    expect(await at(0, call("agent-a", "u1@zyxbank.example"))).toEqual(ALLOWED);
    expect(await at(10, call("agent-b", "u2@zyxbank.example"))).toEqual(ALLOWED);
    expect(await at(20, call("agent-a", "u2@zyxbank.example"))).toEqual(ALLOWED);
    // agent-a: calls at 0 and 20 (frees at 60); u2: calls at 10 and 20 (frees at 70).
    expect(await at(30, call("agent-a", "u2@zyxbank.example"))).toEqual(refused("user", 2, 40));
  });
});

describe("call limiter on PostgreSQL: several replicas", () => {
  it("two limiters on one database, 20 concurrent calls each, admit exactly the limit", async () => {
    const url = await freshSchema();
    const clock = frozenClock();
    const replicas = await Promise.all(
      [1, 2].map(() =>
        openPostgresLimiter({
          limits: limitsWith({ per_user: 7 }),
          now: clock.now,
          connectionString: url,
        }),
      ),
    );
    opened.push(...replicas);
    const [one, two] = replicas;
    if (one === undefined || two === undefined) throw new Error("two limiters expected");
    const verdicts = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? one : two).check(call(`agent-${String(i % 5)}`, "busy@zyxbank.example")),
      ),
    );
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(7);
  });

  it("a check that gave up waiting for a key's lock leaves no lock behind: another replica's next check is admitted", async () => {
    const url = await freshSchema();
    const options = { limits: limitsWith({}), connectionString: url, queryTimeoutMs: 300 };
    const one = await openPostgresLimiter(options);
    const two = await openPostgresLimiter(options);
    opened.push(one, two);
    const key = call("agent-locked", "locked@zyxbank.example");
    // A slow transaction elsewhere holds the agent key's lock past one's bound.
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    await blocker.query("BEGIN");
    await blocker.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
      JSON.stringify(["agent", "agent-locked"]),
    ]);
    await expect(one.check(key)).rejects.toMatchObject({ code: "limits_unavailable" });
    await blocker.query("COMMIT");
    await blocker.end();
    // The session one abandoned must not be left holding the lock, idle in its transaction.
    await expect(two.check(key)).resolves.toEqual({ allowed: true });
  });

  it("a connection reset in the middle of a check: refused limits_unavailable, and the process lives on", async () => {
    const url = new URL(await freshSchema());
    const proxy = await startPgProxy({ host: "127.0.0.1", port: Number(url.port) });
    url.port = String(proxy.port);
    const limiter = await openPostgresLimiter({
      limits: limitsWith({}),
      connectionString: url.toString(),
      queryTimeoutMs: 5_000,
    });
    opened.push(limiter);
    const key = call("agent-reset", "reset@zyxbank.example");
    // Another session holds the agent key's lock: the check waits inside its transaction.
    const blocker = new pg.Client({ connectionString: postgres.connectionString });
    await blocker.connect();
    await blocker.query("BEGIN");
    await blocker.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
      JSON.stringify(["agent", "agent-reset"]),
    ]);
    const checking = limiter.check(key);
    await new Promise((done) => setTimeout(done, 200));
    proxy.mode = "down"; // every connection through the proxy reset, the checked-out one too
    await expect(checking).rejects.toMatchObject({ code: "limits_unavailable" });
    await blocker.query("COMMIT");
    await blocker.end();
    proxy.mode = "pass";
    await expect(limiter.check(key)).resolves.toEqual({ allowed: true });
    await proxy.close();
  });

  it("refuses with limits_unavailable when the database cannot be reached", async () => {
    const url = await freshSchema();
    const limiter = await openPostgresLimiter({
      limits: limitsWith({}),
      connectionString: url,
      queryTimeoutMs: 500,
    });
    const admin = new pg.Client({ connectionString: postgres.connectionString });
    await admin.connect();
    await admin.query(`DROP SCHEMA limits_${String(schemas)} CASCADE`);
    await admin.end();
    await expect(limiter.check(call("a", "u@zyxbank.example"))).rejects.toMatchObject({
      code: "limits_unavailable",
    });
    await limiter.close();
  });
});

// The denial monitor's shared log (limits/shared-denials.ts): one contract for the memory adapter
// and PostgreSQL, then two PostgreSQL handles (two replicas) on one database.
const denialLogs: { name: string; open: () => Promise<SharedDenials> }[] = [
  { name: "memory", open: () => Promise.resolve(createMemoryDenials()) },
  {
    name: "postgres",
    open: async () => {
      const log = await openPostgresDenials({ connectionString: await freshSchema() });
      openedLogs.push(log);
      return log;
    },
  },
];
const openedLogs: SharedDenials[] = [];
afterAll(async () => {
  for (const log of openedLogs) await log.close();
});

describe.each(denialLogs)("shared denial log: $name", ({ open }) => {
  const W = 60_000;
  const at = (seconds: number, n: number) => ({ at: seconds * 1000, decisionId: `d-${n}` });

  it("answers the agent's denials in the window, oldest first, the newest `limit`", async () => {
    const log = await open();
    expect(await log.record("agent-a", at(0, 1), W, 3)).toEqual([at(0, 1)]);
    expect(await log.record("agent-a", at(10, 2), W, 3)).toEqual([at(0, 1), at(10, 2)]);
    expect(await log.record("agent-b", at(11, 3), W, 3)).toEqual([at(11, 3)]);
    expect(await log.record("agent-a", at(20, 4), W, 3)).toEqual([at(0, 1), at(10, 2), at(20, 4)]);
    expect(await log.record("agent-a", at(30, 5), W, 3)).toEqual([at(10, 2), at(20, 4), at(30, 5)]);
    // 0 s and 10 s are out of (10, 70]: a window is exclusive at its start.
    expect(await log.record("agent-a", at(70, 6), W, 10)).toEqual([
      at(20, 4),
      at(30, 5),
      at(70, 6),
    ]);
  });

  it("forgets an agent's denials up to a time, and only that agent's", async () => {
    const log = await open();
    await log.record("agent-a", at(0, 1), W, 3);
    await log.record("agent-a", at(5, 2), W, 3);
    await log.record("agent-b", at(5, 3), W, 3);
    await log.forget("agent-a", 5_000);
    expect(await log.record("agent-a", at(6, 4), W, 3)).toEqual([at(6, 4)]);
    expect(await log.record("agent-b", at(6, 5), W, 3)).toEqual([at(5, 3), at(6, 5)]);
  });
});

describe("shared denial log: two replicas on one PostgreSQL", () => {
  it("each sees the other's denials", async () => {
    const url = await freshSchema();
    const one = await openPostgresDenials({ connectionString: url });
    const two = await openPostgresDenials({ connectionString: url });
    openedLogs.push(one, two);
    await one.record("agent-a", { at: 1_000, decisionId: "d-1" }, 60_000, 10);
    await two.record("agent-a", { at: 2_000, decisionId: "d-2" }, 60_000, 10);
    expect(await one.record("agent-a", { at: 3_000, decisionId: "d-3" }, 60_000, 10)).toEqual([
      { at: 1_000, decisionId: "d-1" },
      { at: 2_000, decisionId: "d-2" },
      { at: 3_000, decisionId: "d-3" },
    ]);
  });

  it("rejects when the database cannot be reached (the monitor then counts alone)", async () => {
    const url = await freshSchema();
    const log = await openPostgresDenials({ connectionString: url, queryTimeoutMs: 500 });
    openedLogs.push(log);
    const admin = new pg.Client({ connectionString: postgres.connectionString });
    await admin.connect();
    await admin.query(`DROP SCHEMA limits_${String(schemas)} CASCADE`);
    await admin.end();
    await expect(
      log.record("agent-a", { at: 1_000, decisionId: "d-1" }, 60_000, 10),
    ).rejects.toThrow();
  });
});
