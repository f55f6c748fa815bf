// Tells the approvers that a call waits for them (and, when it escalates, the fallback group),
// through the worker's Slack connector: a Block Kit message that names the call (tool, what it
// changes, requester, agent, risk, who may approve, the deadline, the arguments' digest) and
// links to its page in the approver console, where identity and device posture are verified.
// Approving never happens in Slack.
//
// This is the system's own write, outside the policy (no agent asked for it), so it keeps the
// rules a write must keep without one: it obeys the kill switch for Slack and for all writes,
// and its audit record is durable before the message is sent. Best effort: a failure is logged,
// never thrown into the call that opened the request (that call is already answered 202).
// Every value in the message is plain text (Slack's plain_text objects, the escaped `text`):
// nothing from the request can mention anyone or disguise a link.
import { randomBytes } from "node:crypto";
import { argumentsDigest } from "../../../common/canonical.ts";
import type { Log } from "../../../common/service.ts";
import type { SlackBlocks } from "../../../common/tool-arguments.ts";
import { maskSecrets } from "../audit/mask.ts";
import type { AuditRecordInput } from "../audit/record.ts";
import type { WorkerClient } from "../handoff/worker-client.ts";
import type { KillSwitch } from "../killswitch/service.ts";
import type { ApprovalRequest } from "./request.ts";

export interface ApproverNoticeOptions {
  /** The approvers' Slack channel; no channel, no notice. */
  channel: string | undefined;
  /** The approver console's public URL (CONSOLE_URL); absent: the message names the path. */
  consoleUrl?: string | undefined;
  killSwitch: Pick<KillSwitch, "state">;
  audit: { append(record: AuditRecordInput): Promise<unknown> };
  worker: Pick<WorkerClient, "execute">;
  now: () => number;
  log: Log;
}

export type NoticeKind = "approvers" | "escalation";

/** The request's page in the console (absolute when the console URL is known). */
export function consolePage(request: ApprovalRequest, consoleUrl: string | undefined): string {
  return `${consoleUrl ?? "/console"}/requests/${request.id}`;
}

/** What the call does, in one line a person reads. */
export function callSummary(request: ApprovalRequest): string {
  const a = request.arguments;
  if (request.tool === "aws_modify_security_group") {
    const change = a["change"] as Record<string, unknown> | undefined;
    return (
      `${String(change?.["action"])} ${String(change?.["protocol"])} ${String(change?.["port_range"])} ` +
      `from ${String(change?.["cidr"])} on ${String(a["group_id"])} ` +
      `(account ${String(a["account"])}, ${String(a["region"])}), ticket ${typeof a["change_ticket"] === "string" ? a["change_ticket"] : "none"}`
    );
  }
  // Masked as the audit log masks it: Slack keeps what it is sent. Cut on a code point.
  const json = JSON.stringify(maskSecrets(a));
  if (json.length <= 300) return json;
  return `${json.slice(0, 297).replace(/[\uD800-\uDBFF]$/, "")}...`;
}

function who(request: ApprovalRequest): string {
  return request.requester.email ?? request.requester.subject;
}

function approvers(request: ApprovalRequest, kind: NoticeKind): string {
  const groups = kind === "escalation" ? request.fallback_groups : request.approver_groups;
  return `${String(request.approvers_required)} from ${groups.join(", ")}`;
}

function title(request: ApprovalRequest, kind: NoticeKind): string {
  return `${kind === "escalation" ? "Escalated, approval needed" : "Approval needed"}: ${request.tool}`;
}

/** The plain-text message (Slack's notification text and the fallback of the blocks). */
export function noticeText(
  request: ApprovalRequest,
  consoleUrl?: string,
  kind: NoticeKind = "approvers",
): string {
  return [
    title(request, kind),
    `${request.agent} for ${who(request)} asks to ${callSummary(request)}.`,
    `Risk ${String(request.risk_score)} of 10; ${approvers(request, kind)}; ` +
      `${kind === "escalation" ? "expires" : "escalates"} at ${request.expires_at}.`,
    `Review and decide in the approver console: ${consolePage(request, consoleUrl)}`,
  ].join("\n");
}

const plain = (text: string) => ({ type: "plain_text" as const, text });

/** The Block Kit message (plain_text only; one button to the console page). */
export function noticeBlocks(
  request: ApprovalRequest,
  consoleUrl?: string,
  kind: NoticeKind = "approvers",
): SlackBlocks {
  const blocks: SlackBlocks = [
    { type: "header", text: plain(title(request, kind).slice(0, 150)) },
    { type: "section", text: plain(callSummary(request)) },
    {
      type: "section",
      fields: [
        plain(`Requester: ${who(request)}`),
        plain(`Agent: ${request.agent}`),
        plain(`Risk: ${String(request.risk_score)} of 10`),
        plain(`Approvers: ${approvers(request, kind)}`),
        plain(`Session: ${request.session_id}`),
        plain(`${kind === "escalation" ? "Expires" : "Escalates"}: ${request.expires_at}`),
      ],
    },
    {
      type: "context",
      elements: [
        plain(`Arguments digest ${request.arguments_digest}`),
        plain("Approve or deny in the console, where your identity and device are verified."),
      ],
    },
  ];
  if (consoleUrl !== undefined) {
    blocks.push({
      type: "actions",
      elements: [
        {
          type: "button",
          text: plain("Review in the console"),
          url: consolePage(request, consoleUrl),
          action_id: "open_console",
          style: "primary",
        },
      ],
    });
  }
  return blocks;
}

function traceparentFor(request: ApprovalRequest): string {
  const traceId = /^[0-9a-f]{32}$/.test(request.trace_id)
    ? request.trace_id
    : randomBytes(16).toString("hex");
  return `00-${traceId}-${randomBytes(8).toString("hex")}-01`;
}

/** A function that sends one kind of notice for a request (fire and forget). */
function createNotice(
  options: ApproverNoticeOptions,
  kind: NoticeKind,
): (request: ApprovalRequest, traceparent?: string) => void {
  const { channel, consoleUrl, killSwitch, audit, worker, now, log } = options;
  const send = async (request: ApprovalRequest, traceparent: string): Promise<void> => {
    if (channel === undefined) return;
    const state = killSwitch.state().state.kill_switch;
    if (state.all_writes || state.connectors.includes("slack")) return;
    const args = {
      channel,
      text: noticeText(request, consoleUrl, kind),
      blocks: noticeBlocks(request, consoleUrl, kind),
    };
    await audit.append({
      timestamp: new Date(now()).toISOString(),
      event: "notification",
      decision_id: request.id,
      trace_id: request.trace_id,
      agent: "zyx-agent-gateway",
      tool: "slack_post_message",
      arguments: args,
      details: {
        approval_id: request.id,
        purpose: kind === "escalation" ? "fallback_approvers_notified" : "approvers_notified",
      },
    });
    await worker.execute({
      tool: "slack_post_message",
      arguments: args,
      argumentsDigest: argumentsDigest(args),
      decisionId: request.id,
      traceparent,
      user: "system:approvals",
      agent: "zyx-agent-gateway",
    });
  };
  return (request, traceparent) => {
    send(request, traceparent ?? traceparentFor(request)).catch((error: unknown) => {
      log("error", `approval notification failed (${kind})`, { error: String(error) });
    });
  };
}

/** Notifies the approvers of a new request. */
export function createApproverNotice(
  options: ApproverNoticeOptions,
): (request: ApprovalRequest, traceparent: string) => void {
  return createNotice(options, "approvers");
}

/** Notifies the fallback group of a request that escalated to it. */
export function createEscalationNotice(
  options: ApproverNoticeOptions,
): (request: ApprovalRequest) => void {
  return createNotice(options, "escalation");
}
