// A kill-switch state handed to the reloader while a candidate bundle waits for the anti-rollback
// check (a PostgreSQL round trip) must be the state the candidate serves with: the swap may not
// put an engine holding the state from before the change in front of the calls.
import { copyFileSync, mkdtempSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildPolicyVariant, type PolicyVariant } from "../../../scripts/lib/policy-variant.ts";
import { ENGINEER_READS } from "../../../test/support/fixtures.ts";
import {
  createReloadingPolicyEngine,
  type ReloadingPolicyEngine,
} from "../../src/policy/reloader.ts";
import { memoryHighWaterStore, type HighWaterStore } from "../../src/policy/rollback.ts";

const tmp = mkdtempSync(join(tmpdir(), "zyx-rollback-race-"));
const variants: PolicyVariant[] = [];
const engines: ReloadingPolicyEngine[] = [];
afterAll(() => {
  for (const engine of engines) engine.close();
  for (const built of variants) built.remove();
});

const OFF = {
  all_writes: false,
  read_only_agents: [],
  connectors: [],
  users: [],
  agents: [],
  workflows: [],
};

describe("a kill-switch change during the anti-rollback check", () => {
  it("is in force on the bundle swapped in after the check", async () => {
    const first = buildPolicyVariant((config) => {
      config["race_marker"] = "first";
    });
    const second = buildPolicyVariant((config) => {
      config["race_marker"] = "second";
    });
    variants.push(first, second);
    const memory = memoryHighWaterStore();
    let gate: Promise<void> | undefined;
    let entered: () => void = () => undefined;
    const inCheck = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const store: HighWaterStore = {
      location: "gated memory",
      load: async () => {
        if (gate !== undefined) {
          entered();
          await gate;
        }
        return memory.load();
      },
      raise: (mark) => memory.raise(mark),
    };
    const live = join(tmp, "live.tar.gz");
    copyFileSync(first.bundle, live);
    const engine = await createReloadingPolicyEngine({
      bundlePath: live,
      pollMs: 50,
      highWater: store,
    });
    engines.push(engine);
    expect(engine.loadError).toBeNull();
    engine.setState({ kill_switch: OFF });
    const before = engine.revision;

    let release: () => void = () => undefined;
    gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const aside = `${live}.tmp`;
    copyFileSync(second.bundle, aside);
    renameSync(aside, live);
    await inCheck; // the new bundle is loaded and waits for the high-water mark
    // The kill switch stops the engineer's agent meanwhile.
    engine.setState({ kill_switch: { ...OFF, agents: [ENGINEER_READS.agent.id] } });
    expect(engine.evaluate(ENGINEER_READS)).toMatchObject({
      ok: true,
      decision: { allow: false, reasons: [{ code: "kill_switch_agent" }] },
    });
    gate = undefined;
    release();
    const start = performance.now();
    while (engine.revision === before && performance.now() - start < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(engine.revision).not.toBe(before);
    // The swapped-in bundle must not have forgotten the switch.
    expect(engine.evaluate(ENGINEER_READS)).toMatchObject({
      ok: true,
      decision: { allow: false, reasons: [{ code: "kill_switch_agent" }] },
    });
  }, 60_000);
});
