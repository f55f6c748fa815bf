// tools/list for one verified caller: the tools that this user, through this agent, on this
// device, may call now according to the policy, each described from the catalog and its zod
// argument schema.
//
// How the list is decided (no second policy, no copy of a rule): for every catalog tool the
// REAL decision entry point is evaluated with the caller's verified input (groups, agent,
// device, workflow, taint, the live kill switch) and EMPTY arguments. A tool is hidden when the
// decision carries any reason of the class "caller": the reasons whose Rego rules read only who
// calls, through which agent, from which device, and the kill switch (none of them reads
// `input.arguments`, so empty arguments cannot hide or reveal one). Reasons of the class "call"
// depend on the arguments (channel, account, production, change ticket, rollback plan) or on
// approval: the call itself decides those, with the real arguments. `REASON_CLASS` is a total
// map over REASON_CODES: a new reason code does not compile until someone classifies it.
//
// Failure modes, all closed: the policy cannot decide (no bundle, a trap) → the listing throws
// policy_unavailable (the client sees a JSON-RPC error, never a list computed without the
// policy). Listing is not a call: nothing is executed, counted toward limits, or audited.
import { z } from "zod";
import { loadCatalog, TOOL_NAMES, type Catalog, type ToolName } from "../../../common/catalog.ts";
import { TOOL_ARGUMENT_SCHEMAS } from "../../../common/tool-arguments.ts";
import { GatewayError } from "../lib/errors.ts";
import type { Caller } from "../pipeline/authenticate.ts";
import type { Approved, GatewayPorts } from "../pipeline/context.ts";
import { decisionInput } from "../pipeline/decide.ts";
import type { Decision, ReasonCode } from "../policy/decision.ts";
import { actorKey } from "../session.ts";

/** Which reasons hide a tool from a caller's list ("caller") and which only the call decides. */
export const REASON_CLASS: Readonly<Record<ReasonCode, "caller" | "call">> = {
  tool_unknown: "caller",
  user_not_in_group: "caller",
  agent_not_permitted: "caller",
  device_not_compliant: "caller",
  device_posture_stale: "caller",
  kill_switch_user: "caller",
  kill_switch_agent: "caller",
  kill_switch_connector: "caller",
  kill_switch_workflow: "caller",
  kill_switch_all_writes: "caller",
  read_only_mode: "caller",
  channel_not_allowed: "call",
  account_not_allowed: "call",
  project_not_allowed: "call",
  space_not_allowed: "call",
  repository_not_allowed: "call",
  ingress_source_not_allowed: "call",
  production_blocked: "call",
  change_ticket_required: "call",
  rollback_plan_required: "call",
  approval_required: "call",
};

/** The `_meta` keys of this gateway (MCP `_meta` prefix rules: a label, then a slash). */
export const META = {
  approvalId: "zyx/approval_id",
  context: "zyx/context",
  approval: "zyx/approval",
  write: "zyx/write",
  risk: "zyx/risk",
} as const;

export interface ListedTool {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: "object"; [key: string]: unknown };
  annotations: {
    title: string;
    readOnlyHint: boolean;
    destructiveHint: boolean;
    idempotentHint: boolean;
    openWorldHint: boolean;
  };
  _meta: Record<string, unknown>;
}

let catalogCache: Catalog | undefined;
const schemaCache = new Map<ToolName, ListedTool["inputSchema"]>();

function catalog(): Catalog {
  catalogCache ??= loadCatalog();
  return catalogCache;
}

/** The tool's argument schema as JSON Schema (2020-12), generated from the zod schema. */
export function inputSchemaOf(tool: ToolName): ListedTool["inputSchema"] {
  let schema = schemaCache.get(tool);
  if (schema === undefined) {
    const generated = z.toJSONSchema(TOOL_ARGUMENT_SCHEMAS[tool], { unrepresentable: "any" });
    schema = { ...generated, type: "object" };
    schemaCache.set(tool, schema);
  }
  return schema;
}

/** The MCP description of one tool, from the catalog; `decision` says what approval it needs. */
export function describeTool(tool: ToolName, decision: Decision): ListedTool {
  const entry = catalog().tools[tool];
  const approval = entry.approval_required
    ? "always needs human approval"
    : entry.write
      ? "may need human approval (risk, or a session that read suspected prompt injection)"
      : "needs no approval at ordinary risk";
  return {
    name: tool,
    title: tool,
    description: `${entry.description} (${entry.write ? "write" : "read-only"}; ${approval})`,
    inputSchema: inputSchemaOf(tool),
    annotations: {
      title: tool,
      readOnlyHint: !entry.write,
      destructiveHint: entry.write,
      idempotentHint: !entry.write,
      openWorldHint: true,
    },
    _meta: {
      [META.write]: entry.write,
      [META.risk]: entry.risk,
      [META.approval]: {
        always: entry.approval_required,
        required_now: decision.approval.required,
        approvers_required: decision.approval.approvers_required,
        approver_groups: decision.approval.approver_groups,
        how: `call, get approval_id and status_url, then call again with _meta["${META.approvalId}"]`,
      },
    },
  };
}

/** The listing input: the caller as verified, the tool, no arguments (see the header). */
function listingContext(ports: Pick<GatewayPorts, "policy">, caller: Caller, tool: ToolName) {
  const { principal } = caller;
  const agents = ports.policy.data?.zyx.config["agents"] as
    Record<string, { workflow?: string }> | undefined;
  const ctx: Pick<
    Approved,
    "principal" | "posture" | "approved" | "tool" | "args" | "workflow" | "sessionId" | "actorKey"
  > = {
    ...caller,
    approved: undefined,
    tool,
    args: {},
    workflow: agents?.[principal.agent]?.workflow ?? "unassigned",
    sessionId: "mcp:listing",
    actorKey: actorKey(principal.subject, principal.agent),
  };
  // decisionInput reads exactly these members of the call context.
  return ctx as Approved;
}

/** The tools this caller may call now; throws policy_unavailable when the policy cannot say. */
export async function listToolsFor(
  ports: Pick<GatewayPorts, "policy" | "sessions">,
  caller: Caller,
  nowMs: number,
): Promise<ListedTool[]> {
  const listed: ListedTool[] = [];
  for (const tool of TOOL_NAMES) {
    const input = decisionInput(ports, listingContext(ports, caller, tool), nowMs);
    const outcome = await ports.policy.evaluate(input);
    if (!outcome.ok) {
      throw new GatewayError("policy_unavailable", `no policy decision (${outcome.code})`);
    }
    const hidden = outcome.decision.reasons.some((r) => REASON_CLASS[r.code] === "caller");
    if (!hidden) listed.push(describeTool(tool, outcome.decision));
  }
  return listed;
}
