// A session's timeline, read back from one or more audit logs: each call in order with its tool,
// arguments (as masked in the log), decision and reasons, risk, approvals, outcome, result digest,
// evidence warnings, decision trace and model.
//
// Invariants: a call is every record of the session sharing one decision_id (the decision, its
// outcomes, the approval transitions of a request it opened); calls are ordered by their first
// record (time, then file and line). Nothing is inferred that the log does not say: a call with
// no outcome record shows none (a gateway that stopped before writing it, or a cut log).
// Fails only when a file cannot be read; an unknown session is an empty timeline.
import type { LoadedRecord } from "./records.ts";
import { asString, loadRecords, member, path, type LogSource } from "./records.ts";

export interface TimelineApproval {
  timestamp: string | undefined;
  action: string | undefined;
  actor: string | undefined;
  result: string | undefined;
  status: string | undefined;
  code: string | undefined;
}

export interface TimelineOutcome {
  timestamp: string | undefined;
  status: string;
  code: string | undefined;
  http_status: number | undefined;
}

export interface TimelineCall {
  decision_id: string | undefined;
  trace_id: string | undefined;
  timestamp: string | undefined;
  tool: string | undefined;
  user: string | undefined;
  agent: string | undefined;
  arguments: unknown;
  decision: { allow: boolean; reasons: { code: string; message: string }[] } | undefined;
  risk_score: number | undefined;
  approval: unknown;
  approvals: TimelineApproval[];
  outcomes: TimelineOutcome[];
  result_digest: string | undefined;
  evidence:
    | { redactions: unknown; injection_suspected: unknown; injection_indicators: unknown }
    | undefined;
  decision_trace: unknown;
  model: string | undefined;
  policy_revision: string | undefined;
  where: { file: string; line: number }[];
}

export interface SessionTimeline {
  session_id: string;
  calls: TimelineCall[];
  first: string | undefined;
  last: string | undefined;
}

function emptyCall(entry: LoadedRecord): TimelineCall {
  const r = entry.record;
  return {
    decision_id: asString(r["decision_id"]),
    trace_id: asString(r["trace_id"]),
    timestamp: asString(r["timestamp"]),
    tool: asString(r["tool"]),
    user: asString(path(r, "user.email")) ?? asString(path(r, "user.subject")),
    agent: asString(r["agent"]) ?? asString(path(r, "agent.id")),
    arguments: r["arguments"],
    decision: undefined,
    risk_score: undefined,
    approval: undefined,
    approvals: [],
    outcomes: [],
    result_digest: undefined,
    evidence: undefined,
    decision_trace: undefined,
    model: undefined,
    policy_revision: undefined,
    where: [],
  };
}

function addDecision(call: TimelineCall, r: Record<string, unknown>): void {
  call.decision = r["decision"] as TimelineCall["decision"];
  call.risk_score = typeof r["risk_score"] === "number" ? r["risk_score"] : undefined;
  call.approval = r["approval"];
  call.arguments = r["arguments"] ?? call.arguments;
  call.decision_trace = r["decision_trace"];
  call.model = asString(r["model"]);
  call.policy_revision = asString(r["policy_revision"]);
}

function addOutcome(call: TimelineCall, r: Record<string, unknown>): void {
  const outcome = r["outcome"];
  const status = asString(member(outcome, "status"));
  if (status === undefined) return;
  const http = member(outcome, "http_status");
  call.outcomes.push({
    timestamp: asString(r["timestamp"]),
    status,
    code: asString(member(outcome, "code")),
    http_status: typeof http === "number" ? http : undefined,
  });
  call.result_digest ??= asString(path(r, "details.result_digest")) ?? asString(r["result_digest"]);
  const details = r["details"];
  if (
    member(details, "injection_suspected") !== undefined ||
    member(details, "redactions") !== undefined
  ) {
    call.evidence = {
      redactions: member(details, "redactions"),
      injection_suspected: member(details, "injection_suspected"),
      injection_indicators: member(details, "injection_indicators"),
    };
  }
}

function addApproval(call: TimelineCall, r: Record<string, unknown>): void {
  call.approvals.push({
    timestamp: asString(r["timestamp"]),
    action: asString(path(r, "details.action")),
    actor: asString(path(r, "details.actor")),
    result: asString(path(r, "details.result")),
    status: asString(path(r, "details.to_status")) ?? asString(path(r, "approval.state")),
    code: asString(path(r, "outcome.code")),
  });
}

/** The timeline of `sessionId` across `files`. */
export async function sessionTimeline(
  sessionId: string,
  files: readonly LogSource[],
): Promise<SessionTimeline> {
  const { records } = await loadRecords(files);
  const calls = new Map<string, TimelineCall>();
  let anonymous = 0;
  for (const entry of records) {
    const r = entry.record;
    if (r["session_id"] !== sessionId) continue;
    const key = asString(r["decision_id"]) ?? `#${String(anonymous++)}`;
    const call = calls.get(key) ?? emptyCall(entry);
    calls.set(key, call);
    call.where.push({ file: entry.file, line: entry.line });
    if (r["event"] === "decision") addDecision(call, r);
    else if (r["event"] === "approval") addApproval(call, r);
    else addOutcome(call, r);
  }
  const list = [...calls.values()];
  return {
    session_id: sessionId,
    calls: list,
    first: list[0]?.timestamp,
    last: list.at(-1)?.outcomes.at(-1)?.timestamp ?? list.at(-1)?.timestamp,
  };
}
