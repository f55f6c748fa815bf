// What a look from outside found (issue 16), each through the real app: a test per gap.
import { describe, expect, it } from "vitest";
import { createRefusalRecorder } from "../../src/pipeline/refusals.ts";
import {
  createHarness,
  NOW_SEC,
  type Harness,
  REMEDIATOR,
  APPROVER,
  ADMIN,
  auditRecords as records,
} from "../support/harness.ts";
import { SG_CHANGE } from "../../../test/support/fixtures.ts";

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
  const response = await h.callAs("aws_modify_security_group", SG_CHANGE, {
    as: REMEDIATOR,
    sessionId: "s",
  });
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

describe("2. one user's refusals and requests are bounded to that user", () => {
  const change = (port: string) => ({
    ...SG_CHANGE,
    change: { ...SG_CHANGE.change, port_range: port },
  });
  const ask = async (h: Harness, args: Record<string, unknown>) =>
    h.callAs("aws_modify_security_group", args, { as: REMEDIATOR });
  const notices = (h: Harness) =>
    h.workerCalls.filter((c) => c.call.tool === "slack_post_message").length;

  it("the same call asked twice answers with the same request and tells the approvers once", async () => {
    const h = await createHarness();
    const first = await ask(h, SG_CHANGE);
    const second = await ask(h, SG_CHANGE);
    expect([first.status, second.status]).toEqual([202, 202]);
    const a = (await first.json()) as { approval_id: string; decision_id: string };
    const b = (await second.json()) as { approval_id: string; decision_id: string };
    expect(b.approval_id).toBe(a.approval_id);
    // Each call answers with its own decision, the one its audit records carry.
    expect(b.decision_id).not.toBe(a.decision_id);
    expect(second.headers.get("location")).toBe(`/v1/approvals/${a.approval_id}`);
    for (let i = 0; i < 50 && notices(h) < 1; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    expect(notices(h)).toBe(1);
    // A different change is a different request.
    const other = (await (await ask(h, change("3389"))).json()) as { approval_id: string };
    expect(other.approval_id).not.toBe(a.approval_id);
    await h.audit.close();
    const reused = records(h).filter(
      (r) => (r["details"] as { reused?: boolean } | undefined)?.reused === true,
    );
    expect(reused).toHaveLength(1);
    expect(reused[0]?.["decision_id"]).toBe(b.decision_id);
  });

  it("the same call from another session is another request (an approval is used where it was asked)", async () => {
    const h = await createHarness();
    const first = (await (await ask(h, SG_CHANGE)).json()) as { approval_id: string };
    const elsewhere = await h.callAs("aws_modify_security_group", SG_CHANGE, {
      as: REMEDIATOR,
      sessionId: "s-other",
    });
    expect(elsewhere.status).toBe(202);
    const second = (await elsewhere.json()) as { approval_id: string };
    expect(second.approval_id).not.toBe(first.approval_id);
  });

  it("a user over the bound of waiting requests gets 429, audited with an alert", async () => {
    const h = await createHarness({
      ports: () => ({ approvalPendingBounds: { perUser: 2, perAgent: 20 } }),
    });
    expect((await ask(h, change("1001"))).status).toBe(202);
    expect((await ask(h, change("1002"))).status).toBe(202);
    const refused = await ask(h, change("1003"));
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({
      code: "approvals_pending_limit",
      scope: "user",
      limit: 2,
    });
    expect(await h.controls.approvals.listOpen({ requesterSubject: REMEDIATOR.user })).toHaveLength(
      2,
    );
    await h.audit.close();
    expect(records(h)).toContainEqual(
      expect.objectContaining({
        event: "alert",
        details: { kind: "approval_request_spike", scope: "user", limit: 2 },
      }),
    );
  });

  it("an agent over its bound is refused for every user, counted across users", async () => {
    const h = await createHarness({
      ports: () => ({ approvalPendingBounds: { perUser: 5, perAgent: 1 } }),
    });
    expect((await ask(h, change("1001"))).status).toBe(202);
    const other = { ...REMEDIATOR, user: "cloud.two@zyxbank.example" };
    const refused = await h.callAs("aws_modify_security_group", change("1002"), { as: other });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ code: "approvals_pending_limit", scope: "agent" });
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

describe("3. every refusal of a verified caller leaves one audit record", () => {
  const ENGINEER = {
    user: "engineer@zyxbank.example",
    groups: ["grp-ai-users", "grp-ai-devops-readonly"],
    agent: "change-reviewer",
  };
  const refusals = (h: Harness) => records(h).filter((r) => r["event"] === "refusal");
  const refusalOf = (code: string): unknown =>
    expect.objectContaining({
      event: "refusal",
      outcome: expect.objectContaining({ code }) as unknown,
    });

  it("arguments the schema refused: one record, with who, the tool and what was sent", async () => {
    const h = await createHarness();
    const response = await h.callAs("jira_read", { ticket: "not a ticket" });
    expect(response.status).toBe(400);
    const records = refusals(h);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      user: { subject: ENGINEER.user },
      agent: "change-reviewer",
      tool: "jira_read",
      door: "rest",
      outcome: { status: "refused", code: "arguments_invalid", http_status: 400 },
      details: { route: "POST /v1/tools/jira_read", arguments: { ticket: "not a ticket" } },
    });
  });

  it("an AI agent's token trying to approve", async () => {
    const h = await createHarness();
    const id = await pendingApproval(h);
    const agentToken = { ...APPROVER, agent: "change-reviewer" };
    const response = await h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: await as(h, agentToken),
    });
    expect(response.status).toBe(403);
    expect(refusals(h)).toEqual([refusalOf("console_required")]);
    expect(refusals(h)[0]).toMatchObject({
      door: "people",
      details: { route: "POST /v1/approvals/:id/approve" },
    });
  });

  it("executing a request that is not approved, not yours, or for other arguments", async () => {
    const h = await createHarness();
    const id = await pendingApproval(h);
    const run = async (who: typeof REMEDIATOR, args: Record<string, unknown>) =>
      h.call(
        "aws_modify_security_group",
        { arguments: args, session_id: "s", approval_id: id },
        await as(h, who),
      );
    expect((await run(REMEDIATOR, SG_CHANGE)).status).toBe(409);
    const other = { ...REMEDIATOR, user: "cloud.two@zyxbank.example" };
    expect((await run(other, SG_CHANGE)).status).toBe(403);
    expect((await run(REMEDIATOR, { ...SG_CHANGE, region: "eu-west-1" })).status).toBe(409);
    expect(refusals(h)).toEqual([
      refusalOf("approval_not_approved"),
      refusalOf("approval_not_yours"),
      refusalOf("approval_arguments_mismatch"),
    ]);
  });

  it("a replay of an executed approval", async () => {
    const h = await createHarness();
    const id = await pendingApproval(h);
    const approve = await h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: await as(h, APPROVER),
    });
    expect(approve.status).toBe(200);
    const run = async () =>
      h.call(
        "aws_modify_security_group",
        { arguments: SG_CHANGE, session_id: "s", approval_id: id },
        await as(h, REMEDIATOR),
      );
    expect((await run()).status).toBe(200);
    expect((await run()).status).toBe(409);
    expect(refusals(h)).toEqual([refusalOf("approval_already_executed")]);
  });

  it("a non-administrator changing the kill switch", async () => {
    const h = await createHarness();
    const response = await h.app.request("/v1/admin/kill-switch/all-writes", {
      method: "PUT",
      headers: await as(h, { ...APPROVER, agent: "admin-console" }),
      body: JSON.stringify({ reason: "x" }),
    });
    expect(response.status).toBe(403);
    expect(refusals(h)).toEqual([refusalOf("admin_forbidden")]);
  });

  it("a refusal the step already recorded is not recorded twice", async () => {
    const h = await createHarness();
    const intern = { ...ENGINEER, user: "intern@zyxbank.example", groups: ["grp-ai-users"] };
    expect((await h.callAs("jira_read", { ticket: "CHG-18422" }, { as: intern })).status).toBe(403);
    expect(refusals(h)).toEqual([]);
  });

  it("unauthenticated refusals are counted, not recorded", async () => {
    const counted = createRefusalRecorder({
      audit: { append: () => Promise.reject(new Error("must not be called")) },
      now: Date.now,
      log: () => undefined,
    });
    const h = await createHarness({ refusals: counted });
    await h.call("jira_read", { arguments: { ticket: "CHG-18422" }, session_id: "s" });
    await h.app.request("/v1/admin/kill-switch", { headers: { authorization: "Bearer nope" } });
    expect(counted.unauthenticatedCounts()).toEqual({ token_missing: 1, token_invalid: 1 });
  });
});

describe("4. one normal form for an identity, wherever it is matched", () => {
  const ENGINEER = {
    user: "engineer@zyxbank.example",
    groups: ["grp-ai-users", "grp-ai-devops-readonly"],
    agent: "change-reviewer",
  };
  const setUser = async (h: Harness, value: string) =>
    h.app.request("/v1/admin/kill-switch/user", {
      method: "PUT",
      headers: await as(h, ADMIN),
      body: JSON.stringify({ value, reason: "INC-4" }),
    });

  it("a kill switch set for Engineer@ZYXBANK.example stops engineer@zyxbank.example", async () => {
    const h = await createHarness();
    const set = await setUser(h, "Engineer@ZYXBANK.example");
    expect(set.status).toBe(200);
    // As spelled (a subject spelled so) and in normal form (the verified email claim).
    expect(h.controls.killSwitch.state().state.kill_switch.users).toEqual([
      "Engineer@ZYXBANK.example",
      "engineer@zyxbank.example",
    ]);
    const call = await h.callAs("jira_read", { ticket: "CHG-18422" }, { as: ENGINEER });
    expect(call.status).toBe(403);
    expect(await call.json()).toMatchObject({ reasons: [{ code: "kill_switch_user" }] });
  });

  it("a token whose email differs only in case is stopped too", async () => {
    const h = await createHarness();
    expect((await setUser(h, "engineer@zyxbank.example")).status).toBe(200);
    const shouting = { ...ENGINEER, user: "ENGINEER@ZyxBank.Example" };
    const call = await h.callAs("jira_read", { ticket: "CHG-18422" }, { as: shouting });
    expect(call.status).toBe(403);
  });

  it.each([
    ["a directory-style subject (no top-level domain)", "jdoe@zyxbank"],
    ["an internationalised address", "müller@zyxbank.example"],
    ["a subject no e-mail syntax accepts", "someone@@zyxbank"],
  ])("names every user the gateway lets in: %s", async (_label, subject) => {
    const h = await createHarness();
    const who = { ...ENGINEER, user: subject };
    expect((await h.callAs("jira_read", { ticket: "CHG-18422" }, { as: who })).status).toBe(200);
    expect((await setUser(h, subject)).status).toBe(200);
    const call = await h.callAs("jira_read", { ticket: "CHG-18422" }, { as: who });
    expect(call.status).toBe(403);
    expect(await call.json()).toMatchObject({ reasons: [{ code: "kill_switch_user" }] });
  });

  it("a user value with control characters or surrounding whitespace is refused, not stored", async () => {
    const h = await createHarness();
    for (const value of [" engineer@zyxbank.example", "eng\u0000ineer"]) {
      const set = await setUser(h, value);
      expect(set.status).toBe(400);
      expect(await set.json()).toMatchObject({ code: "kill_switch_value_invalid" });
    }
    expect(h.controls.killSwitch.state().state.kill_switch.users).toEqual([]);
  });
});
