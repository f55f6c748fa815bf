// Human approval through the real gateway, worker and policy, on both storage back ends:
// a call that needs approval waits (202), approvers act with their own verified identity, and
// the approved call runs exactly once with exactly the approved arguments, after the policy
// decides again.
import { readFileSync } from "node:fs";
import { Pool } from "pg";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import type { ApprovalStoreConfig } from "../../src/approvals/store.ts";
import { createHarness, type Harness, REMEDIATOR } from "../support/harness.ts";
import { SG_CHANGE } from "../../../test/support/fixtures.ts";

const APPROVER_1 = {
  user: "approver.one@zyxbank.example",
  groups: ["grp-ai-prod-approvers"],
  agent: "approvals-console",
};
const APPROVER_2 = {
  user: "approver.two@zyxbank.example",
  groups: ["grp-ai-prod-approvers"],
  agent: "approvals-console",
};
const ONCALL = {
  user: "oncall@zyxbank.example",
  groups: ["grp-ai-security-oncall"],
  agent: "approvals-console",
};
const OUTSIDER = {
  user: "dev@zyxbank.example",
  groups: ["grp-ai-devops-readonly"],
  agent: "approvals-console",
};

type Who = typeof REMEDIATOR;

let postgres: PrivatePostgres | undefined;
let schemas = 0;

const backEnds: [string, () => Promise<ApprovalStoreConfig | undefined>][] = [
  ["SQLite", () => Promise.resolve(undefined)],
  [
    "PostgreSQL",
    async () => {
      postgres ??= await startPostgres();
      const schema = `gateway_${String(++schemas)}`;
      const pool = new Pool({ connectionString: postgres.connectionString });
      await pool.query(`CREATE SCHEMA ${schema}`);
      await pool.end();
      return {
        kind: "postgres",
        connectionString: postgres.urlFor(postgres.database, { searchPath: schema }),
      };
    },
  ],
];

afterAll(async () => {
  await postgres?.stop();
});

describe.each(backEnds)("approvals through the gateway on %s", (_name, storeConfig) => {
  let h: Harness;
  // A fresh gateway per test: each starts under the security-group change's call limit.
  beforeEach(async () => {
    const config = await storeConfig();
    h = await createHarness(config === undefined ? {} : { approvalStore: config });
  });

  const request = async (args = SG_CHANGE, session = "s-remediate") => {
    const response = await h.callAs("aws_modify_security_group", args, {
      as: REMEDIATOR,
      sessionId: session,
    });
    expect(response.status).toBe(202);
    return (await response.json()) as {
      approval_id: string;
      approvers_required: number;
      status: string;
    };
  };
  const act = async (
    id: string,
    verb: "approve" | "deny",
    who: Who,
    body: unknown = {},
    compliant = true,
  ) =>
    h.app.request(`/v1/approvals/${id}/${verb}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken(who)}`,
        "x-device-posture": await h.postureToken({ user: who.user, compliant }),
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });
  const run = async (
    id: string,
    args: Record<string, unknown> = SG_CHANGE,
    session = "s-remediate",
  ) =>
    h.call(
      "aws_modify_security_group",
      { arguments: args, session_id: session, approval_id: id },
      {
        authorization: `Bearer ${await h.accessToken(REMEDIATOR)}`,
        "x-device-posture": await h.postureToken({ user: REMEDIATOR.user }),
      },
    );
  const calls = () =>
    h.workerCalls.filter((c) => c.call.tool === "aws_modify_security_group").length;

  it("one approval, then the call runs exactly once with exactly the approved arguments", async () => {
    const before = calls();
    const pending = await request();
    expect(pending).toMatchObject({ status: "pending", approvers_required: 1 });
    expect(calls()).toBe(before);

    // The approvers hear of it in their Slack channel, through the worker's Slack connector.
    for (
      let i = 0;
      i < 50 && !h.workerCalls.some((c) => c.call.tool === "slack_post_message");
      i++
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(
      h.workerCalls.find((c) => c.call.tool === "slack_post_message")?.call.arguments,
    ).toMatchObject({
      channel: "devsecops-approvals",
      // Block Kit, and a plain-text fallback that names the request's console page.
      text: expect.stringContaining(`/console/requests/${pending.approval_id}`) as unknown,
      blocks: expect.arrayContaining([expect.objectContaining({ type: "header" })]) as unknown,
    });

    const approved = await act(pending.approval_id, "approve", APPROVER_1);
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: "approved" });

    const ran = await run(pending.approval_id);
    expect(ran.status).toBe(200);
    expect(await ran.json()).toMatchObject({ result: { group_id: SG_CHANGE.group_id } });
    expect(calls()).toBe(before + 1);

    const replayed = await run(pending.approval_id);
    expect(replayed.status).toBe(409);
    expect(await replayed.json()).toMatchObject({ code: "approval_already_executed" });
    expect(calls()).toBe(before + 1);
  });

  it("refuses changed arguments for an approved request", async () => {
    const pending = await request();
    expect((await act(pending.approval_id, "approve", APPROVER_1)).status).toBe(200);
    const other = { ...SG_CHANGE, change: { ...SG_CHANGE.change, port_range: "3389" } };
    const before = calls();
    const response = await run(pending.approval_id, other);
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ code: "approval_arguments_mismatch" });
    expect(calls()).toBe(before);
  });

  it("refuses an approved request executed in another session than the one it was asked in", async () => {
    const pending = await request();
    expect((await act(pending.approval_id, "approve", APPROVER_1)).status).toBe(200);
    const before = calls();
    const response = await run(pending.approval_id, SG_CHANGE, "s-elsewhere");
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: "approval_not_yours",
      detail: "the approval was requested in another session",
    });
    expect(calls()).toBe(before);
    // Still usable, once, where it was asked for.
    expect((await run(pending.approval_id)).status).toBe(200);
  });

  it("needs two distinct approvers at risk 8 to 10", async () => {
    // A read of the injection ticket taints the session: the change then scores 8.
    const read = await h.callAs(
      "jira_read",
      { ticket: "CHG-18433" },
      { as: REMEDIATOR, sessionId: "s-tainted" },
    );
    expect(read.status).toBe(200);
    const pending = await request(SG_CHANGE, "s-tainted");
    expect(pending.approvers_required).toBe(2);
    expect((await act(pending.approval_id, "approve", APPROVER_1)).status).toBe(200);
    const again = await act(pending.approval_id, "approve", APPROVER_1);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: "approver_already_approved" });
    const early = await run(pending.approval_id, SG_CHANGE, "s-tainted");
    expect(early.status).toBe(409);
    expect(await early.json()).toMatchObject({ code: "approval_not_approved" });
    const second = await act(pending.approval_id, "approve", APPROVER_2);
    expect(await second.json()).toMatchObject({ status: "approved" });
    expect((await run(pending.approval_id, SG_CHANGE, "s-tainted")).status).toBe(200);
  });

  it("refuses self-approval and approvers outside the groups, and a non-compliant device", async () => {
    const pending = await request();
    const self = await act(pending.approval_id, "approve", {
      ...REMEDIATOR,
      agent: "approvals-console",
      groups: [...REMEDIATOR.groups, "grp-ai-prod-approvers"],
    });
    expect(self.status).toBe(403);
    expect(await self.json()).toMatchObject({ code: "approver_is_requester" });
    const outsider = await act(pending.approval_id, "approve", OUTSIDER);
    expect(outsider.status).toBe(403);
    expect(await outsider.json()).toMatchObject({ code: "approver_not_eligible" });
    const unmanaged = await act(pending.approval_id, "approve", APPROVER_1, {}, false);
    expect(unmanaged.status).toBe(403);
    expect(await unmanaged.json()).toMatchObject({ code: "approver_device_not_compliant" });
    const fallbackTooEarly = await act(pending.approval_id, "approve", ONCALL);
    expect(fallbackTooEarly.status).toBe(403);
  });

  it("ends with a denial by any approver; the call never runs", async () => {
    const pending = await request();
    const denied = await act(pending.approval_id, "deny", APPROVER_2, {
      reason: "no change window",
    });
    expect(await denied.json()).toMatchObject({
      status: "denied",
      denial: { reason: "no change window" },
    });
    const before = calls();
    const response = await run(pending.approval_id);
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ code: "approval_not_approved" });
    expect(calls()).toBe(before);
  });

  it("escalates once to the fallback group on timeout, then expires", async () => {
    const escalating = await request();
    // A different change (the same one again would reuse the waiting request).
    const expiring = await request({
      ...SG_CHANGE,
      change: { ...SG_CHANGE.change, port_range: "3389" },
    });
    // Let both notifications reach the worker before the clock jumps past their call tokens.
    const slack = () => h.workerCalls.filter((c) => c.call.tool === "slack_post_message").length;
    for (let i = 0; i < 50 && slack() < 2; i++) await new Promise((r) => setTimeout(r, 10));
    h.clock.now += 301_000;
    await h.controls.approvals.sweep();
    const status = await h.app.request(`/v1/approvals/${escalating.approval_id}`, {
      headers: {
        authorization: `Bearer ${await h.accessToken(REMEDIATOR)}`,
        "x-device-posture": await h.postureToken({ user: REMEDIATOR.user }),
      },
    });
    expect(await status.json()).toMatchObject({ status: "escalated" });
    expect(await (await act(escalating.approval_id, "approve", ONCALL)).json()).toMatchObject({
      status: "approved",
    });

    h.clock.now += 301_000;
    await h.controls.approvals.sweep();
    const late = await act(expiring.approval_id, "approve", ONCALL);
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ code: "approval_not_open" });
    expect((await h.controls.approvals.get(expiring.approval_id))?.status).toBe("expired");
  });

  it("decides again at execution time: an approved call is refused when the policy now denies", async () => {
    const pending = await request();
    expect((await act(pending.approval_id, "approve", APPROVER_1)).status).toBe(200);
    await h.controls.killSwitch.set("all_writes", undefined, {
      by: "secadmin@zyxbank.example",
      reason: "incident",
    });
    const before = calls();
    const response = await run(pending.approval_id);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ reasons: [{ code: "kill_switch_all_writes" }] });
    expect(calls()).toBe(before);
    await h.controls.killSwitch.clear("all_writes", undefined, {
      by: "secadmin@zyxbank.example",
      reason: "over",
    });
  });
});

describe("approvals are for people", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });
  const pendingChange = async (args: Record<string, unknown> = SG_CHANGE) => {
    const response = await h.callAs("aws_modify_security_group", args, {
      as: REMEDIATOR,
      sessionId: "s-people",
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { approval_id: string }).approval_id;
  };
  const approve = async (id: string, who: Who) =>
    h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken(who)}`,
        "x-device-posture": await h.postureToken({ user: who.user }),
      },
    });

  it("refuses an AI agent's token, even one acting for an approver", async () => {
    const id = await pendingChange();
    const response = await approve(id, { ...APPROVER_1, agent: "change-reviewer" });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: "console_required",
      detail: "change-reviewer is not a human console: an agent cannot approve or administer",
    });
    expect((await h.controls.approvals.get(id))?.status).toBe("pending");
  });

  it("refuses identities beyond the bounds at the door (401), for approvers and requesters alike", async () => {
    const id = await pendingChange();
    const odd = { ...APPROVER_1, groups: [...APPROVER_1.groups, ""] };
    const response = await approve(id, odd);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: "token_invalid" });
    expect((await h.controls.approvals.get(id))?.status).toBe("pending");
    const lines = () => readFileSync(h.auditPath, "utf8").split("\n").length;
    const before = lines();
    const asked = await h.callAs("aws_modify_security_group", SG_CHANGE, {
      as: { ...REMEDIATOR, groups: [...REMEDIATOR.groups, "g".repeat(257)] },
      sessionId: "s-people",
    });
    expect(asked.status).toBe(401);
    expect(await asked.json()).toMatchObject({ code: "token_invalid" });
    // Nothing decided, nothing recorded (an unauthenticated refusal is counted, not recorded).
    expect(lines()).toBe(before);
  });

  it("refuses an approver disabled by the kill switch", async () => {
    const id = await pendingChange();
    await h.controls.killSwitch.set("user", APPROVER_1.user, {
      by: "secadmin@zyxbank.example",
      reason: "left",
    });
    const response = await approve(id, APPROVER_1);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "approver_not_eligible" });
  });

  it("does not count an approval once the kill switch names its approver by email (opaque sub)", async () => {
    const approver = { ...APPROVER_1, user: "u-7f3a9c", email: APPROVER_1.user };
    const id = await pendingChange();
    const approved = await h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken(approver)}`,
        "x-device-posture": await h.postureToken({ user: approver.user }),
      },
    });
    expect(approved.status).toBe(200);
    await h.controls.killSwitch.set("user", APPROVER_1.user, {
      by: "secadmin@zyxbank.example",
      reason: "account compromised",
    });
    const before = h.workerCalls.length;
    const response = await h.call(
      "aws_modify_security_group",
      { arguments: SG_CHANGE, session_id: "s-people", approval_id: id },
      {
        authorization: `Bearer ${await h.accessToken(REMEDIATOR)}`,
        "x-device-posture": await h.postureToken({ user: REMEDIATOR.user }),
      },
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "approval_required" });
    expect(h.workerCalls.length).toBe(before);
  });

  it("refuses an approval used after the approvers' window", async () => {
    const id = await pendingChange();
    expect((await approve(id, APPROVER_1)).status).toBe(200);
    h.clock.now += 301_000;
    const late = await h.call(
      "aws_modify_security_group",
      { arguments: SG_CHANGE, session_id: "s-people", approval_id: id },
      {
        authorization: `Bearer ${await h.accessToken(REMEDIATOR)}`,
        "x-device-posture": await h.postureToken({ user: REMEDIATOR.user }),
      },
    );
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({
      code: "approval_not_open",
      detail: "the approval is too old to use: ask again",
    });
  });

  it("tells the approvers through Slack, audited, unless the kill switch stops Slack", async () => {
    await h.controls.killSwitch.set("connector", "slack", {
      by: "secadmin@zyxbank.example",
      reason: "slack incident",
    });
    await pendingChange();
    await new Promise((r) => setTimeout(r, 100));
    expect(h.workerCalls.filter((c) => c.call.tool === "slack_post_message")).toEqual([]);
    await h.controls.killSwitch.clear("connector", "slack", {
      by: "secadmin@zyxbank.example",
      reason: "over",
    });
    // Another change: the same call again would reuse the waiting request and tell no one.
    await pendingChange({ ...SG_CHANGE, change: { ...SG_CHANGE.change, port_range: "3389" } });
    for (
      let i = 0;
      i < 50 && !h.workerCalls.some((c) => c.call.tool === "slack_post_message");
      i++
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(h.workerCalls.filter((c) => c.call.tool === "slack_post_message")).toHaveLength(1);
    await h.audit.close();
    const { readFileSync } = await import("node:fs");
    const notifications = readFileSync(h.auditPath, "utf8")
      .split("\n")
      .filter((l) => l.includes('"event":"notification"'));
    expect(notifications).toHaveLength(1);
  });
});
