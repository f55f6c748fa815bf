// The approval state machine, over an ApprovalStore:
//
//   pending ──approve×n──▶ approved ──claim──▶ executing ──▶ executed | failed
//      │  └──deny──▶ denied
//      └──expires_at──▶ escalated (once; fallback groups join) ──expires_at──▶ expired
//                          ├──approve×n──▶ approved
//                          └──deny──▶ denied
//
// A post-hoc review (mode "post_hoc") is opened as the call runs: pending, with the call's
// outcome then recorded on it (settle_post_hoc: its compensation handle, or "failed" when the
// call failed, which leaves nothing to review). Approve closes it ("approved", never claimable);
// deny makes it "denied", and the gateway then runs the compensation and records what became of
// it once (mark_compensated).
//
// Every write is a compare-and-set on the record's version. A transition that loses the race
// re-reads the request and decides again on what is now stored, so two approvers racing cannot
// both complete a one-approver request, and an approved request is claimed for execution once.
//
// Audit first, then write. Each transition is handed to `audit` BEFORE the store is written; if
// the audit callback throws, the store is untouched and the operation fails with
// audit_unavailable: no approval, denial or execution exists that the audit log does not show.
// (The opposite order would need an undo, and between the write and the undo another process
// could already act on the unaudited state, e.g. claim an approval for execution.) The cost of
// this order is that an audited transition may then fail to be written (another process won the
// compare-and-set, or the store failed); the service then appends an "aborted" record naming the
// same transition_id, so the log says which audited transitions never took effect. Within one
// process the transitions of one request are serialized, so that only happens when several
// processes share a PostgreSQL store. Refused operations (self-approval, an approver outside the
// groups, a replayed execution...) are audited too, with outcome "refused" and the error code.
//
// Expiry is enforced twice: by `sweep` (the gateway runs it periodically; it escalates and
// expires what is due), and lazily, as an approval or a denial first applies any transition
// that is due, so an approver acting after the deadline finds the request as the sweep would
// have left it.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { argumentsDigest } from "../../../common/canonical.ts";
import type { CallSource } from "../lib/client-address.ts";
import type { AuditRecordInput } from "../audit/record.ts";
import { recorded } from "../lib/errors.ts";
import { ApprovalError, describeError, isApprovalError } from "./errors.ts";
import type {
  ApprovalRequest,
  Compensation,
  CompensationResult,
  ExecutionResult,
} from "./request.ts";
import {
  ApprovalRequest as ApprovalRequestSchema,
  COMPENSATION_MAX_ATTEMPTS,
  Person,
  epochMs,
  isOpen,
  isoTime,
} from "./request.ts";
import type { ApprovalStore, OpenFilter } from "./store.ts";
import { executionRefusal } from "./use.ts";

/** A verified principal acting on a request (a VerifiedPrincipal fits; extra members ignored). */
export interface Approver {
  subject: string;
  email?: string | undefined;
  groups: readonly string[];
  /**
   * Where the approver's request came from (lib/client-address.ts), for the audit record of
   * what they did; never stored with the request.
   */
  source?: CallSource | undefined;
}

/** What the gateway knows when a decision requires approval. */
export interface NewApprovalRequest {
  tool: string;
  /** The validated arguments; stored exactly, digested canonically. */
  arguments: Readonly<Record<string, unknown>>;
  requester: Approver;
  agent: string;
  session_id: string;
  workflow: string;
  policy_revision: string;
  risk_score: number;
  approvers_required: 1 | 2;
  approver_groups: readonly string[];
  fallback_groups: readonly string[];
  decision_id: string;
  trace_id: string;
  /** "post_hoc": the call runs now; the approvers review it afterwards. */
  mode?: "post_hoc";
}

/** What a post-hoc call did: its compensation handle, or its failure. */
export type PostHocOutcome =
  | { status: "executed"; decision_id: string; compensation: Compensation | undefined }
  | { status: "failed" | "unknown"; decision_id: string; code: string; http_status: number };

/** How the approved call ended (recorded in the request's `result`). */
export interface ExecutionOutcome {
  /** The decision taken again at execution time. */
  decision_id?: string | undefined;
  code?: string | undefined;
  http_status?: number | undefined;
  detail?: string | undefined;
  /** markFailed: the call may have taken effect (result.status "unknown"). */
  unknown?: boolean | undefined;
}

export interface SweepResult {
  /** Ids escalated to their fallback groups. */
  escalated: string[];
  /** Ids expired. */
  expired: string[];
}

export type ApprovalAudit = (record: AuditRecordInput) => Promise<unknown>;

export interface ApprovalServiceOptions {
  store: ApprovalStore;
  /** The clock, epoch milliseconds (frozen in tests). */
  now: () => number;
  /** New request and transition ids: UUIDs (default crypto.randomUUID). */
  newId?: () => string;
  /** How long approvers have before the request escalates (then as long again, see below). */
  expirySeconds: number;
  /** How long the fallback approvers have once it escalated. */
  escalationSeconds: number;
  /**
   * How long a post-hoc review stays open for a rejection, from its call (default: as any
   * request, expiry then escalation). It escalates as any request does; it expires only then:
   * a call made at night is still reviewed, and undone, in the morning.
   */
  reviewSeconds?: number | undefined;
  /** Writes one audit record durably; the gateway passes its AuditLog.append. */
  audit: ApprovalAudit;
  /** waitFor re-reads the store this often, for changes made by other processes (default 250). */
  pollIntervalMs?: number;
  /** The longest waitFor, whatever the caller asks (default 60000). */
  maxWaitMs?: number;
  /** Compare-and-set attempts per operation before approval_conflict (default 8). */
  maxAttempts?: number;
  /** Requests handled per sweep (default 500; the next sweep takes the rest). */
  sweepBatch?: number;
}

export interface ApprovalService {
  /** Records a pending request bound to the exact call; expires_at = now + expirySeconds. */
  request(input: NewApprovalRequest): Promise<ApprovalRequest>;
  /** The stored request, or undefined. */
  get(id: string): Promise<ApprovalRequest | undefined>;
  /** Every open request, the soonest deadline first, at most `limit` (the approver console). */
  listAllOpen(limit: number): Promise<ApprovalRequest[]>;
  /** Open requests of one requester subject or one agent, oldest first (store.listOpen). */
  listOpen(by: OpenFilter, limit?: number): Promise<ApprovalRequest[]>;
  /**
   * Records one approval. Refusals: approval_not_found, approval_not_open,
   * approver_is_requester, approver_not_eligible, approver_device_not_compliant,
   * approver_already_approved. "approved" once approvers_required distinct approvers agreed.
   */
  approve(
    id: string,
    approver: Approver,
    devicePostureCompliant: boolean,
  ): Promise<ApprovalRequest>;
  /**
   * Any eligible approver's denial ends the request ("denied"). For a request that waits, the
   * device is not required to be compliant: that denial only ever stops a call. A post-hoc
   * review's denial runs a compensating write, so it needs what an approval needs
   * (approver_device_not_compliant otherwise): `deviceTrusted`, the device compliant and its
   * posture fresh (default false: fail closed).
   */
  deny(
    id: string,
    approver: Approver,
    reason: string,
    deviceTrusted?: boolean,
  ): Promise<ApprovalRequest>;
  /** Escalates (once) or expires every open request due at `nowMs` (default now()). */
  sweep(nowMs?: number): Promise<SweepResult>;
  /**
   * Calls `listener` with every request this service escalates, whether the sweep did it or an
   * operation on the request found the escalation due and applied it first (its fallback
   * approvers are told either way). Returns the function that removes it.
   */
  onEscalated(listener: (request: ApprovalRequest) => void): () => void;
  /**
   * Moves an "approved" request bound to `digest` to "executing", once. Refusals:
   * approval_not_found, approval_already_executed, approval_arguments_mismatch,
   * approval_not_approved.
   */
  claimForExecution(id: string, digest: string): Promise<ApprovalRequest>;
  /** executing → executed (approval_not_executing otherwise). */
  markExecuted(id: string, outcome: ExecutionOutcome): Promise<ApprovalRequest>;
  /** executing → failed (approval_not_executing otherwise). */
  markFailed(id: string, outcome: ExecutionOutcome): Promise<ApprovalRequest>;
  /**
   * Records what a post-hoc call did, once: its compensation handle (the review stays open), its
   * failure (the review ends "failed"), or an unknown outcome (the review stays open, with no
   * handle: a person checks whether it took effect). approval_not_open when already settled or
   * decided.
   */
  settlePostHoc(id: string, outcome: PostHocOutcome): Promise<ApprovalRequest>;
  /**
   * Records what became of the compensation of a rejected post-hoc review: over nothing yet, or
   * over the caller's own lease (claimCompensation; `attempts` must be the lease's).
   * approval_not_open otherwise.
   */
  markCompensated(id: string, result: Omit<CompensationResult, "at">): Promise<ApprovalRequest>;
  /** Rejected post-hoc reviews whose compensation is due (never run, or a retry due), at most 100. */
  compensationsDue(nowMs?: number): Promise<ApprovalRequest[]>;
  /**
   * Claims the compensation of a rejected review before it runs, for one runner across
   * replicas: never tried, or a retry that is due. Writes a lease (a "running" failure whose
   * `retry_at` is `leaseMs` away: a runner that dies is retried after it). approval_not_open
   * when another runner holds it or it is done.
   */
  claimCompensation(id: string, leaseMs: number): Promise<ApprovalRequest>;
  /**
   * Resolves with the request once it is neither pending nor escalated, or with its current
   * state after min(timeoutMs, maxWaitMs). Rejects approval_not_found.
   */
  waitFor(id: string, timeoutMs: number): Promise<ApprovalRequest>;
  /** Wakes every waitFor (each resolves with the state it last saw). For shutdown. */
  close(): void;
}

type Action =
  | "request"
  | "approve"
  | "deny"
  | "escalate"
  | "expire"
  | "claim"
  | "mark_executed"
  | "mark_failed"
  | "settle_post_hoc"
  | "claim_compensation"
  | "mark_compensated";

type Plan =
  | { kind: "refuse"; error: ApprovalError }
  | { kind: "write"; action: Action; next: ApprovalRequest; extra?: Record<string, unknown> };

const ApproverShape = Person.loose();

const DIGEST = /^[0-9a-f]{64}$/;

export function createApprovalService(options: ApprovalServiceOptions): ApprovalService {
  const { store, now, audit } = options;
  if (typeof store !== "object" || typeof store.compareAndSet !== "function") {
    throw new TypeError("store must be an ApprovalStore");
  }
  if (typeof now !== "function") throw new TypeError("now must be a function (epoch ms)");
  if (typeof audit !== "function") throw new TypeError("audit must be a function");
  const newId = options.newId ?? randomUUID;
  if (typeof newId !== "function") throw new TypeError("newId must be a function");
  const expiryMs = seconds("expirySeconds", options.expirySeconds) * 1_000;
  const escalationMs = seconds("escalationSeconds", options.escalationSeconds) * 1_000;
  const reviewMs =
    options.reviewSeconds === undefined
      ? expiryMs + escalationMs
      : seconds("reviewSeconds", options.reviewSeconds) * 1_000;
  /** When an open request may expire: its deadline, or a post-hoc review's window if later. */
  const closesAt = (
    request: Pick<ApprovalRequest, "mode" | "created_at">,
    deadlineMs: number,
  ): number =>
    request.mode === "post_hoc"
      ? Math.max(deadlineMs, epochMs(request.created_at) + reviewMs)
      : deadlineMs;
  const pollIntervalMs = integer("pollIntervalMs", options.pollIntervalMs ?? 250, 5, 60_000);
  const maxWaitMs = integer("maxWaitMs", options.maxWaitMs ?? 60_000, 0, 600_000);
  const maxAttempts = integer("maxAttempts", options.maxAttempts ?? 8, 1, 100);
  const sweepBatch = integer("sweepBatch", options.sweepBatch ?? 500, 1, 10_000);

  // ---- in-process serialization and notification ------------------------------------------

  const queues = new Map<string, Promise<void>>();

  /** Runs `work` after every earlier serialized work on the same id has finished. */
  async function serialized<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = queues.get(id) ?? Promise.resolve();
    const { promise: mine, resolve: release } = Promise.withResolvers<undefined>();
    const tail = previous.then(() => mine);
    queues.set(id, tail);
    await previous;
    try {
      return await work();
    } finally {
      release(undefined);
      if (queues.get(id) === tail) queues.delete(id);
    }
  }

  const listeners = new Map<string, Set<(request: ApprovalRequest) => void>>();

  function notify(request: ApprovalRequest): void {
    for (const listener of listeners.get(request.id) ?? []) listener(request);
  }

  const escalationListeners = new Set<(request: ApprovalRequest) => void>();

  function announceEscalation(request: ApprovalRequest): void {
    for (const listener of escalationListeners) {
      try {
        listener(request);
      } catch {
        // A listener's failure is its own (notices are best effort); the transition stands.
      }
    }
  }

  // ---- audit -------------------------------------------------------------------------------

  function baseRecord(
    nowMs: number,
    request: ApprovalRequest,
    actor: Approver | undefined,
  ): AuditRecordInput {
    return {
      timestamp: isoTime(nowMs),
      event: "approval",
      decision_id: request.decision_id,
      trace_id: request.trace_id,
      ...actorFields(actor),
      agent: request.agent,
      workflow: request.workflow,
      session_id: request.session_id,
      tool: request.tool,
      risk_score: request.risk_score,
      policy_revision: request.policy_revision,
    };
  }

  function transitionRecord(
    nowMs: number,
    current: ApprovalRequest,
    next: ApprovalRequest,
    action: Action,
    actor: Approver | undefined,
    transitionId: string,
    extra: Record<string, unknown> | undefined,
  ): AuditRecordInput {
    return {
      ...baseRecord(nowMs, next, actor),
      ...(action === "request" ? { arguments: next.arguments } : {}),
      approval: {
        required: true,
        approvers_required: next.approvers_required,
        state: next.status,
      },
      details: {
        approval_id: next.id,
        action,
        result: "applied",
        transition_id: transitionId,
        from_status: action === "request" ? null : current.status,
        to_status: next.status,
        version: action === "request" ? 1 : current.version + 1,
        actor: actor?.subject ?? "system",
        requester: personOf(next.requester),
        arguments_digest: next.arguments_digest,
        approvals: next.approvals.map((a) => a.subject),
        expires_at: next.expires_at,
        ...extra,
      },
    };
  }

  async function writeAudit(record: AuditRecordInput): Promise<void> {
    try {
      await audit(record);
    } catch (cause) {
      throw new ApprovalError(
        "audit_unavailable",
        `the approval audit record could not be written, nothing changed: ${describeError(cause)}`,
        { cause },
      );
    }
  }

  async function auditRefusal(
    id: string,
    request: ApprovalRequest | undefined,
    action: Action,
    actor: Approver | undefined,
    error: ApprovalError,
  ): Promise<never> {
    const nowMs = now();
    const record: AuditRecordInput =
      request === undefined
        ? {
            timestamp: isoTime(nowMs),
            event: "approval",
            ...actorFields(actor),
          }
        : {
            ...baseRecord(nowMs, request, actor),
            approval: {
              required: true,
              approvers_required: request.approvers_required,
              state: request.status,
            },
          };
    await writeAudit({
      ...record,
      outcome: { status: "refused", code: error.code },
      details: {
        approval_id: id,
        action,
        result: "refused",
        actor: actor?.subject ?? "system",
        message: error.message,
      },
    });
    throw recorded(error);
  }

  async function auditAborted(
    current: ApprovalRequest,
    action: Action,
    actor: Approver | undefined,
    transitionId: string,
    code: string,
    message: string,
  ): Promise<void> {
    await writeAudit({
      ...baseRecord(now(), current, actor),
      approval: {
        required: true,
        approvers_required: current.approvers_required,
        state: current.status,
      },
      outcome: { status: "aborted", code },
      details: {
        approval_id: current.id,
        action,
        result: "aborted",
        transition_id: transitionId,
        actor: actor?.subject ?? "system",
        message,
      },
    });
  }

  /**
   * Audits, then compare-and-sets one planned transition. Undefined when another writer changed
   * the request first (the caller re-reads and decides again).
   */
  async function apply(
    current: ApprovalRequest,
    plan: Extract<Plan, { kind: "write" }>,
    actor: Approver | undefined,
    nowMs: number,
  ): Promise<ApprovalRequest | undefined> {
    const transitionId = newId();
    await writeAudit(
      transitionRecord(nowMs, current, plan.next, plan.action, actor, transitionId, plan.extra),
    );
    let written: ApprovalRequest | undefined;
    try {
      written = await store.compareAndSet(current.version, plan.next);
    } catch (error) {
      const code = isApprovalError(error) ? error.code : "approval_store_unavailable";
      await auditAborted(current, plan.action, actor, transitionId, code, describeError(error));
      throw error;
    }
    if (written === undefined) {
      await auditAborted(
        current,
        plan.action,
        actor,
        transitionId,
        "approval_conflict",
        `request ${current.id} changed after version ${String(current.version)} was read`,
      );
      return undefined;
    }
    notify(written);
    if (plan.action === "escalate") announceEscalation(written);
    return written;
  }

  // ---- the transitions ---------------------------------------------------------------------

  /** The escalation or expiry due at nowMs, or undefined. */
  function duePlan(current: ApprovalRequest, nowMs: number): Plan | undefined {
    if (!isOpen(current.status) || epochMs(current.expires_at) > nowMs) return undefined;
    if (current.status === "pending" && current.fallback_groups.length > 0) {
      return {
        kind: "write",
        action: "escalate",
        next: {
          ...current,
          status: "escalated",
          escalated_at: isoTime(nowMs),
          expires_at: isoTime(closesAt(current, nowMs + escalationMs)),
        },
        extra: { fallback_groups: current.fallback_groups },
      };
    }
    return {
      kind: "write",
      action: "expire",
      next: { ...current, status: "expired", decided_at: isoTime(nowMs) },
    };
  }

  /**
   * Runs one operation on request `id`: read, apply whatever escalation or expiry is due (when
   * `settle`), decide, audit, compare-and-set; on a lost race, read again and decide again.
   */
  function operate(
    id: string,
    action: Action,
    actor: Approver | undefined,
    settle: boolean,
    decide: (current: ApprovalRequest, nowMs: number) => Plan,
  ): Promise<ApprovalRequest> {
    return serialized(id, async () => {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        const current = await store.get(id);
        if (current === undefined) {
          return auditRefusal(
            id,
            undefined,
            action,
            actor,
            new ApprovalError("approval_not_found", `no approval request ${id}`),
          );
        }
        const nowMs = now();
        const due = settle ? duePlan(current, nowMs) : undefined;
        if (due?.kind === "write") {
          // Applied as the sweep would have; then the operation is decided on the result.
          await apply(current, due, undefined, nowMs);
          continue;
        }
        const plan = decide(current, nowMs);
        if (plan.kind === "refuse") return auditRefusal(id, current, action, actor, plan.error);
        const written = await apply(current, plan, actor, nowMs);
        if (written !== undefined) return written;
      }
      throw new ApprovalError(
        "approval_conflict",
        `approval request ${id} kept changing; gave up after ${String(maxAttempts)} attempts`,
      );
    });
  }

  function refuse(code: ApprovalError["code"], message: string): Plan {
    return { kind: "refuse", error: new ApprovalError(code, message) };
  }

  /** Shared checks of approve and deny; undefined when the approver may act. */
  function approverRefusal(current: ApprovalRequest, approver: Approver): Plan | undefined {
    if (!isOpen(current.status)) {
      return refuse(
        "approval_not_open",
        `approval request ${current.id} is ${current.status}, no longer open to approvers`,
      );
    }
    if (samePerson(approver, current.requester)) {
      return refuse("approver_is_requester", "the requester cannot approve or deny their own call");
    }
    const eligible =
      current.status === "escalated"
        ? [...current.approver_groups, ...current.fallback_groups]
        : current.approver_groups;
    if (!approver.groups.some((group) => eligible.includes(group))) {
      return refuse(
        "approver_not_eligible",
        `${approver.subject} is in none of the approver groups (${eligible.join(", ")})`,
      );
    }
    return undefined;
  }

  function checkApprover(approver: Approver): Person {
    const parsed = ApproverShape.safeParse(approver);
    if (!parsed.success) {
      throw new ApprovalError("approval_invalid", `approver: ${z.prettifyError(parsed.error)}`);
    }
    const { subject, email, groups } = parsed.data;
    return email === undefined ? { subject, groups } : { subject, email, groups };
  }

  function checkId(id: string): string {
    if (typeof id !== "string" || id.length === 0 || id.length > 200) {
      throw new ApprovalError("approval_invalid", "an approval id is a non-empty string");
    }
    return id;
  }

  function finish(status: "executed" | "failed", action: Action) {
    return async (id: string, outcome: ExecutionOutcome): Promise<ApprovalRequest> => {
      checkId(id);
      // A failure whose effect is unknown ends the request "failed" (spent, never run again),
      // its result saying "unknown": a person checks before anyone asks for it again.
      const { unknown, ...rest } = outcome;
      const resultStatus = status === "failed" && unknown === true ? "unknown" : status;
      const result = ResultShape.safeParse({ status: resultStatus, ...rest });
      if (!result.success) {
        throw new ApprovalError(
          "approval_invalid",
          `execution outcome: ${z.prettifyError(result.error)}`,
        );
      }
      const summary: ExecutionResult = result.data;
      return operate(id, action, undefined, false, (current, nowMs) => {
        if (current.status !== "executing") {
          return refuse(
            "approval_not_executing",
            `approval request ${id} is ${current.status}, not executing`,
          );
        }
        return {
          kind: "write",
          action,
          next: { ...current, status, executed_at: isoTime(nowMs), result: summary },
          extra: { result_summary: summary },
        };
      });
    };
  }

  const ResultShape = ApprovalRequestSchema.shape.result.unwrap();
  const CompensationShape = ApprovalRequestSchema.shape.compensation.unwrap();
  const CompensationResultShape = ApprovalRequestSchema.shape.compensation_result.unwrap();

  function checked<T>(shape: z.ZodType<T>, value: unknown, what: string): T {
    const parsed = shape.safeParse(value);
    if (!parsed.success) {
      throw new ApprovalError("approval_invalid", `${what}: ${z.prettifyError(parsed.error)}`);
    }
    return parsed.data;
  }

  function settlePostHoc(id: string, outcome: PostHocOutcome): Promise<ApprovalRequest> {
    checkId(id);
    const compensation =
      outcome.status === "executed" && outcome.compensation !== undefined
        ? checked(CompensationShape, outcome.compensation, "compensation")
        : undefined;
    const result = checked(
      ResultShape,
      outcome.status === "executed"
        ? { status: "executed", decision_id: outcome.decision_id, http_status: 200 }
        : outcome,
      "post-hoc outcome",
    );
    return operate(id, "settle_post_hoc", undefined, false, (current, nowMs) => {
      // Denied already (an approver faster than the worker): settled all the same, and the
      // gateway compensates at once.
      const settleable = isOpen(current.status) || current.status === "denied";
      if (current.mode !== "post_hoc" || !settleable || current.result !== undefined) {
        return refuse("approval_not_open", `approval request ${id} is not an unsettled review`);
      }
      const executed = { ...current, executed_at: isoTime(nowMs), result };
      return {
        kind: "write",
        action: "settle_post_hoc",
        next:
          result.status === "failed" && current.status !== "denied"
            ? { ...executed, status: "failed", decided_at: isoTime(nowMs) }
            : compensation === undefined
              ? executed
              : { ...executed, compensation },
        extra: { result_summary: result, compensation: compensation ?? null },
      };
    });
  }

  function claimCompensation(id: string, leaseMs: number): Promise<ApprovalRequest> {
    checkId(id);
    return operate(id, "claim_compensation", undefined, false, (current, nowMs) => {
      const previous = current.compensation_result;
      const free =
        previous === undefined ||
        (previous.status === "failed" &&
          previous.retry_at !== undefined &&
          epochMs(previous.retry_at) <= nowMs);
      if (
        current.mode !== "post_hoc" ||
        current.status !== "denied" ||
        current.result?.status !== "executed" ||
        current.compensation === undefined ||
        !free
      ) {
        return refuse(
          "approval_not_open",
          `approval request ${id} has no compensation free to run`,
        );
      }
      const tried = previous?.attempts ?? 0;
      if (tried >= COMPENSATION_MAX_ATTEMPTS) {
        // Spent (the last runner died holding its lease): final, for a person to look at.
        const spent = checked(
          CompensationResultShape,
          {
            status: "failed",
            code: "compensation_attempts_exhausted",
            at: isoTime(nowMs),
            attempts: tried,
          },
          "compensation result",
        );
        return {
          kind: "write",
          action: "mark_compensated",
          next: { ...current, compensation_result: spent },
          extra: { compensation_result: spent },
        };
      }
      const lease = checked(
        CompensationResultShape,
        {
          status: "failed",
          code: "compensation_running",
          at: isoTime(nowMs),
          attempts: tried + 1,
          retry_at: isoTime(nowMs + leaseMs),
        },
        "compensation lease",
      );
      return {
        kind: "write",
        action: "claim_compensation",
        next: { ...current, compensation_result: lease },
        extra: { attempts: tried + 1 },
      };
    });
  }

  function markCompensated(
    id: string,
    input: Omit<CompensationResult, "at">,
  ): Promise<ApprovalRequest> {
    checkId(id);
    return operate(id, "mark_compensated", undefined, false, (current, nowMs) => {
      // Only over nothing yet, or over this runner's own lease (the same attempt number): a runner
      // whose lease ran out and was claimed again by another cannot overwrite it.
      const previous = current.compensation_result;
      const ownLease =
        previous?.code === "compensation_running" && previous.attempts === input.attempts;
      if (
        current.mode !== "post_hoc" ||
        current.status !== "denied" ||
        (previous !== undefined && !ownLease)
      ) {
        return refuse(
          "approval_not_open",
          `approval request ${id} is not a rejected review awaiting its compensation`,
        );
      }
      const result = checked(
        CompensationResultShape,
        { ...input, at: isoTime(nowMs) },
        "compensation result",
      );
      return {
        kind: "write",
        action: "mark_compensated",
        next: { ...current, compensation_result: result },
        extra: { compensation_result: result },
      };
    });
  }

  // ---- the service -------------------------------------------------------------------------

  let waiters = new Set<() => void>();
  let closed = false;

  return {
    async request(input) {
      const nowMs = now();
      let request: ApprovalRequest;
      try {
        const requester = checkApprover(input.requester);
        const candidate = {
          id: newId(),
          status: "pending",
          tool: input.tool,
          arguments: structuredClone(input.arguments),
          arguments_digest: argumentsDigest(input.arguments),
          requester,
          agent: input.agent,
          session_id: input.session_id,
          workflow: input.workflow,
          policy_revision: input.policy_revision,
          risk_score: input.risk_score,
          approvers_required: input.approvers_required,
          approver_groups: [...input.approver_groups],
          fallback_groups: [...input.fallback_groups],
          approvals: [],
          decision_id: input.decision_id,
          trace_id: input.trace_id,
          created_at: isoTime(nowMs),
          // With a fallback to escalate to, the first deadline; without, the last (a review's
          // window: it never escalates).
          expires_at: isoTime(
            input.fallback_groups.length > 0
              ? nowMs + expiryMs
              : closesAt({ mode: input.mode, created_at: isoTime(nowMs) }, nowMs + expiryMs),
          ),
          ...(input.mode === undefined ? {} : { mode: input.mode }),
          version: 1,
        };
        const parsed = ApprovalRequestSchema.safeParse(candidate);
        if (!parsed.success) {
          throw new ApprovalError(
            "approval_invalid",
            `approval request: ${z.prettifyError(parsed.error)}`,
          );
        }
        request = parsed.data;
      } catch (error) {
        if (isApprovalError(error)) throw error;
        throw new ApprovalError("approval_invalid", `approval request: ${describeError(error)}`, {
          cause: error,
        });
      }
      const transitionId = newId();
      await writeAudit(
        transitionRecord(nowMs, request, request, "request", request.requester, transitionId, {
          approver_groups: request.approver_groups,
          fallback_groups: request.fallback_groups,
        }),
      );
      try {
        return await store.create(request);
      } catch (error) {
        const code = isApprovalError(error) ? error.code : "approval_store_unavailable";
        await auditAborted(
          request,
          "request",
          request.requester,
          transitionId,
          code,
          describeError(error),
        );
        throw error;
      }
    },

    async get(id) {
      return await store.get(checkId(id));
    },

    async listAllOpen(limit) {
      // Every open request is "due" by the end of time: the store's deadline-ordered listing.
      return await store.listDue(Number.MAX_SAFE_INTEGER, limit);
    },

    async listOpen(by, limit) {
      return await store.listOpen(by, limit);
    },

    async approve(id, approverInput, devicePostureCompliant) {
      checkId(id);
      const approver = checkApprover(approverInput);
      // The audit's actor carries where the request came from; `approver` is what is stored.
      const actor = approverAt(approver, approverInput.source);
      return operate(id, "approve", actor, true, (current, nowMs) => {
        const refusal = approverRefusal(current, approver);
        if (refusal !== undefined) return refusal;
        if (!devicePostureCompliant) {
          return refuse(
            "approver_device_not_compliant",
            `${approver.subject} is not on a compliant device`,
          );
        }
        if (current.approvals.some((a) => samePerson(a, approver))) {
          return refuse(
            "approver_already_approved",
            `${approver.subject} already approved request ${id}; another approver must`,
          );
        }
        const approvals = [...current.approvals, { ...approver, at: isoTime(nowMs) }];
        const complete = approvals.length >= current.approvers_required;
        return {
          kind: "write",
          action: "approve",
          next: complete
            ? { ...current, approvals, status: "approved", decided_at: isoTime(nowMs) }
            : { ...current, approvals },
        };
      });
    },

    async deny(id, approverInput, reason, deviceTrusted = false) {
      checkId(id);
      const approver = checkApprover(approverInput);
      if (typeof reason !== "string" || reason.trim().length === 0 || reason.length > 2_000) {
        throw new ApprovalError(
          "approval_invalid",
          "a denial needs a reason of 1 to 2000 characters",
        );
      }
      // The audit's actor carries where the request came from; `approver` is what is stored.
      const actor = approverAt(approver, approverInput.source);
      return operate(id, "deny", actor, true, (current, nowMs) => {
        const refusal = approverRefusal(current, approver);
        if (refusal !== undefined) return refusal;
        if (current.mode === "post_hoc" && !deviceTrusted) {
          return refuse(
            "approver_device_not_compliant",
            `${approver.subject} is not on a compliant, recently checked device: rejecting a ` +
              "post-hoc review runs a compensating write",
          );
        }
        return {
          kind: "write",
          action: "deny",
          next: {
            ...current,
            status: "denied",
            denial: {
              subject: approver.subject,
              ...(approver.email === undefined ? {} : { email: approver.email }),
              groups: [...approver.groups],
              reason,
              at: isoTime(nowMs),
            },
            decided_at: isoTime(nowMs),
          },
          extra: { reason },
        };
      });
    },

    onEscalated(listener) {
      escalationListeners.add(listener);
      return () => {
        escalationListeners.delete(listener);
      };
    },

    async compensationsDue(nowMs = now()) {
      return await store.listCompensationDue(nowMs, sweepBatch);
    },

    async sweep(nowMs = now()) {
      const result: SweepResult = { escalated: [], expired: [] };
      for (const listed of await store.listDue(nowMs, sweepBatch)) {
        await serialized(listed.id, async () => {
          for (let attempt = 0; attempt < maxAttempts; attempt++) {
            const current = await store.get(listed.id);
            const plan = current === undefined ? undefined : duePlan(current, nowMs);
            if (current === undefined || plan?.kind !== "write") return;
            const written = await apply(current, plan, undefined, nowMs);
            if (written !== undefined) {
              (written.status === "escalated" ? result.escalated : result.expired).push(written.id);
              return;
            }
          }
        });
      }
      return result;
    },

    async claimForExecution(id, digest) {
      checkId(id);
      if (typeof digest !== "string" || !DIGEST.test(digest)) {
        throw new ApprovalError("approval_invalid", "digest must be an argumentsDigest value");
      }
      return operate(id, "claim", undefined, false, (current) => {
        const refusal = executionRefusal(current, digest);
        if (refusal !== undefined) return { kind: "refuse", error: refusal };
        return {
          kind: "write",
          action: "claim",
          next: { ...current, status: "executing" },
        };
      });
    },

    markExecuted: finish("executed", "mark_executed"),
    markFailed: finish("failed", "mark_failed"),
    settlePostHoc,
    claimCompensation,
    markCompensated,

    async waitFor(id, timeoutMs) {
      checkId(id);
      if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
        throw new ApprovalError("approval_invalid", "timeoutMs must be a non-negative number");
      }
      const bound = Math.min(Math.floor(timeoutMs), maxWaitMs);
      const { promise, resolve } = Promise.withResolvers<ApprovalRequest>();
      let latest: ApprovalRequest | undefined;
      let settled = false;
      const timers: { poll?: NodeJS.Timeout; deadline?: NodeJS.Timeout } = {};
      const ofId = listeners.get(id) ?? new Set();
      listeners.set(id, ofId);
      const stop = (): void => {
        settled = true;
        clearTimeout(timers.poll);
        clearTimeout(timers.deadline);
        ofId.delete(onChange);
        if (ofId.size === 0 && listeners.get(id) === ofId) listeners.delete(id);
        waiters.delete(wake);
      };
      const settle = (request: ApprovalRequest): void => {
        if (settled) return;
        stop();
        resolve(request);
      };
      const onChange = (request: ApprovalRequest): void => {
        latest = request;
        if (!isOpen(request.status)) settle(request);
      };
      const wake = (): void => {
        if (latest !== undefined) settle(latest);
      };
      // Listen before the first read: a change between the two is not missed.
      ofId.add(onChange);
      waiters.add(wake);
      let first: ApprovalRequest | undefined;
      try {
        first = await store.get(id);
      } catch (error) {
        stop();
        throw error;
      }
      if (first === undefined) {
        stop();
        throw new ApprovalError("approval_not_found", `no approval request ${id}`);
      }
      latest ??= first;
      if (!isOpen(latest.status) || bound === 0 || closed) {
        settle(latest);
        return promise;
      }
      // Another process may decide the request: re-read the store until settled.
      const poll = (): void => {
        if (settled) return;
        timers.poll = setTimeout(() => {
          store.get(id).then(
            (request) => {
              if (request !== undefined && !settled) onChange(request);
              poll();
            },
            () => {
              // The store is unreachable for now: keep the last state, try again.
              poll();
            },
          );
        }, pollIntervalMs);
      };
      poll();
      timers.deadline = setTimeout(wake, bound);
      return promise;
    },

    close() {
      closed = true;
      const current = waiters;
      waiters = new Set();
      for (const wake of current) wake();
    },
  };
}

/** The audit record's user and groups: the human acting, when one is. */
function actorFields(
  actor: Approver | undefined,
): Pick<AuditRecordInput, "user" | "groups" | "source"> {
  if (actor === undefined) return {};
  return {
    user: personOf(actor),
    groups: [...actor.groups],
    ...(actor.source === undefined ? {} : { source: actor.source }),
  };
}

/**
 * The approver with where their request came from, when known: what a route hands the service,
 * and the actor of the audit records (checkApprover drops it: never stored with the request).
 */
export function approverAt(approver: Approver, source: CallSource | undefined): Approver {
  return source === undefined ? approver : { ...approver, source };
}

function personOf(person: Approver | Person): { subject: string; email?: string } {
  return person.email === undefined
    ? { subject: person.subject }
    : { subject: person.subject, email: person.email };
}

/** The same human: same subject, or the same e-mail address (case-insensitive). */
function samePerson(a: Approver, b: Approver): boolean {
  if (a.subject === b.subject) return true;
  const email = a.email?.toLowerCase();
  return email !== undefined && email === b.email?.toLowerCase();
}

function seconds(name: string, value: number): number {
  return integer(name, value, 1, 7 * 24 * 3600);
}

function integer(name: string, value: number, low: number, high: number): number {
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new TypeError(`${name} must be an integer from ${String(low)} to ${String(high)}`);
  }
  return value;
}
