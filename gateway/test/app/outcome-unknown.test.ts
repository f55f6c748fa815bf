// A write with no definite answer, through the real gateway, audit log and worker (on a loopback
// socket): the gateway's wait ran out, or the worker stopped the write at the deadline the call
// token gave it. The call may have taken effect, so it is recorded "unknown", never "failed": an
// alert names it, the caller is told, and a post-hoc review stays open for a person; a read that
// times out is only a failure.
import { afterEach, describe, expect, it } from "vitest";
import { callDeadline } from "../../../agent/src/connectors/deadline.ts";
import { ConnectorError } from "../../../agent/src/connectors/port.ts";
import type { AuditSink } from "../../src/app.ts";
import { GatewayError } from "../../src/lib/errors.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import {
  jsonLines,
  APPROVER as APPROVER_PERSON,
  REMEDIATOR as REMEDIATOR_PERSON,
  SG_CHANGE,
} from "../../../test/support/fixtures.ts";

type Line = Record<string, unknown>;

/** Saturday 2026-05-23 03:00 in Singapore: outside business hours (post-hoc writes). */
const SATURDAY_NIGHT_MS = 1_779_476_400_000;
const COMMENT = { ticket: "CHG-18422", body: "AI security review: no findings." };
const MESSAGE = { channel: "devsecops-change-review", text: "CHG-18422: review posted at 03:00" };
const REVIEWER = {
  user: "change.approver@zyxbank.example",
  groups: ["grp-ai-change-approvers"],
  agent: "approvals-console",
};

/** A connector that waits for its system until the call's deadline stops it. */
function stoppedAtDeadline(): Promise<void> {
  return new Promise((_resolve, reject) => {
    const deadline = callDeadline();
    if (deadline === undefined) {
      reject(new Error("the worker ran the call without the gateway's deadline"));
      return;
    }
    deadline.addEventListener("abort", () => {
      reject(new ConnectorError("slack", "connector_timeout", "no answer before the deadline"));
    });
  });
}

/** A worker that does not answer within the gateway's wait (it ignores its deadline). */
const silentFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let h: Harness | undefined;
afterEach(() => {
  h = undefined;
});

async function outcomeOf(harness: Harness, decisionId: string): Promise<Line[]> {
  return (await jsonLines(harness.auditPath)).filter(
    (r) => r["decision_id"] === decisionId && r["event"] !== "decision",
  );
}

/**
 * A gateway whose wait (300 ms) runs out on `tool`, and whose audit log takes every record but
 * the outcome records (a full disk after the decision); the alerts' details land in `alerts`.
 */
function silentWithoutOutcomes(tool: string, alerts: unknown[] = []): Promise<Harness> {
  return createHarness({
    workerTimeoutMs: 300,
    beforeExecute: (call) => (call.tool === tool ? silentFor(1_000) : Promise.resolve()),
    ports: (defaults) => ({
      audit: {
        append: (record) => {
          if (record.event === "alert") alerts.push(record.details);
          return record.event === "outcome"
            ? Promise.reject(new Error("ENOSPC"))
            : defaults.audit.append(record);
        },
        healthy: () => defaults.audit.healthy(),
      } satisfies AuditSink,
    }),
  });
}

describe("a write with no definite answer", () => {
  it("the gateway's wait runs out on a Jira comment: 504, outcome unknown, an alert", async () => {
    h = await createHarness({
      workerTimeoutMs: 300,
      beforeExecute: (call) =>
        call.tool === "jira_add_comment" ? silentFor(1_000) : Promise.resolve(),
    });
    const response = await h.callAs("jira_add_comment", COMMENT);
    expect(response.status).toBe(504);
    const problem = (await response.json()) as Line;
    expect(problem).toMatchObject({ code: "worker_timeout", outcome: "unknown" });
    const records = await outcomeOf(h, String(problem["decision_id"]));
    expect(records.map((r) => [r["event"], r["outcome"]])).toEqual([
      ["outcome", { status: "unknown", code: "worker_timeout", http_status: 504 }],
      ["alert", { status: "error", code: "tool_outcome_unknown" }],
    ]);
    expect(records[1]).toMatchObject({
      details: { kind: "tool_outcome_unknown", tool: "jira_add_comment" },
    });
  });

  it("a write whose outcome record fails too: 503 that still says unknown and not to retry", async () => {
    const alerts: unknown[] = [];
    h = await silentWithoutOutcomes("jira_add_comment", alerts);
    const response = await h.callAs("jira_add_comment", COMMENT);
    expect(response.status).toBe(503);
    const problem = (await response.json()) as Line;
    expect(problem).toMatchObject({
      code: "audit_unavailable",
      outcome: "unknown",
      decision_id: expect.any(String) as unknown,
      trace_id: expect.any(String) as unknown,
    });
    expect(String(problem["detail"])).toMatch(/may have taken effect; do not retry it/);
    expect(alerts).toMatchObject([{ kind: "tool_outcome_unknown", tool: "jira_add_comment" }]);
  });

  it("a read whose outcome record fails: 503 with the decision's ids, no outcome claimed", async () => {
    h = await silentWithoutOutcomes("jira_read");
    const response = await h.callAs("jira_read", { ticket: "CHG-18422" });
    expect(response.status).toBe(503);
    const problem = (await response.json()) as Line;
    expect(problem).toMatchObject({
      code: "audit_unavailable",
      detail: "the call failed and its outcome could not be recorded",
      decision_id: expect.any(String) as unknown,
    });
    expect(problem).not.toHaveProperty("outcome");
  });

  it("a read whose wait runs out is only a failure: nothing to check", async () => {
    h = await createHarness({
      workerTimeoutMs: 300,
      beforeExecute: (call) => (call.tool === "jira_read" ? silentFor(1_000) : Promise.resolve()),
    });
    const response = await h.callAs("jira_read", { ticket: "CHG-18422" });
    expect(response.status).toBe(504);
    const problem = (await response.json()) as Line;
    expect(problem).toMatchObject({ code: "worker_timeout" });
    expect(problem["outcome"]).toBeUndefined();
    const records = await outcomeOf(h, String(problem["decision_id"]));
    expect(records.map((r) => [r["event"], r["outcome"]])).toEqual([
      ["outcome", { status: "failed", code: "worker_timeout", http_status: 504 }],
    ]);
  });

  it("the worker stops a post-hoc Slack message at its deadline: the review stays open", async () => {
    h = await createHarness({
      workerTimeoutMs: 1_000,
      // The agent's message only: the approvers' notice goes through.
      beforeExecute: (call) =>
        call.tool === "slack_post_message" && call.arguments.channel === MESSAGE.channel
          ? stoppedAtDeadline()
          : Promise.resolve(),
    });
    h.clock.now = SATURDAY_NIGHT_MS;
    const response = await h.callAs("slack_post_message", MESSAGE);
    // The worker answers before the gateway stops waiting (its deadline is a margin short of the
    // gateway's wait), its own code saying why; on a very busy machine the gateway's wait may run
    // out first. Either way the outcome is unknown.
    const problem = (await response.json()) as Line;
    expect(problem).toMatchObject({
      outcome: "unknown",
      approval_id: expect.any(String) as unknown,
    });
    expect(
      response.status === 502
        ? problem["worker_code"] === "tool_outcome_unknown"
        : problem["code"] === "worker_timeout",
    ).toBe(true);
    const id = String(problem["approval_id"]);

    const headers = async () => ({
      authorization: `Bearer ${await h?.accessToken(REVIEWER)}`,
      "x-device-posture": (await h?.postureToken({ user: REVIEWER.user })) ?? "",
      "content-type": "application/json",
    });
    const review = await h.app.request(`/v1/approvals/${id}`, { headers: await headers() });
    expect(review.status).toBe(200);
    const view = (await review.json()) as Line;
    expect(view).toMatchObject({
      status: "pending",
      mode: "post_hoc",
      result: { status: "unknown" },
    });
    expect(view["compensation"]).toBeUndefined();

    const records = await outcomeOf(h, String(problem["decision_id"]));
    expect(records.map((r) => [r["event"], r["outcome"]])).toEqual(
      expect.arrayContaining([
        ["outcome", expect.objectContaining({ status: "unknown" }) as unknown],
        ["alert", { status: "error", code: "tool_outcome_unknown" }],
      ]),
    );
    expect(records.find((r) => r["event"] === "alert")).toMatchObject({
      details: { kind: "tool_outcome_unknown", approval_id: id },
    });

    // A rejection has no handle to run: the undo is a person's, and the review says so.
    const denied = await h.app.request(`/v1/approvals/${id}/deny`, {
      method: "POST",
      headers: await headers(),
      body: JSON.stringify({ reason: "not at night; check whether it was posted" }),
    });
    expect(denied.status).toBe(200);
    expect(await denied.json()).toMatchObject({
      status: "denied",
      compensation_result: { status: "unavailable", code: "compensation_outcome_unknown" },
    });
  });

  it("an approved security-group change whose worker resets mid-call: the approval is spent, its result unknown", async () => {
    const remediator = { ...REMEDIATOR_PERSON };
    const approver = { ...APPROVER_PERSON };
    h = await createHarness({
      // The worker takes the call, then its connection drops before any answer.
      ports: (defaults) => ({
        worker: {
          ...defaults.worker,
          execute: async (call) => {
            if (call.tool !== "aws_modify_security_group") return defaults.worker.execute(call);
            // What undici reports when the worker's socket closes mid-answer.
            throw new GatewayError("worker_unavailable", "the agent worker cannot be reached", {
              cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }),
            });
          },
        },
      }),
    });
    const headers = async (who: typeof remediator) => ({
      authorization: `Bearer ${await h?.accessToken(who)}`,
      "x-device-posture": (await h?.postureToken({ user: who.user })) ?? "",
      "content-type": "application/json",
    });
    const asked = await h.callAs("aws_modify_security_group", SG_CHANGE, {
      as: remediator,
      sessionId: "s-remediate",
    });
    expect(asked.status).toBe(202);
    const { approval_id: id } = (await asked.json()) as { approval_id: string };
    const approved = await h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: await headers(approver),
      body: "{}",
    });
    expect(approved.status).toBe(200);
    const ran = await h.call(
      "aws_modify_security_group",
      { arguments: SG_CHANGE, session_id: "s-remediate", approval_id: id },
      await headers(remediator),
    );
    expect(ran.status).toBe(502);
    const problem = (await ran.json()) as Line;
    expect(problem).toMatchObject({
      code: "worker_unavailable",
      outcome: "unknown",
      approval_id: id,
    });
    expect(String(problem["detail"])).toContain("do not retry it, a person checks");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const view = await h.app.request(`/v1/approvals/${id}`, { headers: await headers(approver) });
    expect(await view.json()).toMatchObject({
      status: "failed",
      result: { status: "unknown", code: "worker_unavailable" },
    });
    // Spent: presenting it again runs nothing.
    const again = await h.call(
      "aws_modify_security_group",
      { arguments: SG_CHANGE, session_id: "s-remediate", approval_id: id },
      await headers(remediator),
    );
    expect(again.status).toBe(409);
  });

  it("a worker that cannot be connected to at all: the write is only failed (it never left)", async () => {
    h = await createHarness({
      ports: (defaults) => ({
        worker: {
          ...defaults.worker,
          execute: () => {
            throw new GatewayError("worker_unavailable", "the agent worker cannot be reached", {
              cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
            });
          },
        },
      }),
    });
    const response = await h.callAs("jira_add_comment", COMMENT);
    expect(response.status).toBe(502);
    const problem = (await response.json()) as Line;
    expect(problem).toMatchObject({ code: "worker_unavailable" });
    expect(problem["outcome"]).toBeUndefined();
    const records = await outcomeOf(h, String(problem["decision_id"]));
    expect(records.map((r) => [r["event"], r["outcome"]])).toEqual([
      ["outcome", { status: "failed", code: "worker_unavailable", http_status: 502 }],
    ]);
  });
});
