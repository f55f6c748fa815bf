// While the shared kill-switch store is lost, the gateway hands the policy its state with
// all_writes on (fail closed) and refuses every write, and audits it (store_lost, store_back).
// Replay rebuilds the kill switch from the logs only: without those records it would report the
// refusals as decisions the very bundle that made them would have allowed.
import { beforeAll, describe, expect, it } from "vitest";
import { replayDecisions } from "../../src/audit/replay.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import { BUNDLE_PATH } from "../support/paths.ts";

const COMMENT = { ticket: "CHG-18422", body: "AI security review: see findings." };

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.controls.killSwitch.setStoreLost(true);
  const refused = await h.callAs("jira_add_comment", COMMENT);
  expect(refused.status).toBe(403);
  await h.controls.killSwitch.setStoreLost(false);
  h.clock.now += 1_000;
  const allowed = await h.callAs("jira_add_comment", COMMENT);
  expect(allowed.status).toBe(200);
  await h.audit.close();
}, 60_000);

describe("replay while the kill-switch store was lost", () => {
  it("with the bundle that decided, every decision replays unchanged", async () => {
    const report = await replayDecisions(BUNDLE_PATH, [h.auditPath]);
    expect(report.decisions).toBe(2);
    expect(report.changes.map((c) => c.kinds)).toEqual([]);
  });
});
