// Forensic replay: re-evaluate every recorded decision with another policy bundle (its WASM,
// in-process) and report each decision that would change, grouped and counted.
//
// Invariants. The input is the record's `decision_input`, exactly what the policy saw (masked
// like every field: a decision that hinged on a secret's value cannot be replayed faithfully,
// and is counted in `masked_inputs`). The kill switch, which the policy reads as data, is rebuilt
// from the logs' own `kill_switch` records in time order, so a decision denied by it is judged
// with it. A decision compares on allow/deny, its set of reason codes and approvers required.
//
// Failure modes (fail closed): a bundle that does not load throws ReplayError
// `replay_bundle_unavailable`; a decision the new policy cannot evaluate is counted under
// `errors` (never as unchanged); decisions recorded without `decision_input` (older logs) or
// recorded as policy errors are counted as skipped.
import type { DecisionInput, PolicyState } from "../policy/decision.ts";
import { loadPolicyEngine } from "../policy/engine.ts";
import { isKillSwitchScope, withChange } from "../killswitch/scopes.ts";
import { approversOf } from "../policy/approvers.ts";
import type { LoadedRecord } from "./records.ts";
import { asString, loadRecords, member, path, type LogSource } from "./records.ts";

export class ReplayError extends Error {
  readonly code = "replay_bundle_unavailable";
  constructor(message: string) {
    super(message);
    this.name = "ReplayError";
  }
}

export interface DecisionView {
  allow: boolean;
  reasons: string[];
  approvers_required: number;
  /**
   * Who may approve and when, sorted: "approver_groups | fallback_groups | mode". Undefined in a
   * record written before the gateway recorded them (then not compared).
   */
  approvers?: string | undefined;
}

export type ChangeKind =
  "allow_to_deny" | "deny_to_allow" | "reasons" | "approvers" | "approver_groups";

export interface ReplayChange {
  file: string;
  seq: number;
  decision_id: string | undefined;
  timestamp: string | undefined;
  tool: string | undefined;
  user: string | undefined;
  agent: string | undefined;
  session_id: string | undefined;
  recorded: DecisionView;
  replayed: DecisionView;
  kinds: ChangeKind[];
}

export interface ReplayGroup {
  tool: string;
  from: string;
  to: string;
  count: number;
  decision_ids: string[];
}

export interface ReplayReport {
  bundle: string;
  revision: string;
  recorded_revisions: string[];
  decisions: number;
  replayed: number;
  unchanged: number;
  changed: number;
  skipped: { no_input: number; recorded_error: number };
  errors: { decision_id: string | undefined; code: string; message: string }[];
  masked_inputs: number;
  changes: ReplayChange[];
  groups: ReplayGroup[];
  notes: string[];
}

const MAX_GROUP_IDS = 20;

export function describeView(view: DecisionView): string {
  const approvers =
    view.approvers_required > 0 ? `, ${String(view.approvers_required)} approver(s)` : "";
  const who = view.approvers === undefined ? "" : ` (${view.approvers})`;
  return view.allow
    ? `allow${approvers}${who}`
    : `deny [${view.reasons.join(", ")}]${approvers}${who}`;
}

function recordedView(record: Record<string, unknown>): DecisionView | undefined {
  const allow = path(record, "decision.allow");
  const reasons = path(record, "decision.reasons");
  if (typeof allow !== "boolean" || !Array.isArray(reasons)) return undefined;
  const approvers = path(record, "approval.approvers_required");
  return {
    allow,
    reasons: [
      ...new Set((reasons as unknown[]).flatMap((r) => asString(member(r, "code")) ?? [])),
    ].sort(),
    approvers_required: typeof approvers === "number" ? approvers : 0,
    approvers: approversOf(path(record, "approval")),
  };
}

function kindsOf(a: DecisionView, b: DecisionView): ChangeKind[] {
  const kinds: ChangeKind[] = [];
  if (a.allow && !b.allow) kinds.push("allow_to_deny");
  if (!a.allow && b.allow) kinds.push("deny_to_allow");
  if (a.reasons.join("\n") !== b.reasons.join("\n")) kinds.push("reasons");
  if (a.approvers_required !== b.approvers_required) kinds.push("approvers");
  // Who may approve: a candidate that lets anyone approve changes no allow, reason or count.
  if (a.approvers !== undefined && b.approvers !== undefined && a.approvers !== b.approvers) {
    kinds.push("approver_groups");
  }
  return kinds;
}

/** Applies a kill_switch record to the state; false when the record is not a change it knows. */
function applyKillSwitch(
  state: PolicyState,
  record: Record<string, unknown>,
): PolicyState | undefined {
  if (member(record, "outcome") !== undefined) return undefined; // a failed change: nothing applied
  const action = path(record, "details.action");
  const scope = path(record, "details.scope");
  const value = path(record, "details.value");
  if ((action !== "set" && action !== "clear") || !isKillSwitchScope(scope)) return undefined;
  try {
    return withChange(state, scope, typeof value === "string" ? value : undefined, action);
  } catch {
    return undefined;
  }
}

/** Failure codes after which a kill-switch change was never saved (service.ts `failed`). */
const NOT_SAVED = new Set(["kill_switch_conflict", "kill_switch_unavailable"]);

function killSwitchKey(file: string, record: Record<string, unknown>): string {
  return JSON.stringify([
    file,
    path(record, "details.new_version"),
    path(record, "details.action"),
    path(record, "details.scope"),
    path(record, "details.value") ?? null,
  ]);
}

/**
 * The kill-switch change records that never took effect: the service audits a change before it
 * saves it, and audits the same change again with outcome "failed" when the store refused it
 * (another replica saved that version first, or the store could not be written). Each such
 * failure cancels the latest change record before it with the same file, version and change.
 */
function unsavedKillSwitchChanges(records: readonly LoadedRecord[]): Set<LoadedRecord> {
  const open = new Map<string, LoadedRecord[]>();
  const cancelled = new Set<LoadedRecord>();
  for (const entry of records) {
    const r = entry.record;
    if (r["event"] !== "kill_switch") continue;
    const key = killSwitchKey(entry.file, r);
    if (member(r, "outcome") === undefined) {
      open.set(key, [...(open.get(key) ?? []), entry]);
      continue;
    }
    const code = path(r, "outcome.code");
    if (typeof code !== "string" || !NOT_SAVED.has(code)) continue;
    const change = open.get(key)?.pop();
    if (change !== undefined) cancelled.add(change);
  }
  return cancelled;
}

/**
 * Whether the mask changed the input: a redaction, or any of its bounds' markers (a string or
 * array cut, "…": "[truncated N keys]", "[truncated: too deep]", "[truncated: too many values]").
 */
function isMasked(input: unknown): boolean {
  return /\[REDACTED|\[truncated[ :]/.test(JSON.stringify(input));
}

function groupChanges(changes: readonly ReplayChange[]): ReplayGroup[] {
  const groups = new Map<string, ReplayGroup>();
  for (const change of changes) {
    const tool = change.tool ?? "(none)";
    const from = describeView(change.recorded);
    const to = describeView(change.replayed);
    const key = `${tool}\u0000${from}\u0000${to}`;
    const group = groups.get(key) ?? { tool, from, to, count: 0, decision_ids: [] };
    group.count++;
    if (change.decision_id !== undefined && group.decision_ids.length < MAX_GROUP_IDS) {
      group.decision_ids.push(change.decision_id);
    }
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.tool.localeCompare(b.tool));
}

function changeOf(
  entry: LoadedRecord,
  recorded: DecisionView,
  replayed: DecisionView,
): ReplayChange {
  const r = entry.record;
  return {
    file: entry.file,
    seq: typeof r["seq"] === "number" ? r["seq"] : entry.line,
    decision_id: asString(r["decision_id"]),
    timestamp: asString(r["timestamp"]),
    tool: asString(r["tool"]),
    user: asString(path(r, "user.email")) ?? asString(path(r, "user.subject")),
    agent: asString(r["agent"]) ?? asString(path(r, "agent.id")),
    session_id: asString(r["session_id"]),
    recorded,
    replayed,
    kinds: kindsOf(recorded, replayed),
  };
}

/** Replay every decision of `files` (merged in time order) with the bundle at `bundlePath`. */
export async function replayDecisions(
  bundlePath: string,
  files: readonly LogSource[],
): Promise<ReplayReport> {
  const engine = await loadPolicyEngine({ bundlePath });
  if (engine.loadError !== null || engine.revision === undefined) {
    throw new ReplayError(
      `cannot load the policy bundle ${bundlePath}: ${engine.loadError?.message ?? "no revision"}`,
    );
  }
  const { records, malformed } = await loadRecords(files);
  const report: ReplayReport = {
    bundle: bundlePath,
    revision: engine.revision,
    recorded_revisions: [],
    decisions: 0,
    replayed: 0,
    unchanged: 0,
    changed: 0,
    skipped: { no_input: 0, recorded_error: 0 },
    errors: [],
    masked_inputs: 0,
    changes: [],
    groups: [],
    notes: malformed.length > 0 ? [`${String(malformed.length)} malformed line(s) not read`] : [],
  };
  let saved = engine.data?.zyx.state as PolicyState;
  // While the kill-switch store was lost, the gateway ran with all_writes on (service.ts).
  let storeLost = false;
  let state = saved;
  let sawKillSwitch = false;
  const unsaved = unsavedKillSwitchChanges(records);
  const applied: { state: PolicyState | undefined } = { state: undefined };
  for (const entry of records) {
    const r = entry.record;
    if (r["event"] === "kill_switch") {
      if (
        !sawKillSwitch &&
        typeof path(r, "details.old_version") === "number" &&
        path(r, "details.old_version") !== 0
      ) {
        report.notes.push(
          "the kill switch had changed before these logs begin: its earlier state is assumed clear",
        );
      }
      const action = path(r, "details.action");
      if (action === "store_lost" || action === "store_back") {
        storeLost = action === "store_lost";
      } else {
        sawKillSwitch = true;
        // A change the store refused (its second record says failed) never took effect.
        const next = unsaved.has(entry) ? undefined : applyKillSwitch(saved, r);
        if (next !== undefined) saved = next;
      }
      state = storeLost ? withChange(saved, "all_writes", undefined, "set") : saved;
      continue;
    }
    if (r["event"] !== "decision") continue;
    report.decisions++;
    replayOne(engine, state, applied, entry, report);
  }
  report.groups = groupChanges(report.changes);
  return report;
}

function replayOne(
  engine: Awaited<ReturnType<typeof loadPolicyEngine>>,
  state: PolicyState,
  applied: { state: PolicyState | undefined },
  entry: LoadedRecord,
  report: ReplayReport,
): void {
  const r = entry.record;
  const input = r["decision_input"];
  const recorded = recordedView(r);
  if (typeof input !== "object" || input === null) {
    report.skipped.no_input++;
    return;
  }
  if (recorded === undefined || path(r, "outcome.status") === "error") {
    report.skipped.recorded_error++;
    return;
  }
  const revision = asString(r["policy_revision"]);
  if (revision !== undefined && !report.recorded_revisions.includes(revision)) {
    report.recorded_revisions.push(revision);
  }
  if (isMasked(input)) report.masked_inputs++;
  if (applied.state !== state) {
    engine.setState(state); // only on change: it copies the whole data into the WASM memory
    applied.state = state;
  }
  const outcome = engine.evaluate(input as DecisionInput);
  if (!outcome.ok) {
    report.errors.push({
      decision_id: asString(r["decision_id"]),
      code: outcome.code,
      message: outcome.message,
    });
    return;
  }
  report.replayed++;
  const d = outcome.decision;
  const replayed: DecisionView = {
    allow: d.allow,
    reasons: [...new Set(d.reasons.map((reason) => reason.code))].sort(),
    approvers_required: d.approval.approvers_required,
    approvers: approversOf(d.approval),
  };
  const change = changeOf(entry, recorded, replayed);
  if (change.kinds.length === 0) report.unchanged++;
  else {
    report.changed++;
    report.changes.push(change);
  }
}
