// Refusals that no step recorded: the audit trail of what a verified caller tried and was not
// allowed to do (arguments the schema refused, an agent trying to approve, a request not
// theirs, a replayed approval, a non-administrator at the kill switch...). The walkthrough's
// detections ("failed validation", "approval by unauthorized users", "repeated denied access")
// read these records.
//
// Invariants: one record per refused request of a verified caller, unless the step that
// refused already wrote one (GatewayError.recorded); the record is bounded and masked by the
// audit log like every other; a refusal never becomes an allow, and a failure to write its
// record is logged, never turned into something else for the caller (the call is refused
// either way). Refusals before identity is verified carry no identity worth recording: they
// are counted per code instead (a flood of them is a signal, not a trail).
import type { Log } from "../../../common/service.ts";
import type { VerifiedPrincipal } from "../identity/types.ts";
import { isGatewayError } from "../lib/errors.ts";
import { asGatewayError } from "../lib/problem.ts";
import type { CallSource } from "../lib/client-address.ts";
import type { AuditSink } from "./context.ts";

export interface RefusalContext {
  /** "rest" or "mcp" for tool calls; "people" for approval and administration routes. */
  door: string;
  /** The route as a pattern and method ("POST /v1/approvals/{id}/approve"). */
  route: string;
  trace_id?: string | undefined;
  tool?: string | undefined;
  session_id?: string | undefined;
  /** What the caller sent that was refused (masked and bounded by the log). */
  details?: Record<string, unknown> | undefined;
  /** Where the request came from (lib/client-address.ts); absent: unknown. */
  source?: CallSource | undefined;
}

export interface RefusalRecorder {
  /** Audits one refusal of a verified caller (unless already recorded). Never throws. */
  refused(thrown: unknown, caller: VerifiedPrincipal, where: RefusalContext): Promise<void>;
  /** Counts a refusal before the caller could be verified. */
  unauthenticated(thrown: unknown): void;
  /** Refusals of unverified callers so far, by code. */
  unauthenticatedCounts(): Readonly<Record<string, number>>;
}

export function createRefusalRecorder(options: {
  audit: Pick<AuditSink, "append">;
  now: () => number;
  log: Log;
}): RefusalRecorder {
  const { audit, now, log } = options;
  const counts: Record<string, number> = {};
  return {
    async refused(thrown, caller, where) {
      const error = asGatewayError(thrown);
      if (error.recorded || error.code === "audit_unavailable") return;
      try {
        await audit.append({
          timestamp: new Date(now()).toISOString(),
          event: "refusal",
          ...(where.trace_id === undefined ? {} : { trace_id: where.trace_id }),
          user: {
            subject: caller.subject,
            ...(caller.email === undefined ? {} : { email: caller.email }),
          },
          groups: [...caller.groups],
          agent: caller.agent,
          door: where.door,
          ...(where.source === undefined ? {} : { source: where.source }),
          ...(where.tool === undefined ? {} : { tool: where.tool }),
          ...(where.session_id === undefined ? {} : { session_id: where.session_id }),
          outcome: { status: "refused", code: error.code, http_status: error.status },
          details: { route: where.route, message: error.message, ...where.details },
        });
        error.recorded = true;
      } catch (failure) {
        log("error", "refusal audit record failed", {
          code: error.code,
          error: String(failure),
        });
      }
    },
    unauthenticated(thrown) {
      const code = isGatewayError(thrown) ? thrown.code : "internal_error";
      counts[code] = (counts[code] ?? 0) + 1;
    },
    unauthenticatedCounts: () => ({ ...counts }),
  };
}
