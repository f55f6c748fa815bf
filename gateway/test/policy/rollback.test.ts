// Anti-rollback through the real reloader and real, signed bundles built by
// scripts/bundle-policy.sh: a validly signed OLDER bundle (a lower build serial) is refused on
// reload while the newer keeps serving; at boot a bundle below the persisted high-water mark
// (file in ZYX_STATE_DIR, or PostgreSQL shared by replicas) is refused and every call denied;
// one serial with other content is refused; a bundle without a serial is refused; legitimately
// rolling back (the old Rego rebuilt: a new serial) is served.
import { copyFileSync, mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPolicyVariant, type PolicyVariant } from "../../../scripts/lib/policy-variant.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import { ENGINEER_READS } from "../../../test/support/fixtures.ts";
import { loadPolicyEngine } from "../../src/policy/engine.ts";
import {
  createReloadingPolicyEngine,
  type ReloadEvent,
  type ReloadOptions,
  type ReloadingPolicyEngine,
} from "../../src/policy/reloader.ts";
import { fileHighWaterStore, type HighWaterStore } from "../../src/policy/rollback.ts";
import { openPostgresHighWaterStore } from "../../src/policy/rollback-postgres.ts";
import { devSigningKey, rewriteBundle, signFiles } from "./signing.ts";

const tmp = mkdtempSync(join(tmpdir(), "zyx-rollback-"));
const engines: ReloadingPolicyEngine[] = [];
const variants: PolicyVariant[] = [];
let older: PolicyVariant;
let newer: PolicyVariant;
let olderSerial: number;
let newerSerial: number;

function variant(marker: string, serial?: number): PolicyVariant {
  const built = buildPolicyVariant(
    (config) => {
      config["rollback_test_marker"] = marker;
    },
    serial === undefined ? {} : { serial },
  );
  variants.push(built);
  return built;
}

async function serialOf(path: string): Promise<number> {
  const engine = await loadPolicyEngine({ bundlePath: path });
  expect(engine.loadError).toBeNull();
  return engine.data?.zyx.bundle.serial ?? Number.NaN;
}

beforeAll(async () => {
  // Built in this order: `older` gets the lower serial.
  older = variant("older");
  newer = variant("newer");
  olderSerial = await serialOf(older.bundle);
  newerSerial = await serialOf(newer.bundle);
}, 60_000);
afterAll(() => {
  for (const engine of engines) engine.close();
  for (const built of variants) built.remove();
});

function replace(live: string, from: string): void {
  const aside = `${live}.${String(Math.random()).slice(2)}.tmp`;
  copyFileSync(from, aside);
  renameSync(aside, live);
}

async function until(what: string, done: () => boolean, deadlineMs = 5_000): Promise<void> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > deadlineMs) throw new Error(`not within 5 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function liveEngine(name: string, initial: string, highWater?: ReloadOptions["highWater"]) {
  const live = join(tmp, name);
  copyFileSync(initial, live);
  const events: ReloadEvent[] = [];
  const engine = await createReloadingPolicyEngine({
    bundlePath: live,
    pollMs: 500,
    onEvent: (event) => events.push(event),
    ...(highWater === undefined ? {} : { highWater }),
  });
  engines.push(engine);
  return { live, engine, events };
}

describe("policy bundle anti-rollback", () => {
  it("stamps increasing serials on bundles built one after the other", () => {
    expect(Number.isSafeInteger(olderSerial) && olderSerial > 0).toBe(true);
    expect(newerSerial).toBeGreaterThan(olderSerial);
  });

  it("refuses a signed older bundle on reload; the newer keeps serving", async () => {
    const { live, engine, events } = await liveEngine("reload.tar.gz", newer.bundle);
    const serving = engine.revision;
    expect(engine.loadError).toBeNull();
    replace(live, older.bundle);
    await until("the refusal", () => engine.status().refused !== undefined);
    expect(engine.revision).toBe(serving);
    expect(engine.evaluate(ENGINEER_READS)).toMatchObject({
      ok: true,
      decision: { policy_revision: serving },
    });
    expect(engine.status()).toMatchObject({
      revision: serving,
      failures: 1,
      refused: { code: "policy_bundle_rollback" },
    });
    expect(engine.status().refused?.message).toContain(`serial ${String(olderSerial)}`);
    expect(events.at(-1)).toMatchObject({ outcome: "refused", code: "policy_bundle_rollback" });
    // The newer one put back (same serial, same revision): admitted again, refusal cleared.
    replace(live, newer.bundle);
    await until("the refusal cleared", () => engine.status().refused === undefined);
    expect(engine.revision).toBe(serving);
  });

  it("serves a legitimate rollback: the old Rego rebuilt gets a newer serial", async () => {
    const { live, engine } = await liveEngine("rebuilt.tar.gz", newer.bundle);
    const rebuilt = variant("older"); // the older policy, rebuilt now
    const rebuiltEngine = await loadPolicyEngine({ bundlePath: rebuilt.bundle });
    const olderEngine = await loadPolicyEngine({ bundlePath: older.bundle });
    expect(rebuiltEngine.revision).toBe(olderEngine.revision); // the same content...
    expect(await serialOf(rebuilt.bundle)).toBeGreaterThan(newerSerial); // ...a newer serial
    replace(live, rebuilt.bundle);
    await until("the rebuilt old policy serves", () => engine.revision === olderEngine.revision);
    expect(engine.status().refused).toBeUndefined();
  });

  it("refuses another content under the same serial", async () => {
    const { live, engine } = await liveEngine("same-serial.tar.gz", newer.bundle);
    const twin = variant("twin", newerSerial);
    expect(await serialOf(twin.bundle)).toBe(newerSerial);
    replace(live, twin.bundle);
    await until("the refusal", () => engine.status().refused !== undefined);
    expect(engine.status().refused?.code).toBe("policy_bundle_rollback");
    expect(engine.evaluate(ENGINEER_READS)).toMatchObject({ ok: true });
  });

  it("refuses a validly signed bundle without a serial (fail closed)", async () => {
    const key = await devSigningKey();
    const unserialed = await rewriteBundle(newer.bundle, join(tmp, "no-serial-src.tar.gz"), (f) => {
      const data = JSON.parse(f.get("data.json")?.toString() ?? "{}") as {
        zyx: { bundle: Record<string, unknown> };
      };
      delete data.zyx.bundle["serial"];
      f.set("data.json", Buffer.from(JSON.stringify(data)));
      return signFiles(f, key);
    });
    // Readable (an archived bundle can still be replayed by the audit tools)...
    expect((await loadPolicyEngine({ bundlePath: unserialed })).loadError).toBeNull();
    // ...but never served.
    const { engine } = await liveEngine("no-serial.tar.gz", unserialed);
    expect(engine.loadError?.code).toBe("policy_bundle_serial_missing");
    expect(engine.evaluate(ENGINEER_READS)).toMatchObject({
      ok: false,
      code: "policy_bundle_serial_missing",
    });
  });

  it("at boot, refuses a bundle below the mark persisted in ZYX_STATE_DIR", async () => {
    const markFile = join(tmp, "state/policy/bundle-high-water.json");
    const first = await liveEngine("boot-1.tar.gz", newer.bundle, fileHighWaterStore(markFile));
    expect(first.engine.loadError).toBeNull();
    first.engine.close(); // the gateway stops...
    // ...and restarts on an older, validly signed bundle (an old file copied back).
    const second = await liveEngine("boot-2.tar.gz", older.bundle, fileHighWaterStore(markFile));
    expect(second.engine.loadError?.code).toBe("policy_bundle_rollback");
    expect(second.engine.revision).toBeUndefined();
    expect(second.engine.evaluate(ENGINEER_READS)).toMatchObject({
      ok: false,
      code: "policy_bundle_rollback",
    });
    // A restart on the bundle that was serving is fine.
    const third = await liveEngine("boot-3.tar.gz", newer.bundle, fileHighWaterStore(markFile));
    expect(third.engine.loadError).toBeNull();
  });

  it("fails closed when the persisted mark is unreadable", async () => {
    const markFile = join(tmp, "corrupt-mark.json");
    writeFileSync(markFile, "{ not json");
    const { engine } = await liveEngine(
      "corrupt.tar.gz",
      newer.bundle,
      fileHighWaterStore(markFile),
    );
    expect(engine.loadError?.code).toBe("policy_rollback_state_unavailable");
    expect(engine.evaluate(ENGINEER_READS)).toMatchObject({ ok: false });
  });
});

describe("policy high-water mark shared in PostgreSQL", () => {
  let postgres: PrivatePostgres;
  const stores: HighWaterStore[] = [];
  beforeAll(async () => {
    postgres = await startPostgres({ database: "policy_high_water" });
  }, 60_000);
  afterAll(async () => {
    for (const store of stores) await store.close?.();
    await postgres.stop();
  });
  async function store(): Promise<HighWaterStore> {
    const opened = await openPostgresHighWaterStore({
      connectionString: postgres.connectionString,
    });
    stores.push(opened);
    return opened;
  }

  it("a fresh replica refuses a bundle older than another replica accepted", async () => {
    const a = await liveEngine("pg-a.tar.gz", newer.bundle, await store());
    expect(a.engine.loadError).toBeNull();
    // Replica B: another host, an empty state dir, an old bundle.
    const b = await liveEngine("pg-b.tar.gz", older.bundle, await store());
    expect(b.engine.loadError?.code).toBe("policy_bundle_rollback");
    // B then gets the current bundle: served.
    replace(b.live, newer.bundle);
    await until("B serves the current bundle", () => b.engine.loadError === null);
  });

  it("never lowers the mark, whatever the order of the raises", async () => {
    const [one, two] = [await store(), await store()];
    const high = { serial: newerSerial + 1_000, revision: "high" };
    const low = { serial: newerSerial + 10, revision: "low" };
    await Promise.all([one.raise(high), two.raise(low)]);
    expect(await one.load()).toEqual(high);
    expect(await two.raise(low)).toEqual(high);
  });
});
