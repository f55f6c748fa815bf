// Review: the console's list of "the open requests this person may decide" reads the 200 open
// requests with the soonest deadlines, every group's, and only then keeps this person's. Other
// groups' requests (post-hoc reviews are unbounded: a night of Slack and Jira writes) push a
// security-group change out of its approvers' list, and the page says nothing is waiting.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Browser, createConsoleHarness, pendingSecurityGroupChange } from "../console/support.ts";

describe("the approver console's list", () => {
  it("shows the security-group change to its approvers whatever other groups have open", async () => {
    const h = await createConsoleHarness();
    // Other approvers' queue: post-hoc reviews of the reviewer agent's writes, a minute older.
    h.clock.now -= 60_000;
    for (let i = 0; i < 200; i++) {
      await h.controls.approvals.request({
        tool: "slack_post_message",
        arguments: { channel: "devsecops-change-review", text: `summary ${String(i)}` },
        requester: {
          subject: "engineer@zyxbank.example",
          email: "engineer@zyxbank.example",
          groups: ["grp-ai-users", "grp-ai-devops-readonly"],
        },
        agent: "change-reviewer",
        session_id: `night-${String(i)}`,
        workflow: "change-review",
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
    h.clock.now += 60_000;
    const id = await pendingSecurityGroupChange(h);
    const browser = new Browser(h);
    await browser.signIn("approver.one@zyxbank.example");
    const list = await (await browser.get("/console/")).text();
    expect(list).toContain(id);
  }, 60_000);
});
