// Hot reload through the real engine and a real bundle file: a rebuilt, signed bundle is live
// within 5 s without a restart and without a failed call; a tampered replacement is refused
// while the previous revision keeps serving; no bundle at boot denies until a good one appears.
import { copyFileSync, mkdtempSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildPolicyVariant, type PolicyVariant } from "../../../scripts/lib/policy-variant.ts";
import type { DecisionInput } from "../../src/policy/decision.ts";
import { loadPolicyEngine } from "../../src/policy/engine.ts";
import {
  createReloadingPolicyEngine,
  type ReloadEvent,
  type ReloadingPolicyEngine,
} from "../../src/policy/reloader.ts";
import { BUNDLE_PATH } from "../support/paths.ts";
import { rewriteBundle } from "./signing.ts";
import { ENGINEER_READS } from "../../../test/support/fixtures.ts";

const input: DecisionInput = ENGINEER_READS;

const tmp = mkdtempSync(join(tmpdir(), "zyx-reload-"));
const engines: ReloadingPolicyEngine[] = [];
const variants: PolicyVariant[] = [];
afterAll(() => {
  for (const engine of engines) engine.close();
  for (const variant of variants) variant.remove();
});

/** Replaces the live file the way a deployment does: write aside, then rename over it. */
function replace(live: string, from: string): void {
  const aside = `${live}.${String(Math.random()).slice(2)}.tmp`;
  copyFileSync(from, aside);
  renameSync(aside, live);
}

async function until(what: string, done: () => boolean, deadlineMs = 5_000): Promise<number> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > deadlineMs)
      throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return performance.now() - start;
}

async function liveEngine(name: string, initial?: string) {
  const live = join(tmp, name);
  if (initial !== undefined) copyFileSync(initial, live);
  const events: ReloadEvent[] = [];
  const engine = await createReloadingPolicyEngine({
    bundlePath: live,
    pollMs: 1_000,
    onEvent: (event) => events.push(event),
  });
  engines.push(engine);
  return { live, engine, events };
}

describe("policy hot reload", () => {
  it("serves a rebuilt signed bundle within 5 s, every call meanwhile decided", async () => {
    const variant = buildPolicyVariant((config) => {
      config["reload_test_marker"] = "v2";
    });
    variants.push(variant);
    const next = await loadPolicyEngine({ bundlePath: variant.bundle });
    expect(next.loadError).toBeNull();
    const { live, engine, events } = await liveEngine("rebuilt.tar.gz", BUNDLE_PATH);
    const first = engine.revision;
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    expect(next.revision).not.toBe(first);

    const failures: unknown[] = [];
    const revisions = new Set<string>();
    const calls = setInterval(() => {
      const outcome = engine.evaluate(input);
      if (outcome.ok) revisions.add(outcome.decision.policy_revision);
      else failures.push(outcome);
    }, 1);
    replace(live, variant.bundle);
    const tookMs = await until("the new revision serves", () => engine.revision === next.revision);
    // A call right after the swap (the interval's next tick may come after this check).
    const after = engine.evaluate(input);
    if (after.ok) revisions.add(after.decision.policy_revision);
    else failures.push(after);
    clearInterval(calls);
    expect(failures).toEqual([]);
    expect(revisions.has(next.revision ?? "")).toBe(true);
    expect(tookMs).toBeLessThan(5_000);
    expect(events.map((e) => [e.outcome, e.revision])).toEqual([
      ["loaded", first],
      ["loaded", next.revision],
    ]);
    expect(engine.status()).toMatchObject({ revision: next.revision, reloads: 1, failures: 0 });
    console.warn(`policy reload: live ${tookMs.toFixed(0)} ms after the rename`);
  });

  it("refuses a tampered replacement and keeps the previous revision serving", async () => {
    const tampered = await rewriteBundle(BUNDLE_PATH, join(tmp, "tampered-src.tar.gz"), (files) => {
      const data = files.get("data.json")?.toString() ?? "";
      files.set("data.json", Buffer.from(data.replace("grp-ai-devops-readonly", "grp-ai-users")));
      return files;
    });
    const { live, engine, events } = await liveEngine("tampered.tar.gz", BUNDLE_PATH);
    const serving = engine.revision;
    replace(live, tampered);
    await until("the refusal", () => engine.status().refused !== undefined);
    expect(engine.revision).toBe(serving);
    expect(engine.loadError).toBeNull();
    expect(engine.evaluate(input)).toMatchObject({
      ok: true,
      decision: { allow: true, policy_revision: serving },
    });
    expect(engine.status()).toMatchObject({
      revision: serving,
      failures: 1,
      refused: {
        code: "policy_bundle_signature_invalid",
        message: "data.json does not match its signed digest",
      },
    });
    expect(events.at(-1)).toMatchObject({
      outcome: "refused",
      revision: serving,
      code: "policy_bundle_signature_invalid",
    });
    // The good bundle back: served again, the refusal cleared.
    replace(live, BUNDLE_PATH);
    await engine.check();
    expect(engine.status().refused).toBeUndefined();
  });

  it("denies everything with no bundle at boot, then serves one that appears", async () => {
    const { live, engine } = await liveEngine("late.tar.gz");
    expect(engine.loadError?.code).toBe("policy_bundle_missing");
    expect(engine.evaluate(input)).toMatchObject({ ok: false, code: "policy_bundle_missing" });
    replace(live, BUNDLE_PATH);
    await until("the late bundle serves", () => engine.loadError === null);
    expect(engine.evaluate(input)).toMatchObject({ ok: true });
  });

  it("carries the kill-switch state over to the new revision", async () => {
    const variant = buildPolicyVariant((config) => {
      config["reload_test_marker"] = "v3";
    });
    variants.push(variant);
    const { live, engine } = await liveEngine("state.tar.gz", BUNDLE_PATH);
    const killSwitch = {
      all_writes: false,
      read_only_agents: [],
      connectors: [],
      users: [],
      workflows: [],
    };
    engine.setState({ kill_switch: { ...killSwitch, agents: ["change-reviewer"] } });
    const before = engine.revision;
    replace(live, variant.bundle);
    await until("the new revision serves", () => engine.revision !== before);
    expect(engine.evaluate(input)).toMatchObject({
      ok: true,
      decision: { allow: false, reasons: [{ code: "kill_switch_agent" }] },
    });
  });
});
