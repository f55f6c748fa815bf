// Test support: the fixture data as the worker's tools return it, and a policy bundle whose
// business hours never end.
//
// Why that bundle: the policy adds a risk point to a write made outside the bank's business
// hours, and a Jira comment (medium risk, a write) then reaches the one-approver threshold. Run
// on a Saturday, the walkthrough's review would rightly wait for approval. The end-to-end tests
// assert both paths deterministically: the real rules with every hour a business hour, and the
// taint of an injection ticket (which holds writes whatever the hour).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCatalog, type ToolName } from "../../../common/catalog.ts";
import { parseToolArguments } from "../../../common/tool-arguments.ts";
import { createGitHubFixtures } from "../../../agent/src/connectors/github/fixtures.ts";
import { createFixtureConnectors } from "../../../agent/src/connectors/index.ts";
import { guardOutput } from "../../../agent/src/guard/output-guard.ts";
import { createToolExecutor } from "../../../agent/src/tools.ts";
import { createJiraFixtures } from "../../../agent/src/connectors/jira/fixtures.ts";
import type { JiraIssue, PullRequest } from "../../../agent/src/connectors/port.ts";
import { alwaysBusinessHours, buildPolicyVariant } from "../../../scripts/lib/policy-variant.ts";
import type { ReviewError } from "../src/errors.ts";
import type { ToolGateway, ToolOutcome } from "../src/review.ts";

export const REPOSITORY = "zyx-bank/platform-infra";

/** The development account, region and standards space the runtime reads by default. */
export const REVIEW_OPTIONS = {
  awsAccount: "111122223333",
  awsRegion: "ap-southeast-1",
  standardsSpace: "SEC",
};

const github = createGitHubFixtures();
const jira = createJiraFixtures({
  writesPath: join(mkdtempSync(join(tmpdir(), "zyx-cr-jira-")), "writes.jsonl"),
});

/** A fixture pull request, exactly as github_read_pr returns it. */
export function fixturePull(number: number): Promise<PullRequest> {
  return github.getPullRequest(REPOSITORY, number);
}

/** A fixture ticket, exactly as jira_read returns it. */
export function fixtureTicket(key: string): Promise<JiraIssue> {
  return jira.getIssue(key);
}

/** The walkthrough's expected review of CHG-18422 / platform-infra#991, word for word. */
export const SEED_REVIEW = {
  risk_rating: "High",
  findings: [
    "S3 bucket does not explicitly enforce public access block.",
    "IAM policy includes wildcard actions. Least privilege review required.",
    "Security group allows inbound access from 0.0.0.0/0 on an administrative port.",
    "CloudWatch log retention is not defined.",
    "Rollback plan is missing from the Jira change ticket.",
  ],
  required_approvals: [
    "Cloud Security approval",
    "Platform owner approval",
    "Change manager approval before production promotion",
  ],
  recommended_remediation: [
    "Add S3 public access block.",
    "Replace wildcard IAM actions with explicit actions.",
    "Restrict security group source to approved network ranges.",
    "Define CloudWatch log retention.",
    "Add rollback plan to the Jira change.",
  ],
  tools_used: [
    "jira_read",
    "github_read_pr",
    "confluence_read",
    "aws_dev_read",
    "jira_add_comment",
    "slack_post_message",
  ],
} as const;

/** The walkthrough's Jira comment for CHG-18422, with the repository as owner/name. */
export const SEED_COMMENT = `## AI Security Review Summary
Change: CHG-18422
Linked PR: zyx-bank/platform-infra/pull/991
Risk rating: High
### Findings
- S3 bucket does not explicitly enforce public access block.
- IAM policy includes wildcard actions. Least privilege review required.
- Security group allows inbound access from 0.0.0.0/0 on an administrative port.
- CloudWatch log retention is not defined.
- Rollback plan is missing from the Jira change ticket.
### Required approvals
- Cloud Security approval
- Platform owner approval
- Change manager approval before production promotion
### Recommended remediation
- Add S3 public access block.
- Replace wildcard IAM actions with explicit actions.
- Restrict security group source to approved network ranges.
- Define CloudWatch log retention.
- Add rollback plan to the Jira change.
This review is advisory and requires human validation before deployment.
`;

/** The walkthrough's Slack summary for CHG-18422. */
export const SEED_SLACK =
  "CHG-18422 requires Cloud Security review before promotion. " +
  "High-risk items: public exposure risk, IAM wildcard policy, missing rollback plan.";

/** The findings of platform-infra#993 (other problems than #991's). */
export const PR_993_REVIEW = {
  risk_rating: "High",
  findings: [
    "IAM policy includes wildcard actions. Least privilege review required.",
    "Security group allows inbound access from 0.0.0.0/0 on an administrative port.",
    "RDS database instance is publicly accessible.",
    "EBS volume is not encrypted at rest.",
  ],
  required_approvals: ["Cloud Security approval"],
  recommended_remediation: [
    "Replace wildcard IAM actions with explicit actions.",
    "Restrict security group source to approved network ranges.",
    "Set publicly_accessible to false and reach the database over private networks.",
    "Enable encryption on the EBS volume.",
  ],
} as const;

/**
 * Builds the policy from rego/ with every hour of every day a business hour (see the top of
 * this file), with the repository's own bundle script.
 */
export function buildAlwaysOpenBundle(): { path: string; remove: () => void } {
  const variant = buildPolicyVariant(alwaysBusinessHours);
  return {
    path: variant.bundle,
    remove: () => {
      variant.remove();
    },
  };
}

const WRITES = new Set<ToolName>(["jira_add_comment", "slack_post_message"]);

export interface Call {
  tool: ToolName;
  args: Record<string, unknown>;
  purpose: string;
}

export interface FakeOptions {
  /** Answer this tool with an error instead of running it. */
  refuse?: { tool: ToolName; error: ReviewError };
  /** Hold this tool for approval (the gateway's 202). */
  hold?: ToolName;
  /** Replace this tool's result. */
  result?: { tool: ToolName; value: unknown };
}

/**
 * The gateway as the review sees it: arguments checked with the gateway's schemas, the worker's
 * tools run, results guarded; a session that read suspected injection has its writes held.
 */
export function fakeGateway(options: FakeOptions = {}): ToolGateway & { calls: Call[] } {
  const execute = createToolExecutor(
    createFixtureConnectors(join(mkdtempSync(join(tmpdir(), "zyx-cr-review-")), "writes.jsonl")),
    loadCatalog(),
  );
  const calls: Call[] = [];
  let tainted = false;
  return {
    calls,
    async call(tool, args, purpose): Promise<ToolOutcome> {
      calls.push({ tool, args, purpose });
      const parsed = parseToolArguments(tool, args);
      if (!parsed.ok)
        throw new Error(`the gateway would refuse ${tool}: ${JSON.stringify(parsed)}`);
      if (options.refuse?.tool === tool) throw options.refuse.error;
      if (options.hold === tool || (tainted && WRITES.has(tool))) {
        return {
          status: "pending_approval",
          tool,
          approvalId: `approval-${String(calls.length)}`,
          statusUrl: `/v1/approvals/approval-${String(calls.length)}`,
          decisionId: `decision-${String(calls.length)}`,
        };
      }
      const output = await execute(parsed);
      const guarded = guardOutput(output.result);
      if (guarded.injection.suspected) tainted = true;
      return {
        status: "executed",
        tool,
        result: options.result?.tool === tool ? options.result.value : guarded.value,
        evidence: {
          untrusted: true,
          injection: {
            suspected: guarded.injection.suspected,
            indicators: [...guarded.injection.indicators],
          },
        },
        decisionId: `decision-${String(calls.length)}`,
      };
    },
  };
}
