// Post-hoc review through the real gateway, policy.wasm, audit log and worker (fixture
// connectors): outside business hours a Slack message runs at once under a review; the reviewer's
// rejection deletes it through the gateway's own call (decided, audited, signed to the worker),
// an approval closes the review with nothing undone; a review is never a licence to run again.
import { beforeEach, describe, expect, it } from "vitest";
import { jsonLines } from "../../../test/support/fixtures.ts";
import { ConnectorError } from "../../../agent/src/connectors/port.ts";
import type { AuditSink } from "../../src/app.ts";
import { createHarness, type Harness } from "../support/harness.ts";

/** Saturday 2026-05-23 03:00 in Singapore: outside business hours. */
const SATURDAY_NIGHT_MS = 1_779_476_400_000;
const REVIEWER = {
  user: "change.approver@zyxbank.example",
  groups: ["grp-ai-change-approvers"],
  agent: "approvals-console",
};
const MESSAGE = { channel: "devsecops-change-review", text: "CHG-18422: review posted at 03:00" };

type Line = Record<string, unknown>;

/** The reviewer rejects a review through the real route, on the given harness. */
async function denyAsReviewer(on: Harness, id: string, reason: string): Promise<Response> {
  return on.app.request(`/v1/approvals/${id}/deny`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await on.accessToken(REVIEWER)}`,
      "x-device-posture": await on.postureToken({ user: REVIEWER.user }),
      "content-type": "application/json",
    },
    body: JSON.stringify({ reason }),
  });
}

/**
 * A harness whose worker fails every Slack delete while `slack.down`, and the night's message
 * posted through it (under a post-hoc review).
 */
async function postedWithSlackDown() {
  const slack = { down: true };
  const flaky: Harness = await createHarness({
    beforeExecute: (call) =>
      call.tool === "slack_delete_message" && slack.down
        ? Promise.reject(new Error("Slack unreachable"))
        : Promise.resolve(),
  });
  flaky.clock.now = SATURDAY_NIGHT_MS;
  const response = await flaky.callAs("slack_post_message", MESSAGE);
  const { review, result } = (await response.json()) as {
    review: { approval_id: string };
    result: { ts: string };
  };
  return { flaky, slack, review, result };
}

describe("post-hoc review through the gateway", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
    h.clock.now = SATURDAY_NIGHT_MS;
  });

  const post = async (sessionId = "s-night") => {
    const response = await h.callAs("slack_post_message", MESSAGE, { sessionId });
    expect(response.status).toBe(200);
    return (await response.json()) as {
      decision_id: string;
      result: { channel: string; ts: string };
      review: { approval_id: string; status_url: string; mode: string };
    };
  };
  const act = async (id: string, verb: "approve" | "deny", who = REVIEWER, body: unknown = {}) =>
    h.app.request(`/v1/approvals/${id}/${verb}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken(who)}`,
        "x-device-posture": await h.postureToken({ user: who.user }),
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });
  /** The agent's messages as the fixture Slack holds them (the approvers' notices aside). */
  const slackWrites = async () =>
    (await jsonLines(h.writesPath)).filter(
      (w) =>
        w["connector"] === "slack" &&
        !(typeof w["text"] === "string" && w["text"].startsWith("Approval needed")),
    );
  const audit = () => jsonLines(h.auditPath);

  it("a message someone already deleted: the rejection's compensation finds it gone, and that is its goal", async () => {
    const gone = await createHarness({
      beforeExecute: (call) =>
        call.tool === "slack_delete_message"
          ? Promise.reject(new ConnectorError("slack", "connector_not_found", "message_not_found"))
          : Promise.resolve(),
    });
    gone.clock.now = SATURDAY_NIGHT_MS;
    const response = await gone.callAs("slack_post_message", MESSAGE);
    const { review } = (await response.json()) as { review: { approval_id: string } };
    const denied = await denyAsReviewer(gone, review.approval_id, "deleted by hand already");
    expect(denied.status).toBe(200);
    expect(await denied.json()).toMatchObject({
      status: "denied",
      compensation_result: { status: "executed", code: "already_undone", http_status: 200 },
    });
    // The audit keeps what the worker said: its connector's code.
    const outcome = (await jsonLines(gone.auditPath)).find(
      (r) => r["event"] === "outcome" && r["tool"] === "slack_delete_message",
    );
    expect(outcome).toMatchObject({
      outcome: { status: "failed", code: "worker_failed" },
      details: { worker_code: "tool_failed", worker_connector_code: "connector_not_found" },
    });
  });

  it("a review left overnight is still open in the morning: rejected at 11:00, the message is deleted", async () => {
    const posted = await post("s-overnight");
    // Eight hours on: the review escalated to on-call long ago, but its window is three days.
    h.clock.now = SATURDAY_NIGHT_MS + 8 * 3600_000;
    const denied = await act(posted.review.approval_id, "deny", REVIEWER, {
      reason: "posted at 03:00 to the wrong channel",
    });
    expect(denied.status).toBe(200);
    expect(await denied.json()).toMatchObject({
      status: "denied",
      compensation_result: { status: "executed" },
    });
    const { ts } = posted.result;
    expect((await slackWrites()).filter((w) => w["ts"] === ts).map((w) => w["action"])).toEqual([
      "post_message",
      "delete_message",
    ]);
  });

  it("open reviews do not count as calls waiting for approval", async () => {
    // More reviews than the user's bound of five waiting calls...
    for (let i = 0; i < 6; i++) await post(`s-bound-${String(i)}`);
    // ...and a call that must wait for approval (a write in a tainted session is never
    // post-hoc) is still asked for, not refused as a spike of waiting calls.
    h.sessions.taint("s-tainted");
    const asked = await h.callAs("slack_post_message", MESSAGE, { sessionId: "s-tainted" });
    expect(asked.status).toBe(202);
  });

  it("runs at once under a review; the rejection deletes the message, all audited", async () => {
    const posted = await post();
    expect(posted.review).toEqual({
      approval_id: expect.any(String) as unknown,
      status_url: `/v1/approvals/${posted.review.approval_id}`,
      mode: "post_hoc",
    });
    const { ts, channel } = posted.result;
    expect(await slackWrites()).toMatchObject([{ action: "post_message", ts, channel }]);

    const denied = await act(posted.review.approval_id, "deny", REVIEWER, {
      reason: "not at 03:00, not to this channel",
    });
    expect(denied.status).toBe(200);
    const view = (await denied.json()) as Record<string, unknown>;
    expect(view).toMatchObject({
      status: "denied",
      mode: "post_hoc",
      compensation: { tool: "slack_delete_message", arguments: { channel, ts } },
      compensation_result: { status: "executed", http_status: 200 },
    });
    // The message is gone from "Slack".
    expect(await slackWrites()).toMatchObject([
      { action: "post_message", ts, channel },
      { action: "delete_message", ts, channel },
    ]);

    const records = await audit();
    // The call: decided as post-hoc, executed with its review named.
    expect(
      records.find((r) => r["event"] === "decision" && r["decision_id"] === posted.decision_id),
    ).toMatchObject({ approval: { required: true, state: "post_hoc_review" } });
    expect(
      records.find((r) => r["event"] === "outcome" && r["decision_id"] === posted.decision_id),
    ).toMatchObject({
      outcome: { status: "executed" },
      details: { approval_id: posted.review.approval_id, approval_mode: "post_hoc" },
    });
    // The review's transitions, in order.
    const actions = records
      .filter(
        (r) =>
          (r["details"] as Line | undefined)?.["approval_id"] === posted.review.approval_id &&
          (r["details"] as Line)["action"] !== undefined,
      )
      .map((r) => (r["details"] as Line)["action"]);
    expect(actions).toEqual([
      "request",
      "settle_post_hoc",
      "deny",
      "claim_compensation",
      "mark_compensated",
    ]);
    // The compensation: the gateway's own call, decided with the reviewer as approver, executed.
    const compensation = records.filter((r) => r["tool"] === "slack_delete_message");
    expect(
      compensation.map((r) => [r["event"], (r["outcome"] as Line | undefined)?.["status"]]),
    ).toEqual([
      ["decision", undefined],
      ["outcome", "executed"],
    ]);
    expect(compensation[0]).toMatchObject({
      user: { subject: "system:zyx-gateway" },
      agent: "post-hoc-reviewer",
      door: "system",
      decision: { allow: true },
      decision_input: {
        context: { system_call: true },
        approval: { approvers: [{ groups: REVIEWER.groups }] },
      },
    });
    // The worker saw exactly one delete, for exactly that message.
    expect(
      h.workerCalls
        .filter((c) => c.call.tool === "slack_delete_message")
        .map((c) => ({ tool: c.call.tool, arguments: c.call.arguments })),
    ).toEqual([{ tool: "slack_delete_message", arguments: { channel, ts } }]);
  });

  it("an approval closes the review and undoes nothing", async () => {
    const posted = await post();
    const approved = await act(posted.review.approval_id, "approve");
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: "approved", mode: "post_hoc" });
    expect(await slackWrites()).toMatchObject([{ action: "post_message" }]);
    expect(h.workerCalls.some((c) => c.call.tool === "slack_delete_message")).toBe(false);
    // Decided: a later denial is refused, and still nothing is undone.
    const late = await act(posted.review.approval_id, "deny", REVIEWER, { reason: "too late" });
    expect(late.status).toBe(409);
    expect(await slackWrites()).toHaveLength(1);
  });

  it("an approved review is never a licence to run the call again", async () => {
    const posted = await post();
    expect((await act(posted.review.approval_id, "approve")).status).toBe(200);
    const again = await h.call(
      "slack_post_message",
      { arguments: MESSAGE, session_id: "s-night", approval_id: posted.review.approval_id },
      {
        authorization: `Bearer ${await h.accessToken()}`,
        "x-device-posture": await h.postureToken(),
      },
    );
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: "approval_already_executed" });
    expect(await slackWrites()).toHaveLength(1);
  });

  it("a review is never handed out as the approval of the same call asked again before it runs", async () => {
    const posted = await post();
    // The session reads the injection ticket: the same message now waits for an approver.
    expect(
      (await h.callAs("jira_read", { ticket: "CHG-18433" }, { sessionId: "s-night" })).status,
    ).toBe(200);
    const again = await h.callAs("slack_post_message", MESSAGE, { sessionId: "s-night" });
    expect(again.status).toBe(202);
    const waiting = (await again.json()) as { approval_id: string; mode?: string };
    expect(waiting.approval_id).not.toBe(posted.review.approval_id);
    expect((await h.controls.approvals.get(waiting.approval_id))?.mode).not.toBe("post_hoc");
    expect(await slackWrites()).toHaveLength(1);
  });

  it.each([
    ["an unmanaged device", { compliant: false }],
    [
      "a posture checked two days ago",
      { checkedAt: Math.floor(SATURDAY_NIGHT_MS / 1000) - 172_800 },
    ],
  ])("a rejection from %s is refused: it would run a compensating write", async (_, device) => {
    const posted = await post();
    const denied = await h.app.request(`/v1/approvals/${posted.review.approval_id}/deny`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken(REVIEWER)}`,
        "x-device-posture": await h.postureToken({ user: REVIEWER.user, ...device }),
        "content-type": "application/json",
      },
      body: JSON.stringify({ reason: "not at night" }),
    });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ code: "approver_device_not_compliant" });
    expect(await h.controls.approvals.get(posted.review.approval_id)).toMatchObject({
      status: "pending",
    });
    expect(h.workerCalls.some((c) => c.call.tool === "slack_delete_message")).toBe(false);
    expect(await slackWrites()).toHaveLength(1);
  });

  it("the requester cannot reject (or approve) their own call's review", async () => {
    const posted = await post();
    const self = {
      user: "engineer@zyxbank.example",
      groups: [...REVIEWER.groups],
      agent: REVIEWER.agent,
    };
    const response = await act(posted.review.approval_id, "deny", self, { reason: "mine" });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "approver_is_requester" });
    expect(await slackWrites()).toHaveLength(1);
  });

  /** A harness whose reviewer rejects the review while the Slack message is being posted. */
  const rejectingMidCall = async (before?: (h: Harness) => Promise<void>) => {
    const inFlight: Harness = await createHarness({
      beforeExecute: async (call) => {
        if (call.tool !== "slack_post_message") return;
        const [open] = await inFlight.controls.approvals.listOpen({ agent: "change-reviewer" });
        if (open === undefined) return;
        await before?.(inFlight);
        await inFlight.controls.approvals.deny(
          open.id,
          { subject: REVIEWER.user, groups: REVIEWER.groups },
          "rejected before it finished",
          true,
        );
      },
    });
    inFlight.clock.now = SATURDAY_NIGHT_MS;
    return inFlight;
  };

  it("a rejection while the call is still running is compensated when the call answers", async () => {
    const inFlight = await rejectingMidCall();
    const response = await inFlight.callAs("slack_post_message", MESSAGE);
    expect(response.status).toBe(200);
    const { review, result } = (await response.json()) as {
      review: { approval_id: string };
      result: { channel: string; ts: string };
    };
    expect(await inFlight.controls.approvals.get(review.approval_id)).toMatchObject({
      status: "denied",
      result: { status: "executed" },
      compensation: { tool: "slack_delete_message" },
      compensation_result: { status: "executed", http_status: 200 },
    });
    const writes = (await jsonLines(inFlight.writesPath)).filter(
      (w) => w["connector"] === "slack" && w["action"] !== undefined,
    );
    expect(writes.filter((w) => w["ts"] === result.ts).map((w) => w["action"])).toEqual([
      "post_message",
      "delete_message",
    ]);
    const records = await jsonLines(inFlight.auditPath);
    // Decided as the gateway's own call, with the denier (and their groups) as the reviewer.
    expect(
      records.find((r) => r["tool"] === "slack_delete_message" && r["event"] === "decision"),
    ).toMatchObject({
      door: "system",
      decision: { allow: true },
      decision_input: {
        approval: { approvers: [{ sub: REVIEWER.user, groups: REVIEWER.groups }] },
      },
    });
    expect(records.filter((r) => r["event"] === "alert")).toEqual([]);
  });

  it("a mid-call rejection whose compensation the policy refuses is recorded as failed", async () => {
    const inFlight = await rejectingMidCall(async (h) => {
      await h.controls.killSwitch.set("connector", "slack", {
        by: "secadmin@zyxbank.example",
        reason: "INC-8",
      });
    });
    const response = await inFlight.callAs("slack_post_message", MESSAGE);
    expect(response.status).toBe(200);
    const { review } = (await response.json()) as { review: { approval_id: string } };
    expect(await inFlight.controls.approvals.get(review.approval_id)).toMatchObject({
      status: "denied",
      compensation_result: { status: "failed", code: "policy_denied", http_status: 403 },
    });
  });

  it("a compensation the worker fails is retried by the sweeper until it runs, once", async () => {
    const { flaky, slack, review, result } = await postedWithSlackDown();
    const denied = await denyAsReviewer(flaky, review.approval_id, "not at night");
    expect(denied.status).toBe(200);
    expect(await denied.json()).toMatchObject({
      compensation_result: {
        status: "failed",
        code: "worker_failed",
        attempts: 1,
        retry_at: new Date(SATURDAY_NIGHT_MS + 30_000).toISOString(),
      },
    });
    // Not due yet: nothing runs.
    expect(await flaky.compensateDue()).toBe(0);
    // Due, still failing: the second try is scheduled a minute later.
    flaky.clock.now = SATURDAY_NIGHT_MS + 30_000;
    expect(await flaky.compensateDue()).toBe(1);
    expect(await flaky.controls.approvals.get(review.approval_id)).toMatchObject({
      compensation_result: {
        status: "failed",
        attempts: 2,
        retry_at: new Date(SATURDAY_NIGHT_MS + 90_000).toISOString(),
      },
    });
    // Slack back: the third try deletes the message, and nothing is due any more.
    slack.down = false;
    flaky.clock.now = SATURDAY_NIGHT_MS + 90_000;
    expect(await flaky.compensateDue()).toBe(1);
    const done = await flaky.controls.approvals.get(review.approval_id);
    expect(done?.compensation_result).toMatchObject({ status: "executed", attempts: 3 });
    expect(done?.compensation_result).not.toHaveProperty("retry_at");
    flaky.clock.now = SATURDAY_NIGHT_MS + 3_600_000;
    expect(await flaky.compensateDue()).toBe(0);
    const deletes = (await jsonLines(flaky.writesPath)).filter(
      (w) => w["action"] === "delete_message" && w["ts"] === result.ts,
    );
    expect(deletes).toHaveLength(1);
    // Each try claimed first, then recorded.
    const actions = (await jsonLines(flaky.auditPath))
      .filter((r) => (r["details"] as Line | undefined)?.["approval_id"] === review.approval_id)
      .map((r) => (r["details"] as Line)["action"])
      .filter((a) => a === "claim_compensation" || a === "mark_compensated");
    expect(actions).toEqual([
      "claim_compensation",
      "mark_compensated",
      "claim_compensation",
      "mark_compensated",
      "claim_compensation",
      "mark_compensated",
    ]);
  });

  it("a retried compensation sees the reviewer as the deny route did: a kill switch on their email voids them", async () => {
    const { flaky, slack, review, result } = await postedWithSlackDown();
    // A reviewer whose token carries an opaque subject and an email.
    const reviewer = { ...REVIEWER, user: "u-3b9e", email: REVIEWER.user };
    const denied = await flaky.app.request(`/v1/approvals/${review.approval_id}/deny`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await flaky.accessToken(reviewer)}`,
        "x-device-posture": await flaky.postureToken({ user: reviewer.user }),
        "content-type": "application/json",
      },
      body: JSON.stringify({ reason: "not at night" }),
    });
    expect(denied.status).toBe(200);
    expect(await flaky.controls.approvals.get(review.approval_id)).toMatchObject({
      denial: { subject: "u-3b9e", email: REVIEWER.user },
      compensation_result: { status: "failed", code: "worker_failed" },
    });
    await flaky.controls.killSwitch.set("user", REVIEWER.user, {
      by: "secadmin@zyxbank.example",
      reason: "account compromised",
    });
    slack.down = false;
    flaky.clock.now = SATURDAY_NIGHT_MS + 30_000;
    await flaky.compensateDue();
    const after = await flaky.controls.approvals.get(review.approval_id);
    expect(after?.compensation_result?.status).not.toBe("executed");
    const deletes = (await jsonLines(flaky.writesPath)).filter(
      (w) => w["action"] === "delete_message" && w["ts"] === result.ts,
    );
    expect(deletes).toHaveLength(0);
  });

  it("a retried compensation in business hours still needs its reviewer: a kill switch on them voids it", async () => {
    const { flaky, slack, review, result } = await postedWithSlackDown();
    // Rejected on Monday at 10:00 in Singapore: the delete alone would need no approver then.
    const mondayMorning = SATURDAY_NIGHT_MS + 55 * 3600_000;
    flaky.clock.now = mondayMorning;
    expect((await denyAsReviewer(flaky, review.approval_id, "wrong channel")).status).toBe(200);
    expect(await flaky.controls.approvals.get(review.approval_id)).toMatchObject({
      compensation_result: { status: "failed", code: "worker_failed" },
    });
    await flaky.controls.killSwitch.set("user", REVIEWER.user, {
      by: "secadmin@zyxbank.example",
      reason: "account compromised",
    });
    slack.down = false;
    flaky.clock.now = mondayMorning + 30_000;
    await flaky.compensateDue();
    expect(await flaky.controls.approvals.get(review.approval_id)).toMatchObject({
      compensation_result: { status: "failed", code: "policy_denied" },
    });
    const deletes = (await jsonLines(flaky.writesPath)).filter(
      (w) => w["action"] === "delete_message" && w["ts"] === result.ts,
    );
    expect(deletes).toHaveLength(0);
  });

  it("a mid-call rejection is compensated with the reviewer as the sweeper sees them: a kill switch on their e-mail voids them", async () => {
    const reviewer = { subject: "u-3b9e", email: REVIEWER.user, groups: REVIEWER.groups };
    const inFlight: Harness = await createHarness({
      beforeExecute: async (call) => {
        if (call.tool !== "slack_post_message") return;
        const [open] = await inFlight.controls.approvals.listOpen({ agent: "change-reviewer" });
        if (open === undefined) return;
        await inFlight.controls.approvals.deny(open.id, reviewer, "rejected mid-call", true);
        await inFlight.controls.killSwitch.set("user", REVIEWER.user, {
          by: "secadmin@zyxbank.example",
          reason: "account compromised",
        });
      },
    });
    inFlight.clock.now = SATURDAY_NIGHT_MS;
    const response = await inFlight.callAs("slack_post_message", MESSAGE);
    expect(response.status).toBe(200);
    const { review, result } = (await response.json()) as {
      review: { approval_id: string };
      result: { ts: string };
    };
    const after = await inFlight.controls.approvals.get(review.approval_id);
    expect(after?.compensation_result?.status).toBe("failed");
    const deletes = (await jsonLines(inFlight.writesPath)).filter(
      (w) => w["action"] === "delete_message" && w["ts"] === result.ts,
    );
    expect(deletes).toHaveLength(0);
  });

  it("a call that ran but whose outcome record failed still leaves its review the rollback", async () => {
    let failOutcome = true;
    const eio = await createHarness({
      ports: (defaults) => ({
        audit: {
          append: (record) =>
            failOutcome && record.event === "outcome" && record.tool === "slack_post_message"
              ? Promise.reject(new Error("EIO"))
              : defaults.audit.append(record),
          healthy: () => defaults.audit.healthy(),
        } satisfies AuditSink,
      }),
    });
    eio.clock.now = SATURDAY_NIGHT_MS;
    const response = await eio.callAs("slack_post_message", MESSAGE, { sessionId: "s-eio" });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: "audit_unavailable", executed: true });
    failOutcome = false;
    const [review] = await eio.controls.approvals.listOpen({ agent: "change-reviewer" });
    expect(review).toMatchObject({
      mode: "post_hoc",
      tool: "slack_post_message",
      result: { status: "executed" },
      compensation: { tool: "slack_delete_message" },
    });
    const id = review?.id ?? "";
    expect((await denyAsReviewer(eio, id, "not at 03:00")).status).toBe(200);
    expect(await eio.controls.approvals.get(id)).toMatchObject({
      status: "denied",
      compensation_result: { status: "executed" },
    });
    // The message, then its deletion (the reviewers' notice goes to a channel of its own).
    const inChannel = (await jsonLines(eio.writesPath)).filter(
      (w) => w["connector"] === "slack" && w["channel"] === "C07DEVSECOPS",
    );
    expect(inChannel.map((w) => w["action"])).toEqual(["post_message", "delete_message"]);
    expect(inChannel[1]?.["ts"]).toBe(inChannel[0]?.["ts"]);
  });

  it("a policy that cannot decide the compensation is retried like a worker failure", async () => {
    let policyDown = false;
    const outage: Harness = await createHarness({
      ports: (defaults) => ({
        policy: {
          ...defaults.policy,
          get revision() {
            return defaults.policy.revision;
          },
          get loadError() {
            return defaults.policy.loadError;
          },
          evaluate: (input) =>
            policyDown
              ? ({
                  ok: false,
                  code: "policy_evaluation_failed",
                  message: "the engine trapped",
                } as const)
              : defaults.policy.evaluate(input),
        },
      }),
    });
    outage.clock.now = SATURDAY_NIGHT_MS;
    const response = await outage.callAs("slack_post_message", MESSAGE);
    const { review } = (await response.json()) as { review: { approval_id: string } };
    policyDown = true;
    const denied = await denyAsReviewer(outage, review.approval_id, "not at night");
    expect(denied.status).toBe(200);
    expect(await denied.json()).toMatchObject({
      compensation_result: {
        status: "failed",
        code: "policy_unavailable",
        http_status: 503,
        attempts: 1,
        retry_at: new Date(SATURDAY_NIGHT_MS + 30_000).toISOString(),
      },
    });
    policyDown = false;
    outage.clock.now = SATURDAY_NIGHT_MS + 30_000;
    expect(await outage.compensateDue()).toBe(1);
    expect(await outage.controls.approvals.get(review.approval_id)).toMatchObject({
      compensation_result: { status: "executed", attempts: 2 },
    });
  });

  it("in business hours the same message needs no review", async () => {
    h.clock.now = 1_779_242_400_000; // Wednesday 10:00 in Singapore
    const response = await h.callAs("slack_post_message", MESSAGE);
    expect(response.status).toBe(200);
    expect(await response.json()).not.toHaveProperty("review");
  });

  it("a kill switch on Slack stops the compensation too: recorded as failed, nothing deleted", async () => {
    const posted = await post();
    await h.controls.killSwitch.set("connector", "slack", {
      by: "secadmin@zyxbank.example",
      reason: "INC-7",
    });
    const denied = await act(posted.review.approval_id, "deny", REVIEWER, { reason: "undo it" });
    expect(denied.status).toBe(200);
    expect(await denied.json()).toMatchObject({
      status: "denied",
      compensation_result: { status: "failed", code: "policy_denied", http_status: 403 },
    });
    expect(await slackWrites()).toMatchObject([{ action: "post_message" }]);
    const refused = (await audit()).find(
      (r) => r["tool"] === "slack_delete_message" && r["event"] === "outcome",
    );
    expect(refused).toMatchObject({ outcome: { status: "denied", code: "policy_denied" } });
  });
});
