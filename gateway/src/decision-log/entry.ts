// One policy decision as OPA writes it to its decision log, so a SIEM that ingests OPA decision
// logs reads the gateway's unchanged: decision_id, path, input, result, bundles (revision),
// timestamp, metrics, labels, trace_id/span_id (OPA 0.5x+ fields, as OPA's own server emits).
//
// Invariants: the input, the result and an undecided call's error message are masked and bounded
// exactly as the audit log masks them (audit/mask.ts): a secret an agent put in an argument, or
// one an engine's error quotes (an OPA URL's password), never reaches the sink. The entry
// is plain JSON (no functions, no undefined), built from what the pipeline already decided:
// nothing here evaluates the policy again.
import { randomUUID } from "node:crypto";
import { maskSecretsWithCount, type JsonValue } from "../audit/mask.ts";
import { ENTRYPOINT } from "../policy/engine.ts";
import type { Decided } from "../pipeline/context.ts";
import type { UndecidedCall } from "../pipeline/decide.ts";

/** The bundle name the revision is reported under (OPA: the bundle's name in its config). */
export const BUNDLE_NAME = "zyx";

export interface DecisionLogEntry {
  labels: Record<string, string>;
  decision_id: string;
  trace_id: string;
  span_id: string;
  path: string;
  input: JsonValue;
  /** Absent when the policy could not decide (then `error` says why, as OPA's entries do). */
  result?: JsonValue;
  error?: { code: string; message: string };
  bundles: Record<string, { revision: string }>;
  /** RFC 3339, UTC. */
  timestamp: string;
  metrics: Record<string, number>;
  /** OPA's field for what was masked: here the JSON pointers of masked roots, if any. */
  masked?: string[];
}

/** What every entry of this gateway carries in `labels` (OPA: labels.id, labels.version). */
export interface EntryLabels {
  id: string;
  version: string;
  [label: string]: string;
}

function masked(value: unknown, pointer: string, paths: string[]): JsonValue {
  const { value: copy, redactions } = maskSecretsWithCount(value);
  if (redactions > 0) paths.push(pointer);
  return copy;
}

/** The OPA-format entry of a live decision. */
export function liveEntry(
  decided: Decided,
  labels: EntryLabels,
  nowMs: () => number = () => performance.now(),
): DecisionLogEntry {
  const { decision } = decided;
  const paths: string[] = [];
  // From the call's arrival to its decision (the same clock as Authenticated.started).
  const handlerNs = Math.round((nowMs() - decided.started) * 1e6);
  return {
    labels: { ...labels },
    decision_id: decided.decisionId,
    trace_id: decided.trace.traceId,
    span_id: decided.trace.spanId,
    path: ENTRYPOINT,
    input: masked(decided.input, "/input", paths),
    result: masked(decision, "/result", paths),
    bundles: { [BUNDLE_NAME]: { revision: decision.policy_revision } },
    timestamp: decided.decided.timestamp ?? new Date().toISOString(),
    metrics: { timer_server_handler_ns: Math.max(0, handlerNs) },
    ...(paths.length === 0 ? {} : { masked: paths }),
  };
}

/**
 * The OPA-format entry of a call the policy could not decide (no bundle loaded, a WASM trap, a
 * malformed result): no `result`, an `error` with the engine's code and message, and the
 * revision serving if there is one. The call was answered 503 policy_unavailable.
 */
export function errorEntry(
  undecided: UndecidedCall,
  labels: EntryLabels,
  revision: string | null,
  nowMs: () => number = () => performance.now(),
): DecisionLogEntry {
  const { call, policyError, timestamp } = undecided;
  const paths: string[] = [];
  const handlerNs = Math.round((nowMs() - call.started) * 1e6);
  return {
    labels: { ...labels },
    decision_id: call.decisionId,
    trace_id: call.trace.traceId,
    span_id: call.trace.spanId,
    path: ENTRYPOINT,
    input: masked(call.input, "/input", paths),
    error: {
      code: policyError.code,
      // The engine's own text, which may quote a credential (the audit record masks it too).
      message: masked(policyError.message, "/error/message", paths) as string,
    },
    bundles: revision === null ? {} : { [BUNDLE_NAME]: { revision } },
    timestamp,
    metrics: { timer_server_handler_ns: Math.max(0, handlerNs) },
    ...(paths.length === 0 ? {} : { masked: paths }),
  };
}

/**
 * The entry of a shadow (candidate) evaluation that differed from the live decision: its own
 * decision id, the live one in labels.live_decision_id, and labels.mode "shadow" so a SIEM can
 * tell it never decided anything.
 */
export function shadowEntry(
  live: DecisionLogEntry,
  shadow: { result: unknown; revision: string; difference: string },
): DecisionLogEntry {
  const paths: string[] = [];
  return {
    ...live,
    labels: {
      ...live.labels,
      mode: "shadow",
      live_decision_id: live.decision_id,
      difference: shadow.difference,
    },
    decision_id: randomUUID(),
    result: masked(shadow.result, "/result", paths),
    bundles: { [`${BUNDLE_NAME}-shadow`]: { revision: shadow.revision } },
    ...(live.masked === undefined && paths.length === 0
      ? {}
      : { masked: [...new Set([...(live.masked ?? []), ...paths])] }),
  };
}
