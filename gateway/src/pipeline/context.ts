// The types the tool-call pipeline shares: the ports it drives, what a front door hands it, and
// the call context that each step extends. A front door (REST today, MCP next) builds a
// `CallRequest` and renders the `CallAnswer` or the thrown GatewayError; everything between
// (identity, arguments, limits, approvals, the decision, the audit, the hand-off) happens in the
// pipeline, identically for every door.
import type { Log } from "../../../common/service.ts";
import type { ToolName } from "../../../common/catalog.ts";
import type { ApprovalRequest } from "../approvals/request.ts";
import type { ApprovalService } from "../approvals/service.ts";
import type { AuditRecordInput } from "../audit/record.ts";
import type { WorkerClient } from "../handoff/worker-client.ts";
import type {
  AccessTokenVerifier,
  PostureVerifier,
  VerifiedPosture,
  VerifiedPrincipal,
} from "../identity/types.ts";
import type { KillSwitch } from "../killswitch/service.ts";
import type { TraceContext } from "../lib/trace.ts";
import type { DenialMonitor } from "../limits/denial-monitor.ts";
import type { CallLimiter } from "../limits/rate-limiter.ts";
import type { ApproverInput, Decision, DecisionInput } from "../policy/decision.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import type { SessionSignals, TaintAdmin } from "../session.ts";
import type { ToolCallBody } from "../http/contract.ts";
import type { RefusalRecorder } from "./refusals.ts";
import type { CallSource } from "../lib/client-address.ts";

export interface AuditSink {
  /**
   * Makes the record durable, secrets masked and sizes bounded (the audit log does both for
   * every field, so callers hand it the values as they are).
   */
  append(record: AuditRecordInput): Promise<unknown>;
  healthy(): boolean;
}

export interface GatewayPorts {
  policy: PolicyEngine;
  accessTokens: AccessTokenVerifier;
  posture: PostureVerifier;
  audit: AuditSink;
  worker: WorkerClient;
  sessions: SessionSignals;
  /** The security admins' handle on taints (/v1/admin/taints); absent: those routes answer 404. */
  taints?: TaintAdmin & Pick<SessionSignals, "isTainted">;
  /** Sliding-window call limits per agent, user and tool (policy data "limits"). */
  limiter: CallLimiter;
  /** Suspends an agent through the kill switch after too many denials. */
  denials: DenialMonitor;
  /** Mounted under /v1/admin for the security-admin group. */
  killSwitch: KillSwitch;
  /** Human approval of calls the policy will not allow alone. */
  approvals: ApprovalService;
  /** The approvers' Slack channel (policy data approvals.notify_channel). */
  approvalsChannel?: string;
  /** How long an approved call may wait to be executed (default: 5 minutes). */
  approvalExecutionWindowMs?: number;
  /** Most requests one user, and one agent, may have waiting at once (default 5 and 20). */
  approvalPendingBounds?: { perUser: number; perAgent: number };
}

/** What the pipeline needs besides the ports: the clock, ids, the log, the approvers' notice. */
/** Runs a rejected review's compensation (posthoc/compensate.ts), bound late by the app. */
export type InFlightCompensator = (
  review: ApprovalRequest,
  reviewer: { subject: string; email?: string | undefined; groups: readonly string[] },
) => Promise<ApprovalRequest>;

export interface PipelineRuntime {
  now: () => number;
  newId: () => string;
  log: Log;
  notifyApprovers: (request: ApprovalRequest, traceparent: string) => void;
  /** Runs a rejected post-hoc review's compensation (a rejection that landed mid-call). */
  compensate?: InFlightCompensator;
  /** Audits refusals no step recorded; counts those before identity. */
  refusals: RefusalRecorder;
}

/** The credentials a caller presents, whichever door it came through. */
export interface Credentials {
  /** The Authorization header. */
  authorization: string | undefined;
  /** The X-Device-Posture header. */
  posture: string | undefined;
}

/** One tool call as a front door hands it over. */
export interface CallRequest {
  /** Which front door the call came through (recorded in the audit); "system": the gateway's own. */
  door: "rest" | "mcp" | "system";
  tool: string;
  credentials: Credentials;
  /** The W3C traceparent header, if any. */
  traceparent: string | undefined;
  /** Reads the call's body ({arguments, session_id, approval_id?, context?}): after identity. */
  readBody: () => Promise<unknown>;
  /** Over MCP: the MCP session and the client's declared name (labels for the audit only). */
  mcp?: McpCallMetadata;
  /**
   * Where the call came from (lib/client-address.ts), read once by the door; recorded in every
   * record of the call, never an input to a decision. Absent: no socket address (tests, system).
   */
  source?: CallSource | undefined;
}

/** What the MCP door knows of the connection; recorded, never an input to a decision. */
export interface McpCallMetadata {
  /** The Mcp-Session-Id the gateway issued at initialize, if the client sent it back. */
  session: string | undefined;
  /** clientInfo.name from initialize, as the client declared it (not verified). */
  client: string | undefined;
}

/** After `authenticate`. */
export interface Authenticated {
  request: CallRequest;
  trace: TraceContext;
  /** performance.now() when the call arrived. */
  started: number;
  principal: VerifiedPrincipal;
  posture: VerifiedPosture;
}

/** After `parse`. */
export interface Parsed extends Authenticated {
  body: ToolCallBody;
  tool: ToolName;
  args: Record<string, unknown>;
  /** argumentsDigest(args): what an approval binds and the worker checks. */
  digest: string;
  sessionId: string;
  /** The taint follows the verified user and agent too, not only the caller's session id. */
  actorKey: string;
  workflow: string;
}

/** After `useApproval`. */
export interface Approved extends Parsed {
  /** The approval request this call executes under, if it names one. */
  approved: ApprovalRequest | undefined;
  /**
   * Only on the gateway's own calls (a post-hoc compensation, never a caller's): the policy
   * sees `context.system_call` and these approvers (the reviewer who rejected the call).
   */
  system?: { approvers: readonly ApproverInput[] };
}

/** After `decide`. */
export interface Decided extends Approved {
  decisionId: string;
  input: DecisionInput;
  decision: Decision;
  /** The kill switch's applied generation when the policy decided (read before it did). */
  killSwitchGeneration: number;
  /** The decision's audit record, durable before anything acts (see record.ts). */
  decided: AuditRecordInput;
  /**
   * The members every later record of this call (outcome, alert) starts from: the decision
   * record without `decision_input`, which the decision record alone carries (found by
   * decision_id): the policy input is not serialised, masked and hashed twice per call.
   */
  followUp: AuditRecordInput;
  /** Told once the decision record is durable (the decision log's observer). */
  recorded?: (() => void) | undefined;
}

/** What the pipeline answers when nothing failed. Failures are thrown as GatewayErrors. */
export type CallAnswer =
  | {
      status: 200;
      body: {
        decision_id: string;
        trace_id: string;
        result: unknown;
        evidence?: unknown;
        compensation?: Record<string, unknown>;
        /** A post-hoc call: the review its approvers now decide. */
        review?: { approval_id: string; status_url: string; mode: "post_hoc" };
      };
    }
  | { status: 202; body: Record<string, unknown>; location: string };
