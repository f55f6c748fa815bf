// Issue 6's runtime controls through the real gateway: call limits (429 + Retry-After, audited),
// the automatic suspension of a runaway agent, and the kill switch's admin API applying to the
// very next call without a restart.
import { describe, expect, it } from "vitest";
import { DEV_ISSUER, GATEWAY_AUDIENCE } from "../../../common/keys.ts";
import { mintDelegatedAccessToken } from "../../../idp/src/mint.ts";
import {
  createHarness,
  ENGINEER,
  type Harness,
  ADMIN,
  auditRecords as records,
} from "../support/harness.ts";

const SLACK = { channel: "devsecops-change-review", text: "CHG-18422 review posted" };
const INTERN = { user: "intern@zyxbank.example", groups: ["grp-ai-users"] };
async function admin(
  h: Harness,
  method: "PUT" | "DELETE",
  scope: string,
  body: Record<string, unknown>,
  who = ADMIN,
) {
  return h.app.request(`/v1/admin/kill-switch/${scope}`, {
    method,
    headers: {
      authorization: `Bearer ${await h.accessToken(who)}`,
      "x-device-posture": await h.postureToken({ user: who.user }),
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
}

describe("call limits", () => {
  it("refuses the call over the tool's limit with 429 and Retry-After, audited, worker not called", async () => {
    const h = await createHarness();
    for (let i = 0; i < 10; i++)
      expect((await h.callAs("slack_post_message", SLACK)).status).toBe(200);
    const response = await h.callAs("slack_post_message", SLACK);
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("60");
    expect(await response.json()).toMatchObject({
      code: "rate_limited",
      scope: "tool",
      limit: 10,
      window_seconds: 60,
      retry_after: 60,
    });
    expect(h.workerCalls).toHaveLength(10);
    // Other tools are not limited by it.
    expect((await h.callAs("jira_read", { ticket: "CHG-18422" })).status).toBe(200);
    await h.audit.close();
    expect(
      records(h).filter(
        (r) =>
          r["outcome"] !== undefined &&
          (r["outcome"] as { status: string }).status === "rate_limited",
      ),
    ).toHaveLength(1);
  });
});

describe("automatic suspension", () => {
  const PROD_READ = { account: "777788889999", region: "ap-southeast-1" };
  const suspended = async (h: Harness) => {
    // The monitor works off the request path: give it time to act before looking.
    for (let i = 0; i < 50 && !h.controls.killSwitch.state().state.kill_switch.agents.length; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return h.controls.killSwitch.state().state.kill_switch.agents;
  };

  it("suspends an agent after 10 denials about the agent in 5 minutes, writes an alert, and blocks its next call", async () => {
    const h = await createHarness();
    for (let i = 0; i < 10; i++) {
      const denied = await h.callAs("aws_dev_read", PROD_READ);
      expect(denied.status).toBe(403);
      const { reasons } = (await denied.json()) as { reasons: { code: string }[] };
      expect(reasons.map((r) => r.code)).toContain("account_not_allowed");
    }
    expect(await suspended(h)).toEqual(["change-reviewer"]);
    const blocked = await h.callAs("jira_read", { ticket: "CHG-18422" });
    expect(blocked.status).toBe(403);
    expect(await blocked.json()).toMatchObject({ reasons: [{ code: "kill_switch_agent" }] });
    await h.audit.close();
    expect(records(h)).toContainEqual(
      expect.objectContaining({
        event: "alert",
        kind: "agent_suspended",
        agent: "change-reviewer",
        count: 10,
      }),
    );
    expect(records(h)).toContainEqual(expect.objectContaining({ event: "kill_switch" }));
  });

  it("does not let one user's refusals about their own rights switch the agent off for everyone", async () => {
    const h = await createHarness();
    for (let i = 0; i < 12; i++) {
      const denied = await h.callAs("jira_read", { ticket: "CHG-18422" }, { as: INTERN });
      expect(denied.status).toBe(403);
      expect(await denied.json()).toMatchObject({ reasons: [{ code: "user_not_in_group" }] });
    }
    expect(await suspended(h)).toEqual([]);
    // Another user of the agent is served, and the intern's refusals did not raise their risk.
    const served = await h.callAs("jira_read", { ticket: "CHG-18422" });
    expect(served.status).toBe(200);
    await h.audit.close();
    const decisions = records(h).filter((r) => r["event"] === "decision");
    const by = (who: string) =>
      decisions.filter((r) => (r["user"] as { email?: string } | undefined)?.email === who);
    const engineers = by(ENGINEER.user);
    expect(engineers).toHaveLength(1);
    const input = engineers[0]?.["decision_input"] as { context: { recent_denials: number } };
    expect(input.context.recent_denials).toBe(0);
    const interns = by(INTERN.user);
    const last = interns.at(-1)?.["decision_input"] as { context: { recent_denials: number } };
    expect(last.context.recent_denials).toBe(11);
    expect(records(h).filter((r) => r["kind"] === "agent_suspended")).toEqual([]);
  });
});

describe("kill switch through the admin API", () => {
  it("puts an agent in read-only mode for the very next call, and only its writes", async () => {
    const h = await createHarness();
    const set = await admin(h, "PUT", "read-only", {
      value: "change-reviewer",
      reason: "incident INC-42",
    });
    expect(set.status).toBe(200);
    const write = await h.callAs("slack_post_message", SLACK);
    expect(write.status).toBe(403);
    expect(await write.json()).toMatchObject({ reasons: [{ code: "read_only_mode" }] });
    expect((await h.callAs("jira_read", { ticket: "CHG-18422" })).status).toBe(200);

    const cleared = await admin(h, "DELETE", "read-only", {
      value: "change-reviewer",
      reason: "incident closed",
    });
    expect(cleared.status).toBe(200);
    expect((await h.callAs("slack_post_message", SLACK)).status).toBe(200);
  });

  it("stops a user named by an e-mail in any spelling: as the token subject, and as its email claim", async () => {
    const h = await createHarness();
    const spelled = "J.Doe@ZYXBank.example"; // a UPN-style subject: opaque, compared exactly
    const bySubject = await mintDelegatedAccessToken({
      privateJwk: h.keys.idp,
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      subject: spelled, // and no email claim
      groups: ENGINEER.groups,
      actor: ENGINEER.agent,
      clientId: "harness",
      ttlSec: 300,
      now: Math.floor(h.clock.now / 1000),
    });
    const byEmail = await h.accessToken({ user: "u-7f3a", email: "j.doe@zyxbank.example" });
    const read = async ([token, user]: readonly [string, string]) =>
      h.call(
        "jira_read",
        { arguments: { ticket: "CHG-18422" }, session_id: "s-ks" },
        { authorization: `Bearer ${token}`, "x-device-posture": await h.postureToken({ user }) },
      );
    expect((await admin(h, "PUT", "user", { value: spelled, reason: "INC-77" })).status).toBe(200);
    const callers = [
      [bySubject, spelled],
      [byEmail, "u-7f3a"],
    ] as const;
    for (const caller of callers) {
      const refused = await read(caller);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ reasons: [{ code: "kill_switch_user" }] });
    }
    expect((await admin(h, "DELETE", "user", { value: spelled, reason: "done" })).status).toBe(200);
    expect(h.controls.killSwitch.state().state.kill_switch.users).toEqual([]);
    for (const caller of callers) expect((await read(caller)).status).toBe(200);
  });

  it("refuses a non-admin and changes nothing", async () => {
    const h = await createHarness();
    const before = h.controls.killSwitch.state().version;
    const response = await admin(
      h,
      "PUT",
      "all-writes",
      { reason: "let me" },
      { ...ENGINEER, agent: "admin-console" },
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "admin_forbidden" });
    expect(h.controls.killSwitch.state().version).toBe(before);
    expect((await h.callAs("slack_post_message", SLACK)).status).toBe(200);
  });

  it("refuses an admin without a token", async () => {
    const h = await createHarness();
    const response = await h.app.request("/v1/admin/kill-switch", { method: "GET" });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="zyx-agent-gateway"');
  });
});

describe("a disabled administrator", () => {
  it("cannot lift their own kill switch, by email or by subject, nor change anything else", async () => {
    const h = await createHarness();
    const secondAdmin = { ...ADMIN, user: "u-5e1d", email: "secadmin2@zyxbank.example" };
    const otherAdmin = { ...ADMIN, user: "secadmin3@zyxbank.example" };
    for (const [disabled, who] of [
      [ADMIN.user, ADMIN],
      [secondAdmin.email, secondAdmin],
      [secondAdmin.user, secondAdmin],
    ] as const) {
      await h.controls.killSwitch.set("user", disabled, {
        by: "other@zyxbank.example",
        reason: "x",
      });
      const version = h.controls.killSwitch.state().version;
      for (const [method, scope, body] of [
        ["DELETE", "user", { value: disabled, reason: "let me back in" }],
        ["PUT", "all-writes", { reason: "and stop everyone" }],
      ] as const) {
        const response = await admin(h, method, scope, body, who);
        expect(response.status).toBe(403);
        expect(await response.json()).toMatchObject({
          code: "admin_forbidden",
          detail: "the administrator is disabled by the kill switch",
        });
      }
      expect(h.controls.killSwitch.state().version).toBe(version);
      expect(h.controls.killSwitch.state().state.kill_switch.users).toEqual([disabled]);
      // Another administrator can.
      const cleared = await admin(
        h,
        "DELETE",
        "user",
        { value: disabled, reason: "restored" },
        otherAdmin,
      );
      expect(cleared.status).toBe(200);
    }
  });
});

describe("the admin API is for people", () => {
  it("refuses an AI agent's token acting for a security admin", async () => {
    const h = await createHarness();
    await h.controls.killSwitch.set("agent", "change-reviewer", {
      by: "secadmin@zyxbank.example",
      reason: "incident",
    });
    const response = await admin(
      h,
      "DELETE",
      "agent",
      { value: "change-reviewer", reason: "let me out" },
      {
        ...ADMIN,
        agent: "change-reviewer",
      },
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "console_required" });
    expect(h.controls.killSwitch.state().state.kill_switch.agents).toEqual(["change-reviewer"]);
  });
});

describe("denials the kill switch itself causes", () => {
  it("an agent put in read-only mode is not suspended outright for the writes it keeps trying", async () => {
    const h = await createHarness();
    const set = await admin(h, "PUT", "read-only", { value: "change-reviewer", reason: "INC-42" });
    expect(set.status).toBe(200);
    for (let i = 0; i < 10; i++) {
      const write = await h.callAs("slack_post_message", SLACK);
      expect(write.status).toBe(403);
      expect(await write.json()).toMatchObject({
        reasons: expect.arrayContaining([
          expect.objectContaining({ code: "read_only_mode" }),
        ]) as unknown,
      });
    }
    // Give the (unawaited) denial monitor time to act.
    await new Promise((r) => setTimeout(r, 300));
    expect(h.controls.killSwitch.state().state.kill_switch.agents).toEqual([]);
    // Read-only means reads go on.
    expect((await h.callAs("jira_read", { ticket: "CHG-18422" })).status).toBe(200);
  });

  it("an all-writes stop does not leave every agent that tried a write suspended after it is lifted", async () => {
    const h = await createHarness();
    expect((await admin(h, "PUT", "all-writes", { reason: "INC-43" })).status).toBe(200);
    for (let i = 0; i < 10; i++) {
      expect((await h.callAs("slack_post_message", SLACK)).status).toBe(403);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect((await admin(h, "DELETE", "all-writes", { reason: "INC-43 closed" })).status).toBe(200);
    expect(h.controls.killSwitch.state().state.kill_switch.agents).toEqual([]);
    expect((await h.callAs("jira_read", { ticket: "CHG-18422" })).status).toBe(200);
  });
});
