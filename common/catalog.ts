// The tool catalog: one copy, in rego/zyx/config/data.json, read by the Rego policy
// (as data.zyx.config) and by TypeScript through this module. Nothing here restates a fact
// that the file holds; this module only checks its shape, so that a broken or half-edited
// catalog stops the process at start-up instead of being half-read.
//
// Strictness: a tool entry is a strict object, so a misspelt optional key ("allowed_channel")
// stops the process instead of being silently ignored by TypeScript while the policy reads the
// real key's absence. The set of tools must equal TOOL_NAMES exactly. Agents, accounts and the
// top level are loose: the policy may give them fields TypeScript does not read (the fields
// TypeScript does read are still checked).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

/**
 * The tools TypeScript has argument schemas for (common/tool-arguments.ts). `parseCatalog`
 * refuses a catalog whose tools differ from this list, in either direction.
 */
export const TOOL_NAMES = [
  "jira_read",
  "github_read_pr",
  "confluence_read",
  "aws_dev_read",
  "jira_add_comment",
  "slack_post_message",
  "aws_modify_security_group",
  "jira_delete_comment",
  "slack_delete_message",
] as const;

export type ToolName = (typeof TOOL_NAMES)[number];

const TOOL_NAME_SET: ReadonlySet<string> = new Set(TOOL_NAMES);

export function isToolName(value: unknown): value is ToolName {
  return typeof value === "string" && TOOL_NAME_SET.has(value);
}

/** Absolute path of the catalog file, resolved from this module (not the working directory). */
export const CATALOG_PATH = join(import.meta.dirname, "..", "rego", "zyx", "config", "data.json");

const name = z.string().min(1).max(200);
const groups = z.array(name);
const nonNegative = z.number().int().nonnegative();

const ToolEntry = z.strictObject({
  description: z.string().min(1),
  risk: z.enum(["low", "medium", "high"]),
  connector: name,
  write: z.boolean(),
  allowed_groups: groups,
  allowed_accounts: z.array(name).optional(),
  allowed_channels: z.array(name).optional(),
  /** Jira projects whose tickets the tool may touch (the key's prefix: CHG of CHG-18422). */
  allowed_projects: z
    .array(z.string().regex(/^[A-Z][A-Z0-9]{1,9}$/))
    .min(1)
    .optional(),
  /** Confluence spaces the tool may read; a search without a space is refused. */
  allowed_spaces: z
    .array(z.string().regex(/^[A-Z][A-Z0-9]{1,9}$/))
    .min(1)
    .optional(),
  /** GitHub repositories as owner/name, compared case-insensitively (as GitHub does). */
  allowed_repositories: z
    .array(z.string().regex(/^[^/\s]+\/[^/\s]+$/))
    .min(1)
    .optional(),
  /**
   * Where a security-group change may open ingress from: an authorize_ingress whose CIDR no
   * range here contains is refused (ingress_source_not_allowed). Revocations are not limited.
   */
  allowed_ingress_sources: z
    .array(z.union([z.cidrv4(), z.cidrv6()]))
    .min(1)
    .optional(),
  production_allowed: z.boolean().optional(),
  approval_required: z.boolean(),
  approval_groups: groups,
  fallback_groups: groups,
  change_ticket_required: z.boolean().optional(),
  /** The Jira projects a change ticket must belong to, when one is required. */
  change_ticket_projects: z
    .array(z.string().regex(/^[A-Z][A-Z0-9]{1,9}$/))
    .min(1)
    .optional(),
  rollback_plan_required: z.boolean().optional(),
  /**
   * Post-hoc review: when the decision would need exactly one approver, the call runs at once
   * and the approvers review it afterwards; a rejection runs its compensation. "always", or
   * "outside_business_hours" (the policy decides which applies). Absent: approval comes first.
   */
  post_hoc: z.enum(["always", "outside_business_hours"]).optional(),
});

const AgentEntry = z.looseObject({
  description: z.string().min(1),
  /** The workflow this agent serves (context.workflow), when the catalog names one. */
  workflow: name.optional(),
  /** The gateway's own agent (post-hoc compensations): never an external client's. */
  system: z.boolean().optional(),
  tools: z.array(z.enum(TOOL_NAMES)),
  /**
   * The networks (CIDRs) this agent's runtime calls from: a call recorded from elsewhere fires
   * the agent_unusual_network detection. Absent: not declared (the detection cannot judge).
   */
  networks: z
    .array(z.union([z.cidrv4(), z.cidrv6()]))
    .min(1)
    .optional(),
});

const AwsAccount = z.looseObject({
  id: z.string().regex(/^[0-9]{12}$/, "must be a 12-digit AWS account id"),
  name,
  environment: z.enum(["development", "staging", "production"]),
});

const CatalogSchema = z
  .looseObject({
    version: z.string().min(1),
    // Exhaustive: every name in TOOL_NAMES, and no other.
    tools: z.record(z.enum(TOOL_NAMES), ToolEntry),
    agents: z.record(z.string(), AgentEntry),
    aws_accounts: z.record(z.string(), AwsAccount),
    posture: z.looseObject({
      max_age_seconds: nonNegative,
      future_skew_seconds: nonNegative,
    }),
    business_hours: z.looseObject({
      timezone: name,
      utc_offset_minutes: z.number().int(),
      weekdays: z.array(z.number().int().min(1).max(7)),
      start_hour: z.number().int().min(0).max(24),
      end_hour: z.number().int().min(0).max(24),
    }),
    risk: z.looseObject({
      tool_risk_points: z.record(z.enum(["low", "medium", "high"]), nonNegative),
      write_points: nonNegative,
      environment_points: z.record(z.enum(["development", "staging", "production"]), nonNegative),
      outside_business_hours_points: nonNegative,
      recent_denials_threshold: nonNegative,
      recent_denials_points: nonNegative,
      tainted_session_points: nonNegative,
      max_score: nonNegative,
      one_approver_from: nonNegative,
      two_approvers_from: nonNegative,
    }),
  })
  .superRefine((catalog, ctx) => {
    for (const [tool, entry] of Object.entries(catalog.tools)) {
      if (entry.post_hoc !== undefined && (entry.approval_required || !entry.write)) {
        ctx.addIssue({
          code: "custom",
          path: ["tools", tool, "post_hoc"],
          message: "only a write tool that does not always need approval may be post-hoc",
        });
      }
      for (const alias of entry.allowed_accounts ?? []) {
        if (!Object.hasOwn(catalog.aws_accounts, alias)) {
          ctx.addIssue({
            code: "custom",
            path: ["tools", tool, "allowed_accounts"],
            message: `account alias ${alias} is not in aws_accounts`,
          });
        }
      }
    }
  });

export type CatalogTool = z.infer<typeof ToolEntry>;
export type CatalogAgent = z.infer<typeof AgentEntry>;
export type CatalogAwsAccount = z.infer<typeof AwsAccount>;

/** The validated catalog; `tools` is keyed by exactly the names in TOOL_NAMES. */
export type Catalog = z.infer<typeof CatalogSchema>;

/** Thrown when the catalog file cannot be read or does not have the expected shape. */
export class CatalogError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "CatalogError";
  }
}

/** Validates already-parsed catalog JSON. Throws CatalogError listing every problem. */
export function parseCatalog(json: unknown): Catalog {
  const parsed = CatalogSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => describe(issue, json));
    throw new CatalogError(`tool catalog is invalid: ${problems.join("; ")}`);
  }
  return parsed.data;
}

function describe(issue: z.core.$ZodIssue, json: unknown): string[] {
  const [section, key] = issue.path;
  if (section === "tools" && issue.path.length === 1 && issue.code === "unrecognized_keys") {
    return issue.keys.map(
      (tool) => `tools.${tool}: no argument schema in common/tool-arguments.ts`,
    );
  }
  if (section === "tools" && issue.path.length === 2 && issue.code === "invalid_type") {
    const tools = (json as { tools?: Record<string, unknown> }).tools ?? {};
    if (typeof key === "string" && !Object.hasOwn(tools, key)) {
      return [`tools.${key}: missing from the catalog (TOOL_NAMES lists it)`];
    }
  }
  return [`${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`];
}

/** The agents that external callers may act as (the catalog's `system` agents excluded). */
export function externalAgentIds(catalog: Pick<Catalog, "agents">): string[] {
  return Object.entries(catalog.agents)
    .filter(([, agent]) => agent.system !== true)
    .map(([id]) => id);
}

/** The tools that change something (`write: true`): a failure mid-call leaves their effect unknown. */
export function writeToolNames(catalog: Pick<Catalog, "tools">): ReadonlySet<ToolName> {
  return new Set(
    Object.entries(catalog.tools)
      .filter(([, entry]) => entry.write)
      .map(([tool]) => tool as ToolName),
  );
}

/** Reads and validates the catalog file (default: rego/zyx/config/data.json). */
export function loadCatalog(path: string = CATALOG_PATH): Catalog {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CatalogError(`cannot read the tool catalog at ${path}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CatalogError(`the tool catalog at ${path} is not JSON`, { cause: error });
  }
  return parseCatalog(json);
}
