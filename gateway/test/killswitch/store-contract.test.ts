// One contract for both kill-switch stores (port.ts): the state file and the shared PostgreSQL
// table (a private cluster started for this file; never skipped). Then the kill switch itself on
// two "replicas" sharing one store: a change on one reaches the other through NOTIFY, two
// concurrent changes both land (compare-and-set, re-read, retry), and a lost store refuses writes
// until it is back.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFileKillSwitchStore, type KillSwitchStore } from "../../src/killswitch/port.ts";
import { openPostgresKillSwitchStore } from "../../src/killswitch/postgres-store.ts";
import { createKillSwitch, type KillSwitch } from "../../src/killswitch/service.ts";
import { STATE_FILE_FORMAT, type StateFile } from "../../src/killswitch/store.ts";
import { startKillSwitchSync } from "../../src/killswitch/sync.ts";
import { defaultPolicyState } from "../../src/killswitch/scopes.ts";
import type { PolicyState } from "../../src/policy/decision.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import { CATALOG_CONNECTORS } from "./support.ts";

let postgres: PrivatePostgres;
let schemas = 0;
const dirs: string[] = [];

beforeAll(async () => {
  postgres = await startPostgres({ database: "kill_switch" });
}, 60_000);
afterAll(async () => {
  await postgres.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh, empty PostgreSQL schema: one connection string per test. */
async function freshSchema(): Promise<string> {
  const schema = `ks_${String(++schemas)}`;
  const admin = new pg.Client({ connectionString: postgres.connectionString });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return postgres.urlFor(postgres.database, { searchPath: schema });
}

interface Backend {
  name: string;
  /** Opens a store on a fresh place; `again` opens a second store on the same place. */
  open(): Promise<{ store: KillSwitchStore; again: () => Promise<KillSwitchStore> }>;
}

const backends: Backend[] = [
  {
    name: "file",
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), "ks-contract-"));
      dirs.push(dir);
      const path = join(dir, "kill-switch.json");
      return {
        store: await openFileKillSwitchStore(path),
        again: () => openFileKillSwitchStore(path),
      };
    },
  },
  {
    name: "postgres",
    open: async () => {
      const url = await freshSchema();
      const open = () => openPostgresKillSwitchStore({ connectionString: url });
      return { store: await open(), again: open };
    },
  },
];

function version(n: number, state: PolicyState = defaultPolicyState()): StateFile {
  return {
    format: STATE_FILE_FORMAT,
    version: n,
    updated_at: n === 0 ? null : "2026-11-21T03:00:00.000Z",
    updated_by: n === 0 ? null : "admin@zyxbank.example",
    reason: n === 0 ? null : `change ${String(n)}`,
    state,
    history: [],
  };
}

function stopping(agent: string): PolicyState {
  const state = defaultPolicyState();
  state.kill_switch.agents.push(agent);
  return state;
}

describe.each(backends)("kill-switch store contract: $name", (backend) => {
  it("holds nothing at first, then the newest saved version", async () => {
    const { store, again } = await backend.open();
    expect(await store.load()).toBeUndefined();
    expect(await store.save(version(0))).toBe(true);
    expect(await store.save(version(1, stopping("agent-a")))).toBe(true);
    const other = await again();
    expect(await other.load()).toEqual(version(1, stopping("agent-a")));
    await Promise.all([store.close(), other.close()]);
  });

  it("pings while it can be reached", async () => {
    const { store } = await backend.open();
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
  });
});

describe("kill-switch store contract: postgres only", () => {
  it("refuses a version that already exists (compare-and-set), keeping the first", async () => {
    const url = await freshSchema();
    const [a, b] = await Promise.all([
      openPostgresKillSwitchStore({ connectionString: url }),
      openPostgresKillSwitchStore({ connectionString: url }),
    ]);
    await a.save(version(0));
    const results = await Promise.all([
      a.save(version(1, stopping("from-a"))),
      b.save(version(1, stopping("from-b"))),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results[0] ? "from-a" : "from-b";
    expect((await b.load())?.state.kill_switch.agents).toEqual([winner]);
    await Promise.all([a.close(), b.close()]);
  });

  it("says a stored document that is not a state is corrupt", async () => {
    const url = await freshSchema();
    const store = await openPostgresKillSwitchStore({ connectionString: url });
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    await raw.query(
      `INSERT INTO zyx_kill_switch_versions (version, document) VALUES (0, '{"x":1}')`,
    );
    await raw.end();
    await expect(store.load()).rejects.toMatchObject({ code: "kill_switch_state_corrupt" });
    await store.close();
  });

  it("cannot be opened on an unreachable server: kill_switch_unavailable", async () => {
    await expect(
      openPostgresKillSwitchStore({
        connectionString: "postgresql://postgres@127.0.0.1:1/none",
        queryTimeoutMs: 500,
      }),
    ).rejects.toMatchObject({ code: "kill_switch_unavailable" });
  });
});

interface Replica {
  killSwitch: KillSwitch;
  applied: PolicyState[];
  stop(): Promise<void>;
}

async function replica(url: string, staleAfterMs = 3_000): Promise<Replica> {
  const store = await openPostgresKillSwitchStore({ connectionString: url, queryTimeoutMs: 300 });
  const applied: PolicyState[] = [];
  const killSwitch = await createKillSwitch({
    store,
    audit: () => undefined,
    apply: (state) => {
      applied.push(structuredClone(state));
    },
    connectors: CATALOG_CONNECTORS,
  });
  const sync = startKillSwitchSync({ killSwitch, store, intervalMs: 50, staleAfterMs });
  return {
    killSwitch,
    applied,
    stop: async () => {
      await sync.stop();
      await killSwitch.close();
    },
  };
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the kill switch on a shared store", () => {
  it("a change on one replica is applied by the other", async () => {
    const url = await freshSchema();
    const [a, b] = await Promise.all([replica(url), replica(url)]);
    await a.killSwitch.set("agent", "change-reviewer", { by: "admin", reason: "INC-1" });
    await until(() => b.killSwitch.state().version === 1);
    expect(b.applied.at(-1)?.kill_switch.agents).toEqual(["change-reviewer"]);
    expect(b.killSwitch.state().applied_version).toBe(1);
    await Promise.all([a.stop(), b.stop()]);
  });

  it("two replicas changing at once: both changes land, versions 1 and 2", async () => {
    const url = await freshSchema();
    const [a, b] = await Promise.all([replica(url), replica(url)]);
    await Promise.all([
      a.killSwitch.set("agent", "agent-a", { by: "admin", reason: "from a" }),
      b.killSwitch.set("agent", "agent-b", { by: "admin", reason: "from b" }),
    ]);
    await until(() => a.killSwitch.state().version === 2 && b.killSwitch.state().version === 2);
    expect(a.killSwitch.state().state.kill_switch.agents.sort()).toEqual(["agent-a", "agent-b"]);
    expect(b.killSwitch.state().state).toEqual(a.killSwitch.state().state);
    await Promise.all([a.stop(), b.stop()]);
  });

  it("a lost store turns all_writes on for the policy after the bound, and off when back", async () => {
    const url = await freshSchema();
    const a = await replica(url, 200);
    expect(a.killSwitch.storeStatus()).toEqual({ kind: "postgres", shared: true, healthy: true });
    // Lose the store: the schema (and its table) goes away behind the replica's back.
    const admin = new pg.Client({ connectionString: postgres.connectionString });
    await admin.connect();
    const schema = new URL(url).searchParams.get("options")?.split("=")[1] ?? "";
    await admin.query(`ALTER SCHEMA ${schema} RENAME TO ${schema}_away`);
    await until(() => !a.killSwitch.storeStatus().healthy);
    expect(a.applied.at(-1)?.kill_switch.all_writes).toBe(true);
    expect(a.killSwitch.state().state.kill_switch.all_writes).toBe(false);
    await admin.query(`ALTER SCHEMA ${schema}_away RENAME TO ${schema}`);
    await admin.end();
    await until(() => a.killSwitch.storeStatus().healthy);
    expect(a.applied.at(-1)?.kill_switch.all_writes).toBe(false);
    await a.stop();
  });
});
