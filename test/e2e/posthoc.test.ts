// Post-hoc review and the kill switch's reach on real processes (gateway, worker with fixture
// connectors, tokens from the development CLI), with a policy whose business hours never come
// (so the run tells the same story at any hour) and a local pager on a real socket.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines } from "../support/fixtures.ts";
import { buildPolicyVariant, type PolicyVariant } from "../../scripts/lib/policy-variant.ts";
import { startStack, type Stack } from "../support/processes.ts";

const ENGINEER = [
  "--user",
  "engineer@zyxbank.example",
  "--groups",
  "grp-ai-users,grp-ai-devops-readonly",
  "--agent",
  "change-reviewer",
];
const REVIEWER = [
  "--user",
  "change.approver@zyxbank.example",
  "--groups",
  "grp-ai-change-approvers",
  "--agent",
  "approvals-console",
];
const ADMIN = [
  "--user",
  "secadmin@zyxbank.example",
  "--groups",
  "grp-ai-security-admins",
  "--agent",
  "admin-console",
];

type Line = Record<string, unknown>;

describe("post-hoc review and kill-switch reach, as processes", () => {
  let variant: PolicyVariant;
  let stack: Stack;
  let pager: Server;
  const pages: Line[] = [];

  beforeAll(async () => {
    pager = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
      });
      req.on("end", () => {
        pages.push(JSON.parse(body) as Line);
        res.writeHead(202, { "content-type": "application/json" }).end('{"status":"success"}');
      });
    });
    await new Promise<void>((done) => pager.listen(0, "127.0.0.1", done));
    const { port } = pager.address() as AddressInfo;
    // No business hours at all: every write of the review is "outside business hours".
    variant = buildPolicyVariant((config) => {
      config["business_hours"] = {
        ...(config["business_hours"] as Line),
        weekdays: [],
      };
    });
    stack = await startStack({
      policyBundle: variant.bundle,
      gatewayEnv: { KILL_SWITCH_PAGE_URL: `http://127.0.0.1:${String(port)}/v2/enqueue` },
    });
  }, 120_000);
  afterAll(async () => {
    await stack.stop();
    variant.remove();
    await new Promise((done) => pager.close(done));
  });

  const as = (who: string[]) => ({
    authorization: `Bearer ${stack.token("access", ...who)}`,
    "x-device-posture": stack.token("posture", who[0] ?? "", who[1] ?? ""),
    "content-type": "application/json",
  });
  const post = async (text: string) => {
    const response = await fetch(`${stack.gatewayUrl}/v1/tools/slack_post_message`, {
      method: "POST",
      headers: as(ENGINEER),
      body: JSON.stringify({
        arguments: { channel: "devsecops-change-review", text },
        session_id: "night-review",
      }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as {
      result: { channel: string; ts: string };
      review: { approval_id: string };
    };
  };
  const review = (id: string, verb: "approve" | "deny", body: Line = {}) =>
    fetch(`${stack.gatewayUrl}/v1/approvals/${id}/${verb}`, {
      method: "POST",
      headers: as(REVIEWER),
      body: JSON.stringify(body),
    });
  const agentMessages = async () =>
    (await jsonLines(join(stack.stateDir, "fixture-writes.jsonl"))).filter(
      (w) =>
        w["connector"] === "slack" &&
        !(typeof w["text"] === "string" && w["text"].startsWith("Approval needed")),
    );

  it("a Slack message runs at once; the reviewer rejects; the message is deleted, audited", async () => {
    const posted = await post("CHG-18422: AI review (night shift)");
    const { ts, channel } = posted.result;
    const denied = await review(posted.review.approval_id, "deny", { reason: "wrong channel" });
    expect(denied.status).toBe(200);
    expect(await denied.json()).toMatchObject({
      status: "denied",
      compensation_result: { status: "executed" },
    });
    expect(await agentMessages()).toMatchObject([
      { action: "post_message", ts, channel },
      { action: "delete_message", ts, channel },
    ]);
    const audit = await jsonLines(join(stack.stateDir, "audit/audit.jsonl"));
    const deletion = audit.filter((r) => r["tool"] === "slack_delete_message");
    expect(deletion.map((r) => r["event"])).toEqual(["decision", "outcome"]);
    expect(deletion[1]).toMatchObject({
      agent: "post-hoc-reviewer",
      outcome: { status: "executed" },
    });
  });

  it("an approval of the review closes it with no compensation", async () => {
    const before = (await agentMessages()).length;
    const posted = await post("CHG-18422: second summary");
    const approved = await review(posted.review.approval_id, "approve");
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: "approved", mode: "post_hoc" });
    const after = await agentMessages();
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({ action: "post_message", ts: posted.result.ts });
  });

  it("stopping Slack revokes the worker's Slack credentials and pages security", async () => {
    const stopped = await fetch(`${stack.gatewayUrl}/v1/admin/kill-switch/connector`, {
      method: "PUT",
      headers: as(ADMIN),
      body: JSON.stringify({ value: "slack", reason: "INC-77 Slack token leaked" }),
    });
    expect(stopped.status).toBe(200);
    expect(pages).toHaveLength(1);
    expect(pages[0]).toMatchObject({
      event_action: "trigger",
      payload: { severity: "critical", custom_details: { scope: "connector", value: "slack" } },
    });
    const reach = (await jsonLines(join(stack.stateDir, "audit/audit.jsonl"))).filter(
      (r) => r["event"] === "kill_switch_reach",
    );
    expect(reach.map((r) => [(r["details"] as Line)["action"], r["outcome"]])).toEqual(
      expect.arrayContaining([
        ["revoke", { status: "done" }],
        ["page", { status: "done" }],
      ]),
    );
    expect(stack.worker.output()).toContain("connector_revoked");
  });
});
