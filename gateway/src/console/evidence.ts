// What the approver console shows beside a request, from sources the requester cannot write:
//   - the decision and the session before it, read back from the audit log (reasons, risk
//     factors, the agent's decision trace and model, what the session read and whether the
//     content was flagged: redactions, prompt-injection indicators);
//   - for a security-group change, the group's rules now, read through the worker's aws_dev_read
//     (the system's own read, audited first), and the rules as they would be after the change.
//     Not while the kill switch holds the read's connector: the read is the gateway's own, outside
//     the policy, so it honours the switch here (the page says the read is held).
//
// Failure modes: an unreadable audit log or a worker that fails leaves that part of the page
// saying so ("unavailable"); it never blocks a denial and never invents data.
import { argumentsDigest } from "../../../common/canonical.ts";
import { loadCatalog } from "../../../common/catalog.ts";
import type { AuditRecordInput } from "../audit/record.ts";
import { asString, loadRecords, path } from "../audit/records.ts";
import type { WorkerClient } from "../handoff/worker-client.ts";
import type { ApprovalRequest } from "../approvals/request.ts";

export interface SessionRead {
  timestamp: string | undefined;
  tool: string | undefined;
  arguments: unknown;
  outcome: string | undefined;
  redactions: unknown;
  injectionSuspected: boolean;
  injectionIndicators: string[];
  sessionTainted: boolean;
}

export interface DecisionEvidence {
  reasons: { code: string; message: string }[];
  riskBand: string | undefined;
  factors: { factor: string; points: number }[];
  decisionTrace: unknown;
  model: string | undefined;
  device: unknown;
}

export interface RequestEvidence {
  decision: DecisionEvidence | undefined;
  before: SessionRead[];
  available: boolean;
}

export interface Rule {
  protocol: string;
  port_range: string;
  cidr: string;
  description?: string;
}

export type RulesView =
  | { kind: "none" }
  | { kind: "unavailable"; detail: string }
  | {
      kind: "rules";
      groupName: string;
      before: Rule[];
      after: Rule[];
      change: Rule & { action: string };
    };

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function decisionOf(record: Record<string, unknown>): DecisionEvidence {
  return {
    reasons: asArray(path(record, "decision.reasons")).map((r) => ({
      code: asString(path(r, "code")) ?? "",
      message: asString(path(r, "message")) ?? "",
    })),
    riskBand: asString(path(record, "details.risk.band")),
    factors: asArray(path(record, "details.risk.factors")).map((f) => ({
      factor: asString(path(f, "factor")) ?? "",
      points: Number(path(f, "points") ?? 0),
    })),
    decisionTrace: record["decision_trace"],
    model: asString(record["model"]),
    device: record["device"],
  };
}

/** One earlier outcome, from the members pipeline/handoff.ts writes into `details`. */
function readOf(record: Record<string, unknown>): SessionRead {
  return {
    timestamp: asString(record["timestamp"]),
    tool: asString(record["tool"]),
    arguments: record["arguments"],
    outcome: asString(path(record, "outcome.status")),
    redactions: path(record, "details.redactions"),
    injectionSuspected: path(record, "details.injection_suspected") === true,
    injectionIndicators: asArray(path(record, "details.injection_indicators")).map(String),
    sessionTainted: path(record, "details.session_tainted") === true,
  };
}

/** The request's decision and its session's earlier outcomes, from the audit log files. */
export async function requestEvidence(
  request: ApprovalRequest,
  auditFiles: readonly string[],
): Promise<RequestEvidence> {
  let records;
  try {
    // Only the session's lines are parsed and kept (the log is written in canonical JSON, where
    // a string member reads exactly as JSON.stringify writes it).
    const member = `"session_id":${JSON.stringify(request.session_id)}`;
    ({ records } = await loadRecords(auditFiles, member));
  } catch {
    return { decision: undefined, before: [], available: false };
  }
  let decision: DecisionEvidence | undefined;
  const before: SessionRead[] = [];
  for (const { record } of records) {
    if (record["session_id"] !== request.session_id) continue;
    if (record["decision_id"] === request.decision_id) {
      if (record["event"] === "decision") decision = decisionOf(record);
      break;
    }
    if (
      record["event"] === "outcome" &&
      record["agent"] === request.agent &&
      path(record, "user.subject") === request.requester.subject
    ) {
      before.push(readOf(record));
    }
  }
  return { decision, before, available: true };
}

/** The rules after `change`, as EC2 would leave them (authorize adds once, revoke removes). */
export function applyChange(rules: readonly Rule[], change: Rule & { action: string }): Rule[] {
  const same = (r: Rule): boolean =>
    r.protocol === change.protocol && r.port_range === change.port_range && r.cidr === change.cidr;
  if (change.action === "revoke_ingress") return rules.filter((r) => !same(r));
  if (rules.some(same)) return [...rules];
  const { action: _action, ...rule } = change;
  return [...rules, rule];
}

/** The catalog's connector of aws_dev_read, the read below (the kill switch names connectors). */
const RULES_CONNECTOR = loadCatalog().tools.aws_dev_read.connector;

export interface RulesReader {
  worker: Pick<WorkerClient, "execute">;
  /** Whether the kill switch disables this connector now. */
  connectorDisabled: (connector: string) => boolean;
  audit: { append(record: AuditRecordInput): Promise<unknown> };
  now: () => number;
}

/** Before/after rules of a security-group change, read now through the worker. */
export async function securityGroupRules(
  request: ApprovalRequest,
  reader: RulesReader,
  viewer: string,
): Promise<RulesView> {
  if (request.tool !== "aws_modify_security_group") return { kind: "none" };
  const args = request.arguments as {
    account: string;
    region: string;
    group_id: string;
    change: Rule & { action: string };
  };
  const read = { account: args.account, region: args.region, group_ids: [args.group_id] };
  if (reader.connectorDisabled(RULES_CONNECTOR)) {
    return {
      kind: "unavailable",
      detail: `the kill switch disables the ${RULES_CONNECTOR} connector: not read`,
    };
  }
  try {
    // The system's own read for a person: audited before it runs, like every worker call.
    await reader.audit.append({
      timestamp: new Date(reader.now()).toISOString(),
      event: "notification",
      decision_id: request.decision_id,
      trace_id: request.trace_id,
      agent: "zyx-agent-gateway",
      tool: "aws_dev_read",
      arguments: read,
      details: { approval_id: request.id, purpose: "console_rules_view", viewer },
    });
    const answer = await reader.worker.execute({
      tool: "aws_dev_read",
      arguments: read,
      argumentsDigest: argumentsDigest(read),
      decisionId: request.decision_id,
      traceparent: `00-${request.trace_id.padEnd(32, "0").slice(0, 32)}-${"0".repeat(15)}1-01`,
      user: "system:approvals-console",
      agent: "zyx-agent-gateway",
    });
    const groups = asArray(path(answer.result, "security_groups"));
    const group = groups.find((g) => path(g, "group_id") === args.group_id);
    if (group === undefined) return { kind: "unavailable", detail: "the group was not found" };
    const before = asArray(path(group, "ingress")) as Rule[];
    return {
      kind: "rules",
      groupName: asString(path(group, "name")) ?? args.group_id,
      before,
      after: applyChange(before, args.change),
      change: args.change,
    };
  } catch (error) {
    return { kind: "unavailable", detail: error instanceof Error ? error.message : String(error) };
  }
}
