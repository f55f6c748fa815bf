// Tells the approvers that a call waits for them, through the worker's Slack connector.
//
// This is the system's own write, outside the policy (no agent asked for it), so it keeps the
// rules a write must keep without one: it obeys the kill switch for Slack and for all writes,
// and its audit record is durable before the message is sent. Best effort: a failure is logged,
// never thrown into the call that opened the request (that call is already answered 202).
import { argumentsDigest } from "../../../common/canonical.ts";
import type { Log } from "../../../common/service.ts";
import type { AuditRecordInput } from "../audit/record.ts";
import type { WorkerClient } from "../handoff/worker-client.ts";
import type { KillSwitch } from "../killswitch/service.ts";
import type { ApprovalRequest } from "./request.ts";

export interface ApproverNoticeOptions {
  /** The approvers' Slack channel; no channel, no notice. */
  channel: string | undefined;
  killSwitch: Pick<KillSwitch, "state">;
  audit: { append(record: AuditRecordInput): Promise<unknown> };
  worker: Pick<WorkerClient, "execute">;
  now: () => number;
  log: Log;
}

export function noticeText(request: ApprovalRequest): string {
  return (
    `Approval needed: ${request.agent} for ${request.requester.email ?? request.requester.subject} ` +
    `asks to run ${request.tool} (risk ${String(request.risk_score)}, ${String(request.approvers_required)} approver(s) ` +
    `from ${request.approver_groups.join(", ")}). Review: /v1/approvals/${request.id}`
  );
}

/** A function that notifies the approvers of `request` (fire and forget). */
export function createApproverNotice(
  options: ApproverNoticeOptions,
): (request: ApprovalRequest, traceparent: string) => void {
  const { channel, killSwitch, audit, worker, now, log } = options;
  const send = async (request: ApprovalRequest, traceparent: string): Promise<void> => {
    if (channel === undefined) return;
    const state = killSwitch.state().state.kill_switch;
    if (state.all_writes || state.connectors.includes("slack")) return;
    const args = { channel, text: noticeText(request) };
    await audit.append({
      timestamp: new Date(now()).toISOString(),
      event: "notification",
      decision_id: request.id,
      trace_id: request.trace_id,
      agent: "zyx-agent-gateway",
      tool: "slack_post_message",
      arguments: args,
      details: { approval_id: request.id, purpose: "approvers_notified" },
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
    send(request, traceparent).catch((error: unknown) => {
      log("error", "approval notification failed", { error: String(error) });
    });
  };
}
