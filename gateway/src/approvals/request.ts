// The approval request: one tool call that the policy would allow only with human approval,
// bound to its exact arguments (their canonical digest) and to everything the decision said.
//
// Times are ISO 8601 UTC strings with milliseconds (`new Date(ms).toISOString()`), so a record
// reads the same in the API, the audit log and both stores.
import { z } from "zod";
import { IDENTITY_LIMITS } from "../identity/types.ts";
import { ARGUMENTS_DIGEST } from "../../../common/canonical.ts";

export const APPROVAL_STATUSES = [
  "pending",
  "escalated",
  "approved",
  "denied",
  "expired",
  "executing",
  "executed",
  "failed",
] as const;

export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** The statuses in which approvers may still act (and the sweep may move the request on). */
export const OPEN_STATUSES = ["pending", "escalated"] as const satisfies readonly ApprovalStatus[];

export function isOpen(status: ApprovalStatus): status is (typeof OPEN_STATUSES)[number] {
  return status === "pending" || status === "escalated";
}

const UUID = z.uuid();
const Timestamp = z.iso.datetime();
const Subject = z.string().min(1).max(IDENTITY_LIMITS.subject);
const Email = z.string().min(1).max(IDENTITY_LIMITS.email);
const Groups = z.array(z.string().min(1).max(IDENTITY_LIMITS.group)).max(IDENTITY_LIMITS.groups);

/** The identity of a requester or an approver, from a verified token (its bounds: IDENTITY_LIMITS). */
export const Person = z.strictObject({
  subject: Subject,
  email: Email.optional(),
  groups: Groups,
});

export const Approval = Person.extend({ at: Timestamp });

export const Denial = z.strictObject({
  subject: Subject,
  /** The denier's email (absent on older requests): a kill switch may name them by it. */
  email: Email.optional(),
  /**
   * The denier's verified groups at the time (absent on requests denied before they were kept):
   * what the policy needs to run a post-hoc review's compensation when the rejection landed
   * while the call was still running.
   */
  groups: Groups.optional(),
  reason: z.string().max(2_000),
  at: Timestamp,
});

/** What happened when the approved call ran (or failed to). */
export const ExecutionResult = z.strictObject({
  /**
   * "unknown": a write whose worker gave no definite answer (the gateway's wait ran out, or the
   * worker stopped it at the deadline): it may have taken effect, and a person must look.
   */
  status: z.enum(["executed", "failed", "unknown"]),
  /** The decision taken again at execution time. */
  decision_id: z.string().min(1).max(200).optional(),
  /** A stable error code when it failed (policy_denied, worker_timeout...). */
  code: z.string().min(1).max(200).optional(),
  http_status: z.number().int().min(100).max(599).optional(),
  /** A short human summary; never the tool's output itself. */
  detail: z.string().max(2_000).optional(),
});

/** The call that undoes a post-hoc call, from the worker's compensation handle. */
export const Compensation = z.strictObject({
  tool: z.string().min(1).max(200),
  arguments: z.record(z.string(), z.unknown()),
});

/** What became of the compensation after a post-hoc review was rejected. */
export const CompensationResult = z.strictObject({
  status: z.enum(["executed", "failed", "unavailable"]),
  decision_id: z.string().min(1).max(200).optional(),
  code: z.string().min(1).max(200).optional(),
  http_status: z.number().int().min(100).max(599).optional(),
  at: z.iso.datetime(),
  /** How many times it has been tried (absent: once). */
  attempts: z.number().int().min(1).max(100).optional(),
  /** A failure that may pass (the worker down...): when the sweeper tries again. */
  retry_at: z.iso.datetime().optional(),
});

export const ApprovalRequest = z.strictObject({
  id: UUID,
  status: z.enum(APPROVAL_STATUSES),
  tool: z.string().min(1).max(200),
  /** The exact arguments of the call, as validated by the tool's schema. */
  arguments: z.record(z.string(), z.unknown()),
  /** argumentsDigest(arguments): execution must present the same digest. */
  arguments_digest: z.string().regex(ARGUMENTS_DIGEST),
  requester: Person,
  agent: z.string().min(1).max(IDENTITY_LIMITS.agent),
  session_id: z.string().min(1).max(200),
  workflow: z.string().max(200),
  policy_revision: z.string().min(1).max(200),
  risk_score: z.number().int().min(0).max(10),
  approvers_required: z.union([z.literal(1), z.literal(2)]),
  approver_groups: z.array(z.string().min(1).max(256)).min(1).max(64),
  fallback_groups: z.array(z.string().min(1).max(256)).max(64),
  approvals: z.array(Approval).max(2),
  denial: Denial.optional(),
  decision_id: z.string().min(1).max(200),
  trace_id: z.string().min(1).max(200),
  created_at: Timestamp,
  /** While pending: when it escalates; while escalated: when it expires. */
  expires_at: Timestamp,
  escalated_at: Timestamp.optional(),
  decided_at: Timestamp.optional(),
  executed_at: Timestamp.optional(),
  result: ExecutionResult.optional(),
  /**
   * "post_hoc": the call ran when the request was opened, and this is its review: approving
   * closes it, denying runs `compensation`. Absent: approval before execution.
   */
  mode: z.literal("post_hoc").optional(),
  compensation: Compensation.optional(),
  compensation_result: CompensationResult.optional(),
  /** Incremented by every write; the compare-and-set key. */
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

export type Person = z.infer<typeof Person>;
export type Approval = z.infer<typeof Approval>;
export type Denial = z.infer<typeof Denial>;
export type ExecutionResult = z.infer<typeof ExecutionResult>;
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;
export type Compensation = z.infer<typeof Compensation>;
export type CompensationResult = z.infer<typeof CompensationResult>;

/** Tries of a compensation in all, the first included, for failures that may pass. */
export const COMPENSATION_MAX_ATTEMPTS = 5;

/** After a denial, how long the deny route has to compensate before the sweeper steps in. */
export const COMPENSATION_GRACE_MS = 30_000;

/**
 * When a rejected post-hoc review's compensation is due (epoch ms), or null when none is: never
 * tried (the denial plus a grace period: the deny route runs it at once, and a crash or an
 * audit outage between the denial and its compensation is caught up), or failed with a retry
 * scheduled. A column of the store, so that the sweeper finds them with an index.
 */
export function compensationDueMs(request: ApprovalRequest): number | null {
  if (request.mode !== "post_hoc" || request.status !== "denied") return null;
  if (request.result?.status !== "executed" || request.compensation === undefined) return null;
  const done = request.compensation_result;
  if (done === undefined) {
    return epochMs(request.decided_at ?? request.created_at) + COMPENSATION_GRACE_MS;
  }
  return done.status === "failed" && done.retry_at !== undefined ? epochMs(done.retry_at) : null;
}

/** Epoch milliseconds of an ISO timestamp of a checked record. */
export function epochMs(timestamp: string): number {
  return Date.parse(timestamp);
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
