// Review: the bound of calls waiting for approval (per user, per agent) reads the OPEN_SCAN (500)
// oldest open requests and only then drops post-hoc reviews. Post-hoc reviews stay open for days
// (approvals.review_seconds), so a user or an agent with 500 open reviews has every waiting
// request past the scan: the bound is never reached, and the same call is no longer reused.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createHarness, type Harness, REMEDIATOR } from "../support/harness.ts";
import { SG_CHANGE } from "../../../test/support/fixtures.ts";

const change = (port: string) => ({
  ...SG_CHANGE,
  change: { ...SG_CHANGE.change, port_range: port },
});

async function openReviews(h: Harness, count: number, requester = REMEDIATOR.user) {
  for (let i = 0; i < count; i++) {
    await h.controls.approvals.request({
      tool: "slack_post_message",
      arguments: { channel: "devsecops-change-review", text: `night summary ${String(i)}` },
      requester: { subject: requester, email: requester, groups: REMEDIATOR.groups },
      agent: REMEDIATOR.agent,
      session_id: `night-${String(i)}`,
      workflow: "change-remediation",
      policy_revision: "r1",
      risk_score: 4,
      approvers_required: 1,
      approver_groups: ["grp-ai-change-approvers"],
      fallback_groups: ["grp-ai-security-oncall"],
      decision_id: randomUUID(),
      trace_id: "0".repeat(32),
      mode: "post_hoc",
    });
  }
}

const ask = (h: Harness, args: Record<string, unknown>, who = REMEDIATOR) =>
  h.callAs("aws_modify_security_group", args, { as: who, sessionId: "s-remediate" });

describe("the bound of waiting requests with many open post-hoc reviews", () => {
  it("still refuses a user past their bound", async () => {
    const h = await createHarness({
      ports: () => ({ approvalPendingBounds: { perUser: 2, perAgent: 20 } }),
    });
    // Last night's reviews (the calls ran; the reviews stay open for days).
    h.clock.now -= 3_600_000;
    await openReviews(h, 500);
    h.clock.now += 3_600_000;
    expect((await ask(h, change("1001"))).status).toBe(202);
    expect((await ask(h, change("1002"))).status).toBe(202);
    const refused = await ask(h, change("1003"));
    expect(refused.status).toBe(429);
  }, 60_000);

  it("still answers the same call with the same request", async () => {
    const h = await createHarness();
    h.clock.now -= 3_600_000;
    await openReviews(h, 500);
    h.clock.now += 3_600_000;
    const first = (await (await ask(h, change("1001"))).json()) as { approval_id: string };
    const again = (await (await ask(h, change("1001"))).json()) as { approval_id: string };
    expect(again.approval_id).toBe(first.approval_id);
  }, 60_000);

  it("still refuses an agent past its bound, whoever the reviews were for", async () => {
    const h = await createHarness({
      ports: () => ({ approvalPendingBounds: { perUser: 5, perAgent: 1 } }),
    });
    h.clock.now -= 3_600_000;
    await openReviews(h, 500, "someone.else@zyxbank.example");
    h.clock.now += 3_600_000;
    expect((await ask(h, change("1001"))).status).toBe(202);
    const other = { ...REMEDIATOR, user: "cloud.two@zyxbank.example" };
    expect((await ask(h, change("1002"), other)).status).toBe(429);
  }, 60_000);
});
