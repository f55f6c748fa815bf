// The approvers' Slack notice: a Block Kit message that the Slack tool's own schema accepts,
// naming the call and linking to its console page; sent through the real worker on a new
// request (fixture writes show it), to the fallback group on escalation, never under a kill switch.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseToolArguments } from "../../../common/tool-arguments.ts";
import { createEscalationNotice, noticeBlocks, noticeText } from "../../src/approvals/notify.ts";
import type { ApprovalRequest } from "../../src/approvals/request.ts";
import type { WorkerCall } from "../../src/handoff/worker-client.ts";
import { pendingSecurityGroupChange } from "../console/support.ts";
import { createHarness } from "../support/harness.ts";

const REQUEST: ApprovalRequest = {
  id: "0b8f3c4e-1d2a-4c5b-9e6f-7a8b9c0d1e2f",
  status: "escalated",
  tool: "aws_modify_security_group",
  arguments: {
    account: "111122223333",
    region: "ap-southeast-1",
    group_id: "sg-0a1b2c3d4e5f60718",
    change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
    change_ticket: "CHG-18422",
  },
  arguments_digest: "a".repeat(64),
  requester: { subject: "cloud@zyxbank.example", email: "cloud@zyxbank.example", groups: [] },
  agent: "change-remediator",
  session_id: "sg-1",
  workflow: "remediation",
  policy_revision: "r1",
  risk_score: 6,
  approvers_required: 1,
  approver_groups: ["grp-ai-prod-approvers"],
  fallback_groups: ["grp-ai-security-oncall"],
  approvals: [],
  decision_id: "d-1",
  trace_id: "0af7651916cd43dd8448eb211c80319c",
  created_at: "2026-05-20T02:00:00.000Z",
  expires_at: "2026-05-20T02:10:00.000Z",
  escalated_at: "2026-05-20T02:05:00.000Z",
  version: 2,
};

describe("the notice", () => {
  it("is Block Kit the Slack tool's schema accepts, naming the call and linking to the console", () => {
    const blocks = noticeBlocks(REQUEST, "https://gw.zyxbank.example/console");
    const text = noticeText(REQUEST, "https://gw.zyxbank.example/console");
    const parsed = parseToolArguments("slack_post_message", {
      channel: "devsecops-change-review",
      text,
      blocks,
    });
    expect(parsed.ok).toBe(true);
    expect(blocks[0]).toEqual({
      type: "header",
      text: { type: "plain_text", text: "Approval needed: aws_modify_security_group" },
    });
    expect(JSON.stringify(blocks)).toContain(
      "revoke_ingress tcp 22 from 0.0.0.0/0 on sg-0a1b2c3d4e5f60718 (account 111122223333, ap-southeast-1), ticket CHG-18422",
    );
    expect(blocks.at(-1)).toEqual({
      type: "actions",
      elements: [
        {
          type: "button",
          text: { type: "plain_text", text: "Review in the console" },
          url: `https://gw.zyxbank.example/console/requests/${REQUEST.id}`,
          action_id: "open_console",
          style: "primary",
        },
      ],
    });
    expect(text).toContain(`https://gw.zyxbank.example/console/requests/${REQUEST.id}`);
    // Plain text only: nothing in a request can become a mention or a disguised link.
    expect(JSON.stringify(blocks)).not.toContain("mrkdwn");
  });

  it("refuses mrkdwn blocks in the Slack tool's arguments", () => {
    const parsed = parseToolArguments("slack_post_message", {
      channel: "devsecops-change-review",
      text: "x",
      blocks: [{ type: "section", text: { type: "mrkdwn", text: "<!channel>" } }],
    });
    expect(parsed.ok).toBe(false);
  });
});

describe("sending", () => {
  it("posts the Block Kit notice through the worker when a request opens", async () => {
    const h = await createHarness();
    const id = await pendingSecurityGroupChange(h);
    const path = join(dirname(h.auditPath), "fixture-writes.jsonl");
    await expect.poll(() => existsSync(path)).toBe(true);
    const writes = readFileSync(path, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { connector: string; text: string; blocks?: unknown[] });
    const posted = writes.find((w) => w.connector === "slack");
    expect(posted?.text).toContain(`/console/requests/${id}`);
    expect(posted?.blocks?.[0]).toEqual({
      type: "header",
      text: { type: "plain_text", text: "Approval needed: aws_modify_security_group" },
    });
  });

  it("tells the fallback group on escalation, and stays silent under the Slack kill switch", async () => {
    const calls: WorkerCall[] = [];
    const audited: unknown[] = [];
    let slackKilled = false;
    const notify = createEscalationNotice({
      channel: "devsecops-change-review",
      consoleUrl: "http://127.0.0.1:8080/console",
      killSwitch: {
        state: () =>
          ({
            state: { kill_switch: { all_writes: false, connectors: slackKilled ? ["slack"] : [] } },
          }) as never,
      },
      audit: { append: (r) => Promise.resolve(audited.push(r)) },
      worker: { execute: (call) => Promise.resolve(calls.push(call)).then(() => ({ result: {} })) },
      now: () => 0,
      log: () => undefined,
    });
    notify(REQUEST);
    await expect.poll(() => calls.length).toBe(1);
    const args = calls[0]?.arguments as { text: string; blocks: { text?: { text: string } }[] };
    expect(args.blocks[0]?.text?.text).toBe(
      "Escalated, approval needed: aws_modify_security_group",
    );
    expect(args.text).toContain("1 from grp-ai-security-oncall");
    expect(audited).toHaveLength(1);
    slackKilled = true;
    notify(REQUEST);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toHaveLength(1);
    expect(audited).toHaveLength(1);
  });
});
