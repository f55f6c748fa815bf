// Step 7: the allowed call, handed to the worker with a gateway-signed call token, and its
// outcome. An approved execution is claimed first (exactly once: a replay is refused before
// anything runs) and settled after. Content the worker flags as prompt injection taints the
// session and the user's agent: from then on the policy holds every write for approval.
// A post-hoc call (approval mode "post_hoc") opens its review before the worker runs and records
// its outcome there after (gateway/src/posthoc/review.ts).
//
// Failure modes: the decision record cannot be made durable (503, nothing ran); the claim is
// refused (409); the kill switch handed the policy a new state since the decision and the same
// input is no longer allowed (403 policy_denied, nothing ran, recorded "failed"); the worker fails, cannot be reached or times out (502/504, the failure
// recorded durably). A WRITE with no definite answer (outcomeUnknown: the gateway's wait ran
// out, the connection was lost once sent, the worker answered tool_outcome_unknown...) may have
// taken effect: its outcome is recorded "unknown", not "failed", the answer says
// `outcome: "unknown"` (and not to retry), an alert (`tool_outcome_unknown`) asks a person to
// check, a post-hoc review stays open, and an approved call's request ends with its result
// "unknown". The outcome record of a success is durable before the answer leaves (it
// shares the log's group commit with concurrent calls, so awaiting it costs one fdatasync).
import { argumentsDigest } from "../../../common/canonical.ts";
import { loadCatalog, writeToolNames, type ToolName } from "../../../common/catalog.ts";
import { causeCodes } from "../../../common/error-codes.ts";
import { WORKER_ERROR_CODES } from "../../../common/worker-contract.ts";
import type { WorkerResult } from "../handoff/worker-client.ts";
import { GatewayError, isGatewayError, recorded } from "../lib/errors.ts";
import { traceparentOf } from "../lib/trace.ts";
import type { CallAnswer, Decided, GatewayPorts, PipelineRuntime } from "./context.ts";
import { isTainted } from "./decide.ts";
import { appendAlert, appendDecision, appendDurable, elapsedMs } from "./record.ts";
import { openReview, reviewAnswer, settleReview } from "../posthoc/review.ts";

type HandOffPorts = Pick<
  GatewayPorts,
  "audit" | "approvals" | "worker" | "sessions" | "policy" | "killSwitch"
>;

/**
 * Why the call may no longer run, when the kill switch handed the policy a new state since it
 * was decided (the decision record's durable write, an approval's claim and a review's opening
 * lie between): the same input decided again under the state now applied. Undefined: run it.
 * The common case, no hand-over since, costs one comparison.
 */
async function stoppedSinceDecided(
  ports: Pick<HandOffPorts, "policy" | "killSwitch">,
  ctx: Decided,
): Promise<GatewayError | undefined> {
  if (ports.killSwitch.appliedGeneration() === ctx.killSwitchGeneration) return undefined;
  const again = await ports.policy.evaluate(ctx.input);
  if (!again.ok) {
    return new GatewayError(
      "policy_unavailable",
      `the kill switch changed after this call was decided and the policy could not decide it again (${again.code}): nothing was executed`,
    );
  }
  if (again.decision.allow) return undefined;
  return new GatewayError(
    "policy_denied",
    "the kill switch changed after this call was decided and the policy no longer allows it: nothing was executed",
    { extensions: { reasons: again.decision.reasons } },
  );
}

/** Records what became of an approved execution (best effort: the outcome record is durable). */
function settleApproval(
  ports: HandOffPorts,
  runtime: PipelineRuntime,
  ctx: Decided,
  outcome: { code?: string; http_status: number; detail?: string; unknown?: boolean },
  failed: boolean,
): void {
  if (ctx.approved === undefined) return;
  const result = { decision_id: ctx.decisionId, ...outcome };
  (failed
    ? ports.approvals.markFailed(ctx.approved.id, result)
    : ports.approvals.markExecuted(ctx.approved.id, result)
  ).catch((error: unknown) => {
    runtime.log("error", "approval outcome not recorded", { error: String(error) });
  });
}

/**
 * Taints on injection, then makes the outcome record durable before the answer leaves: a crash
 * after the worker acted cannot lose it. If it cannot be written, the call still ran: the
 * caller gets 503 audit_unavailable saying so (executed: true), never a retry-inviting silence.
 */
async function recordSuccess(
  ports: HandOffPorts,
  ctx: Decided,
  { evidence, result }: WorkerResult,
  reviewId: string | undefined,
): Promise<void> {
  if (evidence?.injection.suspected === true) {
    // Both at once: with shared signals, the actor's taint must not wait for the session's to
    // reach PostgreSQL (the actor's other sessions would read as clean meanwhile).
    await Promise.all([ports.sessions.taint(ctx.sessionId), ports.sessions.taint(ctx.actorKey)]);
  }
  try {
    await appendDurable(ports, {
      ...ctx.followUp,
      event: "outcome",
      outcome: { status: "executed", http_status: 200 },
      details: {
        // What the agent was given, by digest: the forensic timeline matches it to a result.
        result_digest: resultDigest(result),
        ...(reviewId === undefined ? {} : { approval_id: reviewId, approval_mode: "post_hoc" }),
        ...(evidence === undefined
          ? {}
          : {
              redactions: evidence.redactions,
              injection_suspected: evidence.injection.suspected,
              injection_indicators: evidence.injection.indicators,
              session_tainted: isTainted(ports, ctx),
            }),
      },
      latency_ms: elapsedMs(ctx.started),
    });
  } catch (thrown) {
    throw new GatewayError(
      "audit_unavailable",
      "the call ran but its outcome could not be recorded",
      {
        cause: thrown,
        extensions: { decision_id: ctx.decisionId, trace_id: ctx.trace.traceId, executed: true },
      },
    );
  }
}

/** SHA-256 of the result's canonical JSON; "unrepresentable" if it has none (never throws). */
function resultDigest(result: unknown): string {
  try {
    return argumentsDigest(result ?? null);
  } catch {
    return "unrepresentable";
  }
}

/** The worker's own status and code of a failure, when it answered one (connector errors). */
function workerDetails(extensions: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { worker_status: status, worker_code: code, worker_connector_code: connector } = extensions;
  return {
    ...(typeof status === "number" ? { worker_status: status } : {}),
    ...(typeof code === "string" ? { worker_code: code } : {}),
    ...(typeof connector === "string" ? { worker_connector_code: connector } : {}),
  };
}

/** The catalog's write tools, read once when first needed (the same file the policy reads). */
let writeTools: ReadonlySet<ToolName> | undefined;

/**
 * Whether a failed call may have taken effect: a write whose worker gave no definite answer.
 * Definite are only a worker that could not be connected to (nothing was sent) and the worker's
 * own refusals and tool_failed (its connector proved the write was not applied); a timeout, a
 * connection lost once the request was sent, tool_outcome_unknown, an internal error or an
 * unreadable answer leave it unknown.
 */
export function outcomeUnknown(tool: ToolName, error: GatewayError): boolean {
  writeTools ??= writeToolNames(loadCatalog());
  if (!writeTools.has(tool)) return false;
  if (error.code === "worker_timeout") return true;
  // Unknown unless the connection itself failed: then the request never reached the worker.
  if (error.code === "worker_unavailable") {
    return !causeCodes(error.cause).some((code) => CONNECT_FAILURES.has(code));
  }
  if (error.code !== "worker_failed") return false;
  // The worker's own refusals say nothing ran (tokens, arguments, deadline_exceeded) or that the
  // tool failed without effect (tool_failed); anything else (tool_outcome_unknown, an internal
  // error, a code this gateway does not know, an answer too large, unreadable or without the
  // guard's verdict) may follow a write that ran.
  const code = error.extensions["worker_code"];
  return typeof code !== "string" || !DEFINITE_WORKER_CODES.has(code);
}

/** Connection failures: the request never reached the worker. */
const CONNECT_FAILURES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);
/** Worker codes after which a write may have run. */
const UNKNOWN_WORKER_CODES: ReadonlySet<string> = new Set([
  "tool_outcome_unknown",
  "internal_error",
  "unknown",
]);
/**
 * Worker codes that say the write did not take effect: the worker's closed table (the codes this
 * gateway knows) but those above. A newer worker's new code is read (worker-client.ts reads the
 * code loosely), but it proves nothing: unknown.
 */
const DEFINITE_WORKER_CODES: ReadonlySet<string> = new Set(
  WORKER_ERROR_CODES.filter((code) => !UNKNOWN_WORKER_CODES.has(code)),
);

const UNKNOWN_DETAIL =
  "no definite answer from the worker: the call may have taken effect; do not retry it, a person checks";

async function recordFailure(
  ports: HandOffPorts,
  runtime: PipelineRuntime,
  ctx: Decided,
  error: GatewayError,
  unknown: boolean,
  reviewId: string | undefined,
): Promise<never> {
  const ids = { decision_id: ctx.decisionId, trace_id: ctx.trace.traceId };
  if (error.code === "audit_unavailable") {
    throw new GatewayError(error.code, error.message, { extensions: ids });
  }
  settleApproval(
    ports,
    runtime,
    ctx,
    {
      code: error.code,
      http_status: error.status,
      ...(unknown ? { detail: UNKNOWN_DETAIL, unknown: true } : {}),
    },
    true,
  );
  // A person must look: an alert naming the review (post-hoc) or the approval; the caller is told.
  const approvalId = reviewId ?? ctx.approved?.id;
  const named = approvalId === undefined ? {} : { approval_id: approvalId };
  const outcome = unknown ? { outcome: "unknown", ...named } : {};
  const alert = async () => {
    if (!unknown) return;
    await appendAlert(ports, runtime, ctx.followUp, "tool_outcome_unknown", {
      tool: ctx.tool,
      ...named,
    });
  };
  try {
    await appendDurable(ports, {
      ...ctx.followUp,
      event: "outcome",
      outcome: {
        status: unknown ? "unknown" : "failed",
        code: error.code,
        http_status: error.status,
      },
      details: workerDetails(error.extensions),
    });
  } catch (thrown) {
    // Not a bare 503: an agent that hears only "audit unavailable" retries a write that may
    // have run. The alert is still tried (it may reach a log that takes it).
    await alert();
    throw new GatewayError(
      "audit_unavailable",
      unknown
        ? `the call's outcome could not be recorded; ${UNKNOWN_DETAIL}`
        : "the call failed and its outcome could not be recorded",
      { cause: thrown, extensions: { ...ids, ...outcome } },
    );
  }
  await alert();
  // The text an agent reads says it too: a model that retries a write it may have made posts twice.
  const message = unknown ? `${error.message}; ${UNKNOWN_DETAIL}` : error.message;
  throw recorded(
    new GatewayError(error.code, message, {
      extensions: { ...error.extensions, ...ids, ...outcome },
    }),
  );
}

export async function handOff(
  ports: HandOffPorts,
  runtime: PipelineRuntime,
  ctx: Decided,
): Promise<CallAnswer> {
  await appendDecision(ports, ctx);
  if (ctx.approved !== undefined) {
    // Exactly once: a second claim (a replay) is refused before anything runs.
    await ports.approvals.claimForExecution(ctx.approved.id, ctx.digest);
  }
  // Post-hoc: the review exists before anything runs (or nothing runs).
  const review = await openReview(ports, ctx);
  const stopped = await stoppedSinceDecided(ports, ctx);
  if (stopped !== undefined) {
    if (review !== undefined) {
      await settleReview(ports, runtime, ctx, review, {
        status: "failed",
        code: stopped.code,
        http_status: stopped.status,
      });
    }
    return recordFailure(ports, runtime, ctx, stopped, false, review?.id);
  }
  let worked: WorkerResult;
  try {
    worked = await ports.worker.execute({
      tool: ctx.tool,
      arguments: ctx.args,
      argumentsDigest: ctx.digest,
      decisionId: ctx.decisionId,
      traceparent: traceparentOf(ctx.trace),
      user: ctx.principal.subject,
      agent: ctx.principal.agent,
    });
  } catch (thrown) {
    const error = isGatewayError(thrown)
      ? thrown
      : new GatewayError("worker_failed", "the tool call failed", { cause: thrown });
    const unknown = outcomeUnknown(ctx.tool, error);
    // A failed call is the agent's recent error rate, which the policy scores as it does denials
    // (per user and agent, over DENIAL_WINDOW_SEC): three in the hour raise the next call's risk.
    ports.sessions.recordDenial(ctx.actorKey, runtime.now());
    if (review !== undefined) {
      await settleReview(ports, runtime, ctx, review, {
        status: unknown ? "unknown" : "failed",
        code: error.code,
        http_status: error.status,
      });
    }
    return recordFailure(ports, runtime, ctx, error, unknown, review?.id);
  }
  settleApproval(ports, runtime, ctx, { http_status: 200 }, false);
  const { result, evidence, compensation } = worked;
  try {
    await recordSuccess(ports, ctx, worked, review?.id);
  } finally {
    // The call ran: its review holds the rollback whether or not the outcome record was written
    // (settleReview never throws), or a rejection would have nothing to undo it with.
    if (review !== undefined) {
      await settleReview(ports, runtime, ctx, review, { status: "executed", compensation });
    }
  }
  return {
    status: 200,
    body: {
      decision_id: ctx.decisionId,
      trace_id: ctx.trace.traceId,
      result,
      ...(evidence === undefined ? {} : { evidence }),
      ...(compensation === undefined ? {} : { compensation }),
      ...(review === undefined ? {} : { review: reviewAnswer(review) }),
    },
  };
}
