// A replica that adopted a shared kill-switch version its policy did not take retries the apply on
// its next sync; before, it kept deciding on the old state for good (found by a review).
import { describe, expect, it } from "vitest";
import type { KillSwitchStore } from "../../src/killswitch/port.ts";
import { createKillSwitch } from "../../src/killswitch/service.ts";
import type { StateFile } from "../../src/killswitch/store.ts";
import type { PolicyState } from "../../src/policy/decision.ts";
import { CATALOG_CONNECTORS } from "./support.ts";

/** Versions kept in memory, shared by every replica opened on it (as the PostgreSQL table). */
function sharedMemoryStore(rows: StateFile[]): KillSwitchStore {
  return {
    kind: "postgres",
    location: "memory table",
    shared: true,
    load: () => Promise.resolve(structuredClone(rows.at(-1))),
    save: (next) => {
      if (rows.some((r) => r.version === next.version)) return Promise.resolve(false);
      rows.push(structuredClone(next));
      return Promise.resolve(true);
    },
    ping: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

describe("a replica adopting another replica's version", () => {
  it("applies it again on the next sync when the policy did not take it the first time", async () => {
    const rows: StateFile[] = [];
    const replica = (applied: PolicyState[], fail: { apply: boolean }) =>
      createKillSwitch({
        store: sharedMemoryStore(rows),
        audit: () => undefined,
        apply: (state) => {
          if (fail.apply) throw new Error("policy server answered 500");
          applied.push(structuredClone(state));
        },
        connectors: CATALOG_CONNECTORS,
      });
    const aApplied: PolicyState[] = [];
    const bApplied: PolicyState[] = [];
    const bFail = { apply: false };
    const a = await replica(aApplied, { apply: false });
    const b = await replica(bApplied, bFail);

    await a.set("all_writes", undefined, { by: "admin", reason: "INC-1" });
    // Replica b's policy refuses the state once (a blip of its OPA)...
    bFail.apply = true;
    await expect(b.sync()).rejects.toThrow("policy server answered 500");
    bFail.apply = false;
    // ...then the sync loop runs again, as it does every 500 ms and on every NOTIFY.
    await b.sync();
    await b.sync();
    expect(b.state().applied_version).toBe(b.state().version);
    expect(bApplied.at(-1)?.kill_switch.all_writes).toBe(true);
  });
});
