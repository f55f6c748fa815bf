// The approvers' API: read a request (optionally waiting for it to be decided), approve it,
// deny it. Approvers act with their own verified token and posture; the service enforces who
// may approve (in the decision's groups, distinct, never the requester, compliant device).
import { Hono, type Context } from "hono";
import { z } from "zod";
import type { VerifiedPosture, VerifiedPrincipal } from "../identity/types.ts";
import { GatewayError, type ErrorCode } from "../lib/errors.ts";
import { isApprovalError, type ApprovalErrorCode } from "./errors.ts";
import type { ApprovalRequest } from "./request.ts";
import type { ApprovalService } from "./service.ts";

export interface ApprovalRoutesOptions {
  approvals: ApprovalService;
  /** The verified caller and their device posture (throws the gateway's 401 errors). */
  authenticate: (c: Context) => Promise<{ principal: VerifiedPrincipal; posture: VerifiedPosture }>;
  /** Groups that may read any request (security administrators). */
  readerGroups?: readonly string[];
  /**
   * Throws unless the caller may act as an approver at all: a person through a human console
   * (never an agent acting for them), not disabled by the kill switch.
   */
  checkApprover: (principal: VerifiedPrincipal) => void;
}

const GATEWAY_CODE: Partial<Record<ApprovalErrorCode, ErrorCode>> = {
  approval_not_found: "approval_not_found",
  approval_not_open: "approval_not_open",
  approval_not_approved: "approval_not_approved",
  approval_already_executed: "approval_already_executed",
  approval_arguments_mismatch: "approval_arguments_mismatch",
  approver_not_eligible: "approver_not_eligible",
  approver_is_requester: "approver_is_requester",
  approver_already_approved: "approver_already_approved",
  approver_device_not_compliant: "approver_device_not_compliant",
  approval_conflict: "approval_conflict",
  approval_store_unavailable: "approval_store_unavailable",
  audit_unavailable: "audit_unavailable",
};

/** An approval error as the gateway's: known codes keep theirs, anything else is internal. */
export function asGatewayError(thrown: unknown): unknown {
  if (!isApprovalError(thrown)) return thrown;
  const code = GATEWAY_CODE[thrown.code] ?? "internal_error";
  return new GatewayError(code, thrown.message, { cause: thrown });
}

/** Awaits an approval operation, its errors turned into the gateway's. */
export async function approvalCall<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (thrown) {
    throw asGatewayError(thrown);
  }
}

/** What a caller sees of a request. */
export function view(request: ApprovalRequest): Record<string, unknown> {
  return {
    approval_id: request.id,
    status: request.status,
    status_url: `/v1/approvals/${request.id}`,
    tool: request.tool,
    arguments: request.arguments,
    arguments_digest: request.arguments_digest,
    requester: request.requester,
    agent: request.agent,
    session_id: request.session_id,
    risk_score: request.risk_score,
    approvers_required: request.approvers_required,
    approver_groups: request.approver_groups,
    fallback_groups: request.fallback_groups,
    approvals: request.approvals.map((a) => ({ subject: a.subject, at: a.at })),
    ...(request.denial === undefined ? {} : { denial: request.denial }),
    created_at: request.created_at,
    expires_at: request.expires_at,
    decision_id: request.decision_id,
    trace_id: request.trace_id,
    ...(request.result === undefined ? {} : { result: request.result }),
  };
}

const Deny = z.strictObject({ reason: z.string().trim().min(1).max(2_000) });
const MAX_WAIT_SECONDS = 60;

export function createApprovalRoutes(options: ApprovalRoutesOptions): Hono {
  const { approvals, authenticate, checkApprover } = options;
  const readers = new Set(options.readerGroups ?? ["grp-ai-security-admins"]);
  const app = new Hono();

  const load = async (id: string): Promise<ApprovalRequest> => {
    const request = await approvalCall(approvals.get(id));
    if (request === undefined)
      throw new GatewayError("approval_not_found", `no approval request ${id.slice(0, 64)}`);
    return request;
  };

  app.get("/approvals/:id", async (c) => {
    const { principal } = await authenticate(c);
    let request = await load(c.req.param("id"));
    const groups = new Set([...request.approver_groups, ...request.fallback_groups]);
    // The requester's own agent may wait on its request; anyone else reads as a person.
    const requester =
      request.requester.subject === principal.subject && request.agent === principal.agent;
    if (!requester) {
      if (!principal.groups.some((g) => groups.has(g) || readers.has(g))) {
        throw new GatewayError(
          "approval_not_yours",
          "only the requester and its approvers may read it",
        );
      }
      checkApprover(principal);
    }
    const wait = Number(c.req.query("wait") ?? "0");
    if (Number.isFinite(wait) && wait > 0) {
      request = await approvalCall(
        approvals.waitFor(request.id, Math.min(wait, MAX_WAIT_SECONDS) * 1000),
      );
    }
    return c.json(view(request));
  });

  app.post("/approvals/:id/approve", async (c) => {
    const { principal, posture } = await authenticate(c);
    checkApprover(principal);
    const updated = await approvalCall(
      approvals.approve(c.req.param("id"), principal, posture.compliant),
    );
    return c.json(view(updated));
  });

  app.post("/approvals/:id/deny", async (c) => {
    const { principal } = await authenticate(c);
    checkApprover(principal);
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      throw new GatewayError("request_malformed", "the request body is not JSON");
    }
    const body = Deny.safeParse(json);
    if (!body.success)
      throw new GatewayError("request_malformed", 'give a reason: {"reason": "..."}');
    const updated = await approvalCall(
      approvals.deny(c.req.param("id"), principal, body.data.reason),
    );
    return c.json(view(updated));
  });

  return app;
}
