// Review: a user refused on who they are (not in the tool's groups, disabled by the kill switch,
// on an unmanaged device) must not be able to switch the agent off for everyone by adding an
// argument the policy also refuses: their refusal is about them, not about the agent.
import { describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../support/harness.ts";

const INTERN = { user: "intern@zyxbank.example", groups: ["grp-ai-users"] };
const PROD_READ = { account: "777788889999", region: "ap-southeast-1" };

async function suspendedAgents(h: Harness): Promise<string[]> {
  for (let i = 0; i < 50; i++) {
    if (h.controls.killSwitch.state().state.kill_switch.agents.length > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return [...h.controls.killSwitch.state().state.kill_switch.agents];
}

describe("denial monitor: refusals about the user never suspend the agent", () => {
  it("an intern with no rights to the tool cannot suspend change-reviewer for everyone", async () => {
    const h = await createHarness();
    for (let i = 0; i < 10; i++) {
      const denied = await h.callAs("aws_dev_read", PROD_READ, { as: INTERN });
      expect(denied.status).toBe(403);
      const { reasons } = (await denied.json()) as { reasons: { code: string }[] };
      expect(reasons.map((r) => r.code)).toContain("user_not_in_group");
    }
    expect(await suspendedAgents(h)).toEqual([]);
    // The engineer still gets served by the agent.
    expect((await h.callAs("jira_read", { ticket: "CHG-18422" })).status).toBe(200);
  });

  it("a user on an unmanaged device cannot suspend the agent either", async () => {
    const h = await createHarness();
    for (let i = 0; i < 10; i++) {
      const denied = await h.callAs("aws_dev_read", PROD_READ, { compliant: false });
      expect(denied.status).toBe(403);
      const { reasons } = (await denied.json()) as { reasons: { code: string }[] };
      expect(reasons.map((r) => r.code)).toContain("device_not_compliant");
    }
    expect(await suspendedAgents(h)).toEqual([]);
  });

  it("a user the kill switch disabled cannot suspend the agent either", async () => {
    const h = await createHarness();
    await h.controls.killSwitch.set("user", "engineer@zyxbank.example", {
      by: "secadmin@zyxbank.example",
      reason: "INC-7",
    });
    for (let i = 0; i < 10; i++) {
      const denied = await h.callAs("aws_dev_read", PROD_READ);
      expect(denied.status).toBe(403);
      const { reasons } = (await denied.json()) as { reasons: { code: string }[] };
      expect(reasons.map((r) => r.code)).toContain("kill_switch_user");
    }
    expect(await suspendedAgents(h)).toEqual([]);
  });
});
