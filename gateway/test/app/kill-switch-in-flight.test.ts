// The kill switch stops a call that was decided before it was set and has not reached the
// worker yet. Between the decision and the worker lie the decision record's durable write (an
// fsync), an approval's claim and a review's opening (PostgreSQL round trips): a switch set in
// that window, and answered "set" to the admin, must not see the call run after. The call is
// decided again under the state now applied: refused 403 policy_denied with the switch's
// reason, the worker never called, the outcome recorded "failed". A change that leaves the call
// allowed (another connector stopped) lets it run.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import type { GatewayPorts } from "../../src/pipeline/context.ts";
import { createHarness, type Harness } from "../support/harness.ts";

const SLACK = { channel: "devsecops-change-review", text: "CHG-18422 review posted" };

function records(h: Harness): { event: string; outcome?: { status?: string; code?: string } }[] {
  return readFileSync(h.auditPath, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { event: string });
}

/** An audit sink that runs `meanwhile` while the call's decision record is being written. */
function switchWhileRecording(meanwhile: (defaults: GatewayPorts) => Promise<unknown>) {
  return (defaults: GatewayPorts): Partial<GatewayPorts> => ({
    audit: {
      append: async (record: AuditRecordInput) => {
        if (record.event === "decision") await meanwhile(defaults);
        return defaults.audit.append(record);
      },
      healthy: () => defaults.audit.healthy(),
    },
  });
}

describe("a kill switch set between a call's decision and its execution", () => {
  it("refuses the call 403 with the switch's reason; the worker never runs it", async () => {
    const h = await createHarness({
      ports: switchWhileRecording((d) =>
        d.killSwitch.set("agent", "change-reviewer", {
          by: "secadmin@zyxbank.example",
          reason: "INC-77 runaway agent",
        }),
      ),
    });
    const response = await h.callAs("slack_post_message", SLACK);
    expect({ status: response.status, body: await response.json() }).toMatchObject({
      status: 403,
      body: {
        code: "policy_denied",
        detail:
          "the kill switch changed after this call was decided and the policy no longer allows it: nothing was executed",
        reasons: [expect.objectContaining({ code: "kill_switch_agent" })],
      },
    });
    expect(h.workerCalls).toEqual([]);
    const call = records(h).filter((r) => r.event === "decision" || r.event === "outcome");
    expect(call.map((r) => [r.event, r.outcome?.status, r.outcome?.code])).toEqual([
      ["decision", undefined, undefined],
      ["outcome", "failed", "policy_denied"],
    ]);
  });

  it("runs the call when the change does not concern it", async () => {
    const h = await createHarness({
      ports: switchWhileRecording((d) =>
        d.killSwitch.set("connector", "aws", {
          by: "secadmin@zyxbank.example",
          reason: "INC-78",
        }),
      ),
    });
    const response = await h.callAs("slack_post_message", SLACK);
    expect(response.status).toBe(200);
    expect(h.workerCalls.map((c) => c.call.tool)).toEqual(["slack_post_message"]);
  });
});
