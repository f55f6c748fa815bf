// A stale bound no longer than the re-read interval: every re-read succeeds, yet each tick found
// the last one older than the bound and marked the store lost, so a healthy replica refused
// write tools and answered /readyz 503 every other interval, writing a store_lost and a
// store_back audit record each time (found by review). Refused at start, by the sync and the
// configuration alike.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import { openPostgresKillSwitchStore } from "../../src/killswitch/postgres-store.ts";
import { createKillSwitch } from "../../src/killswitch/service.ts";
import { startKillSwitchSync } from "../../src/killswitch/sync.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import { CATALOG_CONNECTORS } from "./support.ts";

let postgres: PrivatePostgres;

beforeAll(async () => {
  postgres = await startPostgres({ database: "kill_switch_bound" });
}, 60_000);
afterAll(async () => {
  await postgres.stop();
});

async function healthyReplica() {
  const admin = new pg.Client({ connectionString: postgres.connectionString });
  await admin.connect();
  await admin.query("CREATE SCHEMA IF NOT EXISTS bound");
  await admin.end();
  const url = postgres.urlFor(postgres.database, { searchPath: "bound" });
  const store = await openPostgresKillSwitchStore({ connectionString: url, queryTimeoutMs: 500 });
  const audits: AuditRecordInput[] = [];
  const killSwitch = await createKillSwitch({
    store,
    audit: (record) => {
      audits.push(record);
    },
    apply: () => undefined,
    connectors: CATALOG_CONNECTORS,
  });
  return { store, killSwitch, audits };
}

describe("the kill-switch sync's stale bound against its interval", () => {
  it("a healthy store is never reported lost, or the bound is refused", async () => {
    const { store, killSwitch, audits } = await healthyReplica();
    let sync: { stop(): Promise<void> } | undefined;
    try {
      sync = startKillSwitchSync({ killSwitch, store, intervalMs: 200, staleAfterMs: 100 });
    } catch (error) {
      // Refused at start: the configuration cannot make a healthy replica flap.
      expect(error).toBeInstanceOf(TypeError);
    }
    const seen: boolean[] = [];
    const deadline = Date.now() + 1_500;
    while (Date.now() < deadline) {
      seen.push(killSwitch.storeStatus().healthy);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await sync?.stop();
    await killSwitch.close();
    expect(seen.every(Boolean)).toBe(true);
    expect(audits.filter((r) => r.event === "kill_switch")).toEqual([]);
  });

  it("the configuration refuses a stale bound that is not past the re-read interval", () => {
    const env = {
      APPROVAL_DATABASE_URL: "postgresql://zyx@db.internal:5432/zyx",
      KILL_SWITCH_STORE: "postgres",
    };
    expect(() =>
      loadConfig({ ...env, KILL_SWITCH_SYNC_MS: "5000", KILL_SWITCH_STALE_AFTER_MS: "1000" }),
    ).toThrow(ConfigError);
    expect(() =>
      loadConfig({ ...env, KILL_SWITCH_SYNC_MS: "500", KILL_SWITCH_STALE_AFTER_MS: "500" }),
    ).toThrow(ConfigError);
    expect(
      loadConfig({ ...env, KILL_SWITCH_SYNC_MS: "500", KILL_SWITCH_STALE_AFTER_MS: "3000" })
        .killSwitchStore,
    ).toMatchObject({ kind: "postgres", syncMs: 500, staleAfterMs: 3000 });
  });
});
