// What a look from outside found (issue 16), each through the real app: a test per gap.
import { describe, expect, it } from "vitest";
import { createHarness, NOW_SEC, type Harness } from "../support/harness.ts";

const REMEDIATOR = {
  user: "cloud@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers", "grp-ai-devops-readonly"],
  agent: "change-remediator",
};
const APPROVER = {
  user: "approver.one@zyxbank.example",
  groups: ["grp-ai-prod-approvers"],
  agent: "approvals-console",
};
const ADMIN = {
  user: "secadmin@zyxbank.example",
  groups: ["grp-ai-security-admins"],
  agent: "admin-console",
};
const SG_CHANGE = {
  account: "111122223333",
  region: "ap-southeast-1",
  group_id: "sg-0a1b2c3d4e5f60718",
  change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
  change_ticket: "CHG-18422",
  rollback_plan: "Re-authorize the rule from the compensation handle.",
};

async function as(
  h: Harness,
  who: typeof APPROVER,
  checkedAt = NOW_SEC - 60,
): Promise<Record<string, string>> {
  return {
    authorization: `Bearer ${await h.accessToken(who)}`,
    "x-device-posture": await h.postureToken({ user: who.user, checkedAt }),
    "content-type": "application/json",
  };
}

async function pendingApproval(h: Harness): Promise<string> {
  const response = await h.callAs("aws_modify_security_group", SG_CHANGE, { as: REMEDIATOR });
  expect(response.status).toBe(202);
  return ((await response.json()) as { approval_id: string }).approval_id;
}

describe("1. people are held to posture freshness, as tool calls are", () => {
  for (const [label, checkedAt] of [
    ["checked 2 hours ago", NOW_SEC - 7_200],
    ["checked in 1970", 1],
  ] as const) {
    it(`an approver whose posture was ${label} cannot approve`, async () => {
      const h = await createHarness();
      const id = await pendingApproval(h);
      const response = await h.app.request(`/v1/approvals/${id}/approve`, {
        method: "POST",
        headers: await as(h, APPROVER, checkedAt),
      });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ code: "device_posture_stale" });
      const status = await h.app.request(`/v1/approvals/${id}`, { headers: await as(h, APPROVER) });
      expect(await status.json()).toMatchObject({ status: "pending", approvals: [] });
    });

    it(`an administrator whose posture was ${label} can neither read nor change the kill switch`, async () => {
      const h = await createHarness();
      const headers = await as(h, ADMIN, checkedAt);
      const read = await h.app.request("/v1/admin/kill-switch", { headers });
      expect(read.status).toBe(403);
      const set = await h.app.request("/v1/admin/kill-switch/all-writes", {
        method: "PUT",
        headers,
        body: JSON.stringify({ reason: "INC-1" }),
      });
      expect(set.status).toBe(403);
      expect(await set.json()).toMatchObject({ code: "device_posture_stale" });
      expect(h.controls.killSwitch.state().state.kill_switch.all_writes).toBe(false);
    });
  }

  it("a posture from the future is refused too", async () => {
    const h = await createHarness();
    const id = await pendingApproval(h);
    const response = await h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: await as(h, APPROVER, NOW_SEC + 3_600),
    });
    expect(response.status).toBeGreaterThanOrEqual(401);
    expect(response.status).toBeLessThanOrEqual(403);
  });

  it("a fresh posture still approves", async () => {
    const h = await createHarness();
    const id = await pendingApproval(h);
    const response = await h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: await as(h, APPROVER),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "approved" });
  });
});

describe("6. a __proto__ key is refused, not dropped", () => {
  it("inside the tool arguments: 400 arguments_invalid, the worker never called", async () => {
    const h = await createHarness();
    const response = await h.call(
      "jira_read",
      '{"arguments":{"ticket":"CHG-18422","__proto__":{"admin":true}},"session_id":"s"}',
      await as(h, {
        user: "engineer@zyxbank.example",
        groups: ["grp-ai-users", "grp-ai-devops-readonly"],
        agent: "change-reviewer",
      }),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      code: "arguments_invalid",
      issues: [{ path: "/__proto__", message: "unknown argument" }],
    });
    expect(h.workerCalls).toHaveLength(0);
  });

  it("nested in an argument object, and in the envelope", async () => {
    const h = await createHarness();
    const headers = await as(h, REMEDIATOR);
    const nested = await h.call(
      "aws_modify_security_group",
      JSON.stringify({ arguments: SG_CHANGE, session_id: "s" }).replace(
        '"change":{',
        '"change":{"__proto__":{"cidr":"10.0.0.0/8"},',
      ),
      headers,
    );
    expect(nested.status).toBe(400);
    expect(await nested.json()).toMatchObject({ code: "arguments_invalid" });
    const envelope = await h.call(
      "jira_read",
      '{"arguments":{"ticket":"CHG-18422"},"session_id":"s","__proto__":{"x":1}}',
      headers,
    );
    expect(envelope.status).toBe(400);
    expect(await envelope.json()).toMatchObject({ code: "request_malformed" });
  });
});
