// The approvers' API: read a request (optionally waiting for it to be decided), approve it,
// deny it. Approvers act with their own verified token and posture; the service enforces who
// may approve (in the decision's groups, distinct, never the requester, compliant device).
//
// Each request, failing closed: body limit (413) → a body, if any, only as application/json
// (415; approve takes none) → caller (401/503) → id (400 unless a UUID) → who may act (403)
// → body (deny: 400 malformed) → the service (its ApprovalErrors).
// Errors are thrown; the app's one onError renders them (lib/problem.ts).
import { Hono, type Context } from "hono";
import { ADMIN_BODY_LIMIT_BYTES, ApprovalPath, ApprovalWait, DenyBody } from "../http/contract.ts";
import type { VerifiedPosture, VerifiedPrincipal } from "../identity/types.ts";
import { limitJsonBody, parseJson, parseWith } from "../lib/body.ts";
import { checkSourceOf, type SourceOf } from "../lib/client-address.ts";
import { GatewayError } from "../lib/errors.ts";
import type { ApprovalRequest } from "./request.ts";
import { approverAt, type ApprovalService } from "./service.ts";
import { approvalView } from "./view.ts";

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
  /** Throws unless the approver's device posture is recent enough to approve (not to deny). */
  checkApproverDevice: (posture: VerifiedPosture) => void;
  /** Where a request came from (lib/client-address.ts sourceOf), recorded with the approval. */
  sourceOf?: SourceOf | undefined;
  /**
   * Runs after a denial: a rejected post-hoc review's compensation (posthoc/compensate.ts).
   * Answers the request as it then stands. Absent: a denial only ends the request.
   */
  afterDeny?: (request: ApprovalRequest, approver: VerifiedPrincipal) => Promise<ApprovalRequest>;
}

const MAX_WAIT_SECONDS = 60;

function approvalId(c: Context): string {
  return parseWith(ApprovalPath, c.req.param(), "an approval id is a UUID").id;
}

export function createApprovalRoutes(options: ApprovalRoutesOptions): Hono {
  const { approvals, authenticate, checkApprover } = options;
  checkSourceOf(options.sourceOf);
  const fromWhere = (c: Context, principal: VerifiedPrincipal) =>
    approverAt(principal, options.sourceOf?.(c));
  const readers = new Set(options.readerGroups ?? ["grp-ai-security-admins"]);
  const app = new Hono();

  const load = async (id: string): Promise<ApprovalRequest> => {
    const request = await approvals.get(id);
    if (request === undefined)
      throw new GatewayError("approval_not_found", `no approval request ${id}`);
    return request;
  };

  app.get("/approvals/:id", async (c) => {
    const { principal } = await authenticate(c);
    const id = approvalId(c);
    const { wait } = parseWith(ApprovalWait, c.req.query(), "wait is a number of seconds");
    let request = await load(id);
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
    if (wait !== undefined && wait > 0) {
      request = await approvals.waitFor(request.id, Math.min(wait, MAX_WAIT_SECONDS) * 1000);
    }
    return c.json(approvalView(request));
  });

  app.post("/approvals/:id/approve", limitJsonBody(ADMIN_BODY_LIMIT_BYTES), async (c) => {
    const { principal, posture } = await authenticate(c);
    const id = approvalId(c);
    checkApprover(principal);
    options.checkApproverDevice(posture);
    const updated = await approvals.approve(id, fromWhere(c, principal), posture.compliant);
    return c.json(approvalView(updated));
  });

  app.post("/approvals/:id/deny", limitJsonBody(ADMIN_BODY_LIMIT_BYTES), async (c) => {
    const { principal, posture } = await authenticate(c);
    const id = approvalId(c);
    checkApprover(principal);
    const deviceTrusted = trustedDevice(options.checkApproverDevice, posture);
    const body = parseWith(
      DenyBody,
      parseJson(await c.req.text()),
      'give a reason: {"reason": "..."}',
    );
    const denied = await approvals.deny(id, fromWhere(c, principal), body.reason, deviceTrusted);
    const updated =
      options.afterDeny === undefined ? denied : await options.afterDeny(denied, principal);
    return c.json(approvalView(updated));
  });

  return app;
}

/**
 * Whether the approver's device passes what an approval asks (compliant, posture fresh): a
 * post-hoc review's denial needs it (approvals/service.ts), a waiting request's does not.
 */
export function trustedDevice(
  checkApproverDevice: (posture: VerifiedPosture) => void,
  posture: VerifiedPosture,
): boolean {
  if (!posture.compliant) return false;
  try {
    checkApproverDevice(posture);
    return true;
  } catch {
    return false;
  }
}
