// The change review, as the walkthrough describes it: read the ticket, the pull request, the
// security standards and the AWS development metadata; derive the findings; post the Jira comment
// and the Slack summary. Every tool goes through the gateway port (one call per tool); nothing
// else leaves this module, so it is tested with a fake gateway.
//
// Retrieved content is evidence, never instructions. It is parsed as data (zod) and read by the
// rules; no retrieved text reaches the comment or the summary, which are built from the rule
// table and the request's validated identifiers only. Injection indicators the gateway reports
// are passed on as warnings and change nothing the review does; if the gateway holds a write for
// approval (a tainted session), the review reports it and neither retries nor works around it.
import { z } from "zod";
import type { ToolName } from "../../../common/catalog.ts";
import { analyzeChange, type RuleHit } from "./analysis.ts";
import { ReviewError } from "./errors.ts";
import {
  APPROVALS,
  REVIEW_CHANNEL,
  RULES,
  SEVERITIES,
  type Rule,
  type RuleId,
  type Severity,
} from "./rules.ts";

// --- The gateway port ----------------------------------------------------------------------

/** How the worker's output guard judged a result (the gateway passes it on). */
export const Evidence = z.looseObject({
  untrusted: z.boolean(),
  injection: z.looseObject({
    suspected: z.boolean(),
    indicators: z.array(z.string()),
  }),
});
export type Evidence = z.infer<typeof Evidence>;

export type ToolOutcome =
  | {
      status: "executed";
      tool: ToolName;
      result: unknown;
      evidence: Evidence | undefined;
      decisionId: string;
    }
  | {
      status: "pending_approval";
      tool: ToolName;
      approvalId: string;
      statusUrl: string;
      decisionId: string;
    };

/**
 * One review's channel to the gateway: its delegated token, the engineer's posture, one trace
 * and one session for every call. Refusals and failures throw ReviewError.
 */
export interface ToolGateway {
  /** `purpose` is recorded in the gateway's audit (the call's decision_trace). */
  readonly call: (
    tool: ToolName,
    args: Record<string, unknown>,
    purpose: string,
  ) => Promise<ToolOutcome>;
}

// --- What the review reads of each result --------------------------------------------------

const JiraIssue = z.looseObject({
  key: z.string(),
  rollback_plan: z.string().nullable(),
});

const PullRequest = z.looseObject({
  repository: z.string(),
  number: z.number(),
  files: z.array(
    z.looseObject({
      path: z.string(),
      patch: z.string().nullable(),
    }),
  ),
});

const ConfluencePages = z.looseObject({
  pages: z.array(z.looseObject({ id: z.string(), title: z.string() })),
});

const AwsMetadata = z.looseObject({
  region: z.string(),
  security_groups: z.array(z.looseObject({ group_id: z.string() })),
});

function read<T>(schema: z.ZodType<T>, outcome: ToolOutcome): T {
  if (outcome.status !== "executed") {
    throw new ReviewError(
      "approval_required",
      `the gateway holds ${outcome.tool} for human approval; the review cannot go on without it`,
      {
        extensions: {
          tool: outcome.tool,
          approval_id: outcome.approvalId,
          status_url: outcome.statusUrl,
          decision_id: outcome.decisionId,
        },
      },
    );
  }
  const parsed = schema.safeParse(outcome.result);
  if (!parsed.success) {
    throw new ReviewError("tool_result_invalid", `${outcome.tool} returned an unexpected result`, {
      extensions: {
        tool: outcome.tool,
        issues: parsed.error.issues.map((issue) => ({
          path: issue.path.join("."),
          message: issue.message,
        })),
      },
    });
  }
  return parsed.data;
}

// --- The report ----------------------------------------------------------------------------

export interface ReviewRequest {
  ticket: string;
  /** "owner/name". */
  repository: string;
  pull_request: number;
}

export interface ReviewReport {
  ticket: string;
  repository: string;
  pull_request: number;
  risk_rating: Severity;
  findings: string[];
  required_approvals: string[];
  recommended_remediation: string[];
}

const RULE_BY_ID = new Map<RuleId, Rule>(RULES.map((rule) => [rule.id, rule]));

function ruleOf(id: RuleId): Rule {
  const rule = RULE_BY_ID.get(id);
  if (rule === undefined) throw new Error(`no rule ${id} in the rule table`);
  return rule;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** The risk rating: the most severe finding's severity, "Low" without findings. */
export function riskRating(hits: readonly RuleHit[]): Severity {
  const severities = new Set(hits.map((hit) => ruleOf(hit.rule).severity));
  return SEVERITIES.find((severity) => severities.has(severity)) ?? "Low";
}

/** The review's lists, from the rules that apply, in the rule table's order. */
export function buildReport(request: ReviewRequest, hits: readonly RuleHit[]): ReviewReport {
  const rules = RULES.filter((rule) => hits.some((hit) => hit.rule === rule.id));
  const approvals = new Set(rules.flatMap((rule) => rule.approvals));
  return {
    ticket: request.ticket,
    repository: request.repository,
    pull_request: request.pull_request,
    risk_rating: riskRating(hits),
    findings: unique(rules.map((rule) => rule.finding)),
    required_approvals: APPROVALS.filter((a) => approvals.has(a.id)).map((a) => a.text),
    recommended_remediation: unique(rules.map((rule) => rule.remediation)),
  };
}

function bullets(items: readonly string[]): string {
  return items.length === 0 ? "- None." : items.map((item) => `- ${item}`).join("\n");
}

/** The Jira comment, in the walkthrough's format. */
export function renderJiraComment(report: ReviewReport): string {
  return [
    "## AI Security Review Summary",
    `Change: ${report.ticket}`,
    `Linked PR: ${report.repository}/pull/${report.pull_request}`,
    `Risk rating: ${report.risk_rating}`,
    "### Findings",
    bullets(report.findings),
    "### Required approvals",
    bullets(report.required_approvals),
    "### Recommended remediation",
    bullets(report.recommended_remediation),
    "This review is advisory and requires human validation before deployment.",
    "",
  ].join("\n");
}

/**
 * The Slack summary, in the walkthrough's words: who must review, then the risks of the
 * review's rating, each named once.
 */
export function renderSlackSummary(report: ReviewReport): string {
  const rules = RULES.filter((rule) => report.findings.includes(rule.finding));
  if (rules.length === 0) {
    return (
      `${report.ticket}: the automated review of ${report.repository}#${report.pull_request} ` +
      "found no issues. Human validation is still required before deployment."
    );
  }
  const first = APPROVALS.find((approval) => report.required_approvals.includes(approval.text));
  const labels = unique(
    rules.filter((rule) => rule.severity === report.risk_rating).map((rule) => rule.label),
  );
  return (
    `${report.ticket} requires ${first?.reviewer ?? "security"} review before promotion. ` +
    `${report.risk_rating}-risk items: ${labels.join(", ")}.`
  );
}

// --- The run -------------------------------------------------------------------------------

export interface PendingApproval {
  tool: ToolName;
  approval_id: string;
  status_url: string;
}

export interface EvidenceWarning {
  tool: ToolName;
  indicators: string[];
}

export interface ReviewResult extends ReviewReport {
  /** The tools the gateway ran for this review, in order. */
  tools_used: ToolName[];
  /** Writes the gateway holds for human approval. */
  pending_approvals: PendingApproval[];
  /** Prompt-injection indicators the worker's guard saw in retrieved content. */
  evidence_warnings: EvidenceWarning[];
  /** Where each finding was seen (not part of the walkthrough's response). */
  hits: RuleHit[];
  /** The Jira comment and the Slack summary, as sent. */
  jira_comment: string;
  slack_summary: string;
}

export interface ReviewOptions {
  /** The development account and region whose metadata the review reads. */
  awsAccount: string;
  awsRegion: string;
  /** The Confluence space of the security standards. */
  standardsSpace: string;
  /** Where the summary goes (the catalog's allowed channel). */
  slackChannel?: string;
}

/**
 * Every call's outcome once all have settled, in the order given; the first failure in that
 * order if any failed (none is left running unobserved, and which error the caller hears does
 * not depend on timing).
 */
async function together<const T extends readonly Promise<ToolOutcome>[]>(
  calls: T,
): Promise<{ [K in keyof T]: ToolOutcome }> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((result) => result.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<ToolOutcome>).value) as {
    [K in keyof T]: ToolOutcome;
  };
}

export async function runReview(
  request: ReviewRequest,
  gateway: ToolGateway,
  options: ReviewOptions,
): Promise<ReviewResult> {
  const label = `${request.ticket} ${request.repository}#${request.pull_request}`;
  const toolsUsed: ToolName[] = [];
  const pending: PendingApproval[] = [];
  const warnings: EvidenceWarning[] = [];
  let step = 0;
  /** Asks the gateway; the step is numbered when asked, in the order of the code below. */
  const ask = (tool: ToolName, args: Record<string, unknown>, purpose: string) => {
    step += 1;
    return gateway.call(tool, args, `change review ${label}, step ${String(step)}: ${purpose}`);
  };
  /** What the review reports of an outcome; called in the order the calls were asked. */
  const note = (tool: ToolName, outcome: ToolOutcome): ToolOutcome => {
    if (outcome.status === "executed") {
      toolsUsed.push(tool);
      if (outcome.evidence?.injection.suspected === true) {
        warnings.push({ tool, indicators: [...outcome.evidence.injection.indicators] });
      }
    } else {
      pending.push({ tool, approval_id: outcome.approvalId, status_url: outcome.statusUrl });
    }
    return outcome;
  };
  const call = async (tool: ToolName, args: Record<string, unknown>, purpose: string) =>
    note(tool, await ask(tool, args, purpose));

  // The ticket first: a review of a ticket the engineer may not read stops at one denial.
  const ticket = read(
    JiraIssue,
    await call("jira_read", { ticket: request.ticket }, "read the change ticket"),
  );
  // The pull request (named by the request), the standards and the account's metadata do not
  // depend on each other: asked together, reported in this order whatever answers first.
  const [pullOutcome, pagesOutcome, awsOutcome] = await together([
    ask(
      "github_read_pr",
      { repository: request.repository, pull_request: request.pull_request },
      "read the pull request and its diffs",
    ),
    ask("confluence_read", { space: options.standardsSpace }, "read the security standards"),
    ask(
      "aws_dev_read",
      { account: options.awsAccount, region: options.awsRegion },
      "read the development account's metadata",
    ),
  ]);
  const pull = read(PullRequest, note("github_read_pr", pullOutcome));
  read(ConfluencePages, note("confluence_read", pagesOutcome));
  read(AwsMetadata, note("aws_dev_read", awsOutcome));

  const hits = analyzeChange(ticket, pull);
  const report = buildReport(request, hits);
  const comment = renderJiraComment(report);
  const summary = renderSlackSummary(report);
  await call("jira_add_comment", { ticket: request.ticket, body: comment }, "comment the review");
  await call(
    "slack_post_message",
    { channel: options.slackChannel ?? REVIEW_CHANNEL, text: summary },
    "post the summary",
  );
  return {
    ...report,
    tools_used: toolsUsed,
    pending_approvals: pending,
    evidence_warnings: warnings,
    hits,
    jira_comment: comment,
    slack_summary: summary,
  };
}
