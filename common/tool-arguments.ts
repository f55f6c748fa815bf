// One strict argument schema per catalog tool: the same copy guards the gateway (before the
// policy sees a call) and the agent worker (before a connector runs one).
//
// Rules that hold for every schema below:
// - Objects are strict: an unknown key is an error, never silently dropped.
// - Schemas validate and never transform: a value that passes is returned unchanged, so the
//   digest the gateway signs and the arguments the worker re-checks are the same JSON.
// - Every identifier has ONE spelling (no leading zeros, one case, canonical IPv6, "22" not
//   "22-22"), so a policy rule that compares strings cannot be sidestepped by an equivalent
//   spelling.
// - Formats only. Which channel, account or CIDR is *allowed*, and when a change ticket or a
//   rollback plan is *required*, is the policy's decision, reported with its own reason codes.
import { z } from "zod";
import { isToolName, type ToolName } from "./catalog.ts";

// --- Identifiers ------------------------------------------------------------

/** Jira issue key: project key (2-10, upper case) and issue number without leading zero. */
export const JIRA_KEY = /^[A-Z][A-Z0-9]{1,9}-[1-9][0-9]{0,6}$/;
const JIRA_PROJECT = /^[A-Z][A-Z0-9]{1,9}$/;
/** GitHub owner (user or organisation): alphanumerics and single inner hyphens, 1-39. */
const GITHUB_OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
const GITHUB_REPOSITORY_NAME = /^[A-Za-z0-9._-]{1,100}$/;
const SLACK_CHANNEL = /^[a-z0-9][a-z0-9_-]{0,79}$/;
const CONFLUENCE_LABEL = /^[a-z0-9][a-z0-9_-]{0,99}$/;
const AWS_ACCOUNT = /^[0-9]{12}$/;
const AWS_REGION = /^[a-z]{2}(-gov)?-[a-z]+-[0-9]$/;
/** A Slack channel ID as Slack answers it (public C…, private G…). */
const SLACK_CHANNEL_ID = /^[CG][A-Z0-9]{8,20}$/;
/** A Slack message timestamp ("1716345600.000100"). */
const SLACK_TS = /^[1-9][0-9]{8,10}\.[0-9]{6}$/;
/** A Jira comment id: digits, no leading zero. */
const JIRA_COMMENT_ID = /^[1-9][0-9]{0,17}$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8}([0-9a-f]{9})?$/;
const PORT_RANGE = /^(0|[1-9][0-9]{0,4})(?:-(0|[1-9][0-9]{0,4}))?$/;
/** Characters AWS accepts in a security-group rule description. */
const AWS_RULE_DESCRIPTION = /^[A-Za-z0-9. _\-:/()#,@[\]+=&;{}!$*]{1,255}$/;
// C0 controls other than tab, line feed and carriage return, and DEL.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

export const LIMITS = {
  /** Jira's own limit on a comment body, in UTF-16 code units. */
  jiraCommentChars: 32_767,
  /** Slack's recommended maximum for a message `text`. */
  slackTextChars: 4_000,
  rollbackPlanChars: 4_000,
  pullRequestMax: 1_000_000_000,
  groupIdsMax: 20,
} as const;

const jiraKey = z.string().regex(JIRA_KEY, "must be a Jira issue key such as CHG-18422");

// Repository: "owner/name" is required. The seed's bare "platform-infra" (organisation
// implied) is refused: which organisation a name belongs to is exactly what a reviewer and
// the audit log must see, and an implied default would silently move if the default changed.
// GitHub compares owner and name case-insensitively; a policy rule on repositories must too.
const repository = z
  .string()
  .max(140)
  .refine((value) => {
    const parts = value.split("/");
    if (parts.length !== 2) return false;
    const [owner = "", repo = ""] = parts;
    return (
      GITHUB_OWNER.test(owner) &&
      GITHUB_REPOSITORY_NAME.test(repo) &&
      repo !== "." &&
      repo !== ".." &&
      !repo.toLowerCase().endsWith(".git")
    );
  }, "must be a GitHub repository as owner/name, such as zyx-bank/platform-infra");

const pullRequest = z
  .int("must be a whole number (a JSON number, not a string)")
  .min(1, "must be at least 1")
  .max(LIMITS.pullRequestMax, `must be at most ${LIMITS.pullRequestMax}`);

const slackChannel = z
  .string()
  .regex(SLACK_CHANNEL, "must be a Slack channel name: lower case, digits, - and _, no '#'");

const awsAccount = z.string().regex(AWS_ACCOUNT, "must be a 12-digit AWS account id string");
const awsRegion = z.string().regex(AWS_REGION, "must be an AWS region such as ap-southeast-1");
const securityGroupId = z
  .string()
  .regex(SECURITY_GROUP_ID, "must be a security-group id: sg- and 8 or 17 lower-case hex digits");

/** Well-formed Unicode without control characters but tab and newlines (what free text may hold). */
export function isCleanText(value: string): boolean {
  return value.isWellFormed() && !FORBIDDEN_CONTROL.test(value);
}

/** Free text: well-formed Unicode, not blank, no control characters but tab and newlines. */
function text(maxChars: number) {
  return z
    .string()
    .max(maxChars, `must be at most ${maxChars} characters`)
    .refine((value) => value.trim() !== "", "must not be empty or blank")
    .refine((value) => value.isWellFormed(), "must be well-formed Unicode (no lone surrogates)")
    .refine(
      (value) => !FORBIDDEN_CONTROL.test(value),
      "must not contain control characters other than tab and newlines",
    );
}

// --- Slack Block Kit (a bounded, plain-text subset) ---------------------------
// Only plain_text objects: no mrkdwn, so no mention, no disguised link (the same rule as the
// escaped `text`). A button may link to an http(s) URL, which a bare URL in `text` could do too.

const plainText = (maxChars: number) =>
  z.strictObject({
    type: z.literal("plain_text"),
    text: text(maxChars),
    emoji: z.boolean().optional(),
  });

// A button's link as Slack receives it: printable ASCII only. The URL parser would take a NUL,
// a space or a lone surrogate and percent-encode it, so the stored request and the link people
// see would differ from the text the agent sent (and PostgreSQL's jsonb cannot hold a NUL); a
// non-ASCII host is a homograph's way in. Anything else is percent-encoded by the caller.
// Checked before the URL parser, which drops tabs and newlines from what it hands on.
const buttonUrl = z
  .string()
  .max(3_000)
  .regex(/^[\x21-\x7E]+$/, "must be printable ASCII: percent-encode anything else")
  .pipe(z.url({ protocol: /^https?$/ }));

const slackBlock = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("header"), text: plainText(150) }),
  z.strictObject({
    type: z.literal("section"),
    text: plainText(3_000).optional(),
    fields: z.array(plainText(2_000)).min(1).max(10).optional(),
  }),
  z.strictObject({
    type: z.literal("context"),
    elements: z.array(plainText(2_000)).min(1).max(10),
  }),
  z.strictObject({ type: z.literal("divider") }),
  z.strictObject({
    type: z.literal("actions"),
    elements: z
      .array(
        z.strictObject({
          type: z.literal("button"),
          text: plainText(75),
          url: buttonUrl,
          action_id: z
            .string()
            .regex(/^[a-z0-9_-]{1,255}$/)
            .optional(),
          style: z.enum(["primary", "danger"]).optional(),
        }),
      )
      .min(1)
      .max(5),
  }),
]);

/** Block Kit blocks of a message: at most 20 (Slack's limit is 50). */
export const slackBlocks = z.array(slackBlock).min(1).max(20);
export type SlackBlocks = z.infer<typeof slackBlocks>;

// --- CIDR -------------------------------------------------------------------

const cidrV4 = z.cidrv4();
const cidrV6 = z.cidrv6();

function ipv4ToInt(address: string): number {
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Hex-group IPv6 text (with at most one "::") to its 128-bit value; undefined otherwise. */
function ipv6ToBigInt(address: string): bigint | undefined {
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const [head = "", tail] = halves;
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - headGroups.length - tailGroups.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const groups = [...headGroups, ...Array<string>(tail === undefined ? 0 : missing).fill("0")];
  groups.push(...tailGroups);
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(Number.parseInt(group, 16));
  }
  return value;
}

/** RFC 5952 text of a 128-bit address: lower case, no leading zeros, longest zero run as "::". */
function ipv6Canonical(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestLength < 2) return hex.join(":");
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLength).join(":");
  return `${left}::${right}`;
}

/** Why a CIDR string is refused, or undefined when it is a canonical network prefix. */
function cidrProblem(value: string): string | undefined {
  const [address = "", prefixText = ""] = value.split("/");
  const prefix = Number(prefixText);
  if (cidrV4.safeParse(value).success) {
    // address mod 2^(32 - prefix) is the host part: a network prefix has none.
    if (ipv4ToInt(address) % 2 ** (32 - prefix) !== 0) {
      return "must be a network prefix (host bits zero)";
    }
    return undefined;
  }
  if (cidrV6.safeParse(value).success) {
    const base = ipv6ToBigInt(address);
    if (base === undefined) return "must be an IPv6 CIDR in hexadecimal groups";
    const hostMask = (1n << BigInt(128 - prefix)) - 1n;
    if ((base & hostMask) !== 0n) return "must be a network prefix (host bits zero)";
    const canonical = `${ipv6Canonical(base)}/${prefix}`;
    if (canonical !== value) return `must be written in canonical form (RFC 5952): ${canonical}`;
    return undefined;
  }
  return "must be an IPv4 or IPv6 CIDR such as 10.0.0.0/16 or 2001:db8::/32";
}

const cidr = z.string().superRefine((value, ctx) => {
  const problem = cidrProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

// --- Port range -------------------------------------------------------------

// A string, "22" or "1024-2048": the form security reviews and change tickets use, and one
// JSON value for the policy to read. Bounds 0..65535, from <= to, and a single port is written
// once ("22", never "22-22") so each range has exactly one spelling.
const portRange = z.string().superRefine((value, ctx) => {
  const match = PORT_RANGE.exec(value);
  if (match === null) {
    ctx.addIssue({
      code: "custom",
      message: 'must be a port or a range, such as "22" or "1024-2048"',
    });
    return;
  }
  const from = Number(match[1]);
  const to = match[2] === undefined ? from : Number(match[2]);
  if (from > 65_535 || to > 65_535) {
    ctx.addIssue({ code: "custom", message: "ports must be between 0 and 65535" });
  } else if (from > to) {
    ctx.addIssue({ code: "custom", message: "the first port must not exceed the last" });
  } else if (match[2] !== undefined && from === to) {
    ctx.addIssue({ code: "custom", message: `a single port is written once: "${from}"` });
  }
});

// --- Schemas ----------------------------------------------------------------

const securityGroupChange = z
  .strictObject({
    action: z.enum(["authorize_ingress", "revoke_ingress"]),
    /** "-1" is AWS's "all protocols". */
    protocol: z.enum(["tcp", "udp", "icmp", "-1"]),
    port_range: portRange,
    cidr,
    description: z
      .string()
      .regex(AWS_RULE_DESCRIPTION, "must be 1-255 characters AWS accepts in a rule description")
      .optional(),
  })
  // All protocols means all ports: a narrower range would misstate what the rule opens.
  .refine((change) => change.protocol !== "-1" || change.port_range === "0-65535", {
    message: 'protocol "-1" (all) opens every port: port_range must be "0-65535"',
    path: ["port_range"],
  });

export const TOOL_ARGUMENT_SCHEMAS = {
  jira_read: z.strictObject({ ticket: jiraKey }),

  github_read_pr: z.strictObject({ repository, pull_request: pullRequest }),

  confluence_read: z
    .strictObject({
      space: z
        .string()
        .regex(JIRA_PROJECT, "must be a Confluence space key such as SEC")
        .optional(),
      label: z
        .string()
        .regex(CONFLUENCE_LABEL, "must be a Confluence label: lower case, digits, - and _")
        .optional(),
    })
    .refine((value) => value.space !== undefined || value.label !== undefined, {
      message: "give a space, a label or both",
    }),

  aws_dev_read: z.strictObject({
    account: awsAccount,
    region: awsRegion,
    // Omit to list the account's groups; when given, 1-20 distinct ids.
    group_ids: z
      .array(securityGroupId)
      .min(1, "omit group_ids rather than sending an empty list")
      .max(LIMITS.groupIdsMax, `at most ${LIMITS.groupIdsMax} group ids`)
      .refine((ids) => new Set(ids).size === ids.length, "group ids must be distinct")
      .optional(),
  }),

  jira_add_comment: z.strictObject({
    ticket: jiraKey,
    body: text(LIMITS.jiraCommentChars),
  }),

  slack_post_message: z.strictObject({
    channel: slackChannel,
    /** The message's text; with blocks, the notification and accessibility fallback. */
    text: text(LIMITS.slackTextChars),
    blocks: slackBlocks.optional(),
  }),

  // Compensations: they undo one write the worker made, named by the handle it returned.
  jira_delete_comment: z.strictObject({
    ticket: jiraKey,
    comment_id: z.string().regex(JIRA_COMMENT_ID, "must be a Jira comment id (digits)"),
  }),

  slack_delete_message: z.strictObject({
    channel: z.string().regex(SLACK_CHANNEL_ID, "must be a Slack channel ID such as C07DEVSECOPS"),
    ts: z.string().regex(SLACK_TS, "must be a Slack message ts such as 1716345600.000100"),
  }),

  // change_ticket and rollback_plan are optional here on purpose: the policy says when they
  // are required (change_ticket_required, rollback_plan_required). When present they must be
  // well formed.
  aws_modify_security_group: z.strictObject({
    account: awsAccount,
    region: awsRegion,
    group_id: securityGroupId,
    change: securityGroupChange,
    change_ticket: jiraKey.optional(),
    rollback_plan: text(LIMITS.rollbackPlanChars).optional(),
  }),
} as const satisfies Record<ToolName, z.ZodType>;

export type ToolArguments<T extends ToolName = ToolName> = z.infer<
  (typeof TOOL_ARGUMENT_SCHEMAS)[T]
>;

/** A validated call: `tool` narrows `arguments`. */
export type ToolCall = {
  [T in ToolName]: { tool: T; arguments: ToolArguments<T> };
}[ToolName];

export interface ArgumentIssue {
  /** JSON Pointer (RFC 6901) into the arguments object; "" is the object itself. */
  path: string;
  message: string;
}

export type ParseToolArgumentsResult =
  | ({ ok: true } & ToolCall)
  | { ok: false; reason: "tool_not_found" }
  | { ok: false; reason: "arguments_invalid"; issues: ArgumentIssue[] };

function pointer(path: readonly PropertyKey[]): string {
  return path
    .map((segment) => `/${String(segment).replaceAll("~", "~0").replaceAll("/", "~1")}`)
    .join("");
}

function valueAt(root: unknown, path: readonly PropertyKey[]): { found: boolean } {
  let current: unknown = root;
  for (const segment of path) {
    if (typeof current !== "object" || current === null) return { found: false };
    if (!Object.hasOwn(current, segment)) return { found: false };
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return { found: true };
}

/** Paths of every own "__proto__" member in a JSON value (depth-bounded, like the schemas). */
export function protoKeyPaths(
  value: unknown,
  path: PropertyKey[] = [],
  depth = 0,
): PropertyKey[][] {
  if (typeof value !== "object" || value === null || depth > 32) return [];
  const found: PropertyKey[][] = [];
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    if (key === "__proto__") found.push([...path, key]);
    found.push(...protoKeyPaths(child, [...path, key], depth + 1));
  }
  return found;
}

function toIssues(error: z.ZodError, args: unknown): ArgumentIssue[] {
  const issues: ArgumentIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      // One issue per unknown key, each pointing at the key itself.
      for (const key of issue.keys) {
        issues.push({ path: pointer([...issue.path, key]), message: "unknown argument" });
      }
    } else if (issue.code === "invalid_type" && !valueAt(args, issue.path).found) {
      issues.push({ path: pointer(issue.path), message: "is required" });
    } else if (issue.code === "invalid_type" && issue.path.length === 0) {
      issues.push({ path: "", message: "arguments must be a JSON object" });
    } else if (issue.code === "invalid_value") {
      const allowed = issue.values.map((value) => JSON.stringify(value)).join(", ");
      issues.push({ path: pointer(issue.path), message: `must be one of ${allowed}` });
    } else {
      issues.push({ path: pointer(issue.path), message: issue.message });
    }
  }
  return issues;
}

/**
 * Validates the arguments of one call against the schema of `tool`.
 * Lists every problem it finds, each with a JSON Pointer to the offending value.
 */
export function parseToolArguments(tool: string, args: unknown): ParseToolArgumentsResult {
  if (!isToolName(tool)) return { ok: false, reason: "tool_not_found" };
  // Zod drops an own "__proto__" member without a word: what was sent and what is decided on
  // would differ. Refused here, as every other unknown key is.
  const proto = protoKeyPaths(args);
  if (proto.length > 0) {
    return {
      ok: false,
      reason: "arguments_invalid",
      issues: proto.map((path) => ({ path: pointer(path), message: "unknown argument" })),
    };
  }
  const schema: z.ZodType = TOOL_ARGUMENT_SCHEMAS[tool];
  const parsed = schema.safeParse(args);
  if (!parsed.success) {
    return { ok: false, reason: "arguments_invalid", issues: toIssues(parsed.error, args) };
  }
  // The schema for `tool` produced this value, so the pair is a consistent ToolCall.
  return { ok: true, tool, arguments: parsed.data } as { ok: true } & ToolCall;
}
