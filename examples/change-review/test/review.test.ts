// The review, on a fake gateway that runs the worker's own tools on the fixture connectors and
// judges results with the worker's output guard, as the real gateway and worker would.
import { describe, expect, it } from "vitest";
import { ReviewError } from "../src/errors.ts";
import {
  buildReport,
  renderJiraComment,
  renderSlackSummary,
  riskRating,
  runReview,
  type ToolGateway,
} from "../src/review.ts";
import {
  REPOSITORY,
  REVIEW_OPTIONS as OPTIONS,
  SEED_COMMENT,
  SEED_REVIEW,
  SEED_SLACK,
  fakeGateway,
  type Call,
} from "./support.ts";

describe("runReview", () => {
  it("reviews CHG-18422 / #991 as the walkthrough expects, one gateway call per tool", async () => {
    const gateway = fakeGateway();
    const result = await runReview(
      { ticket: "CHG-18422", repository: REPOSITORY, pull_request: 991 },
      gateway,
      OPTIONS,
    );
    expect(result).toMatchObject({
      ticket: "CHG-18422",
      repository: REPOSITORY,
      pull_request: 991,
      ...SEED_REVIEW,
      pending_approvals: [],
      evidence_warnings: [],
      jira_comment: SEED_COMMENT,
      slack_summary: SEED_SLACK,
    });
    expect(gateway.calls.map(({ tool, args }) => ({ tool, args }))).toEqual([
      { tool: "jira_read", args: { ticket: "CHG-18422" } },
      { tool: "github_read_pr", args: { repository: REPOSITORY, pull_request: 991 } },
      { tool: "confluence_read", args: { space: "SEC" } },
      { tool: "aws_dev_read", args: { account: "111122223333", region: "ap-southeast-1" } },
      { tool: "jira_add_comment", args: { ticket: "CHG-18422", body: SEED_COMMENT } },
      {
        tool: "slack_post_message",
        args: { channel: "devsecops-change-review", text: SEED_SLACK },
      },
    ]);
    expect(gateway.calls[1]?.purpose).toBe(
      "change review CHG-18422 zyx-bank/platform-infra#991, step 2: read the pull request and its diffs",
    );
  });

  it("treats the injection ticket as evidence: the same calls as a clean ticket, its writes held", async () => {
    const clean = fakeGateway();
    const expected = await runReview(
      { ticket: "CHG-18430", repository: REPOSITORY, pull_request: 992 },
      clean,
      OPTIONS,
    );
    const gateway = fakeGateway();
    const result = await runReview(
      { ticket: "CHG-18433", repository: REPOSITORY, pull_request: 992 },
      gateway,
      OPTIONS,
    );
    // The same findings, and the same tools asked for the same things (but the ticket key).
    expect(result.findings).toEqual(expected.findings);
    expect(result.risk_rating).toBe("Low");
    const shape = (calls: Call[]) =>
      calls.map(({ tool, args }) => ({
        tool,
        args: JSON.parse(JSON.stringify(args).replaceAll(/CHG-184(30|33)/g, "CHG-X")) as unknown,
      }));
    expect(shape(gateway.calls)).toEqual(shape(clean.calls));
    // Warned, held, not retried.
    expect(result.evidence_warnings).toEqual([
      {
        tool: "jira_read",
        indicators: expect.arrayContaining([
          "ignore_previous_instructions",
          "bulk_export",
          "exfiltration_url",
          "disable_logging",
        ]) as unknown,
      },
    ]);
    expect(result.tools_used).toEqual([
      "jira_read",
      "github_read_pr",
      "confluence_read",
      "aws_dev_read",
    ]);
    expect(result.pending_approvals).toEqual([
      {
        tool: "jira_add_comment",
        approval_id: "approval-5",
        status_url: "/v1/approvals/approval-5",
      },
      {
        tool: "slack_post_message",
        approval_id: "approval-6",
        status_url: "/v1/approvals/approval-6",
      },
    ]);
    expect(gateway.calls).toHaveLength(6);
    // Nothing the ticket says reaches what the agent writes.
    for (const text of [result.jira_comment, result.slack_summary]) {
      expect(text).not.toMatch(/ignore|export|exfil|logging|approve this/i);
    }
  });

  it("stops at a refusal and passes it on: nothing else is called", async () => {
    const refusal = new ReviewError("policy_denied", "the gateway refused jira_read: no", {
      extensions: { tool: "jira_read", reasons: [{ code: "user_not_in_group" }] },
    });
    const gateway = fakeGateway({ refuse: { tool: "jira_read", error: refusal } });
    await expect(
      runReview(
        { ticket: "CHG-18422", repository: REPOSITORY, pull_request: 991 },
        gateway,
        OPTIONS,
      ),
    ).rejects.toBe(refusal);
    expect(gateway.calls.map((c) => c.tool)).toEqual(["jira_read"]);
  });

  it("cannot review without a read the gateway holds for approval", async () => {
    const gateway = fakeGateway({ hold: "github_read_pr" });
    const failure = runReview(
      { ticket: "CHG-18422", repository: REPOSITORY, pull_request: 991 },
      gateway,
      OPTIONS,
    );
    await expect(failure).rejects.toMatchObject({
      code: "approval_required",
      status: 403,
      message:
        "the gateway holds github_read_pr for human approval; the review cannot go on without it",
      extensions: { tool: "github_read_pr", approval_id: "approval-2" },
    });
    // The reads asked with it were asked; no write was.
    expect(gateway.calls.map((c) => c.tool)).toEqual([
      "jira_read",
      "github_read_pr",
      "confluence_read",
      "aws_dev_read",
    ]);
  });

  it("asks the three reads after the ticket together, and reports them in order whatever answers first", async () => {
    const inner = fakeGateway();
    const delays: Partial<Record<string, number>> = {
      github_read_pr: 30,
      confluence_read: 15,
      aws_dev_read: 0,
    };
    let inFlight = 0;
    let most = 0;
    const answered: string[] = [];
    const asked: string[] = [];
    const gateway: ToolGateway = {
      async call(tool, args, purpose) {
        asked.push(purpose.replace(/^.*, step /, ""));
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, delays[tool] ?? 0));
        try {
          return await inner.call(tool, args, purpose);
        } finally {
          inFlight--;
          answered.push(tool);
        }
      },
    };
    const result = await runReview(
      { ticket: "CHG-18422", repository: REPOSITORY, pull_request: 991 },
      gateway,
      OPTIONS,
    );
    expect(most).toBe(3);
    expect(answered.slice(1, 4)).toEqual(["aws_dev_read", "confluence_read", "github_read_pr"]);
    expect(result.tools_used).toEqual(SEED_REVIEW.tools_used);
    expect(asked).toEqual([
      "1: read the change ticket",
      "2: read the pull request and its diffs",
      "3: read the security standards",
      "4: read the development account's metadata",
      "5: comment the review",
      "6: post the summary",
    ]);
  });

  it("of reads asked together, passes on the first refusal in order once all have answered", async () => {
    const refusal = new ReviewError("policy_denied", "the gateway refused confluence_read: no");
    const inner = fakeGateway({ refuse: { tool: "confluence_read", error: refusal } });
    let settled = 0;
    const gateway: ToolGateway = {
      async call(tool, args, purpose) {
        try {
          // The AWS read answers last: the refusal waits for it.
          if (tool === "aws_dev_read") await new Promise((resolve) => setTimeout(resolve, 20));
          return await inner.call(tool, args, purpose);
        } finally {
          settled++;
        }
      },
    };
    await expect(
      runReview(
        { ticket: "CHG-18422", repository: REPOSITORY, pull_request: 991 },
        gateway,
        OPTIONS,
      ),
    ).rejects.toBe(refusal);
    expect(settled).toBe(4);
    expect(inner.calls.map((c) => c.tool)).not.toContain("jira_add_comment");
  });

  it("refuses a result it cannot read", async () => {
    const gateway = fakeGateway({
      result: { tool: "github_read_pr", value: { repository: REPOSITORY, files: "none" } },
    });
    await expect(
      runReview(
        { ticket: "CHG-18422", repository: REPOSITORY, pull_request: 991 },
        gateway,
        OPTIONS,
      ),
    ).rejects.toMatchObject({
      code: "tool_result_invalid",
      status: 502,
      message: "github_read_pr returned an unexpected result",
    });
  });
});

describe("the report", () => {
  const request = { ticket: "CHG-1", repository: REPOSITORY, pull_request: 7 };

  it("rates risk by the most severe finding", () => {
    expect(riskRating([])).toBe("Low");
    expect(riskRating([{ rule: "log_retention_missing", locations: [] }])).toBe("Medium");
    expect(
      riskRating([
        { rule: "log_retention_missing", locations: [] },
        { rule: "rds_publicly_accessible", locations: [] },
      ]),
    ).toBe("High");
  });

  it("lists each text once, in the rule table's order, whatever order the hits come in", () => {
    const report = buildReport(request, [
      { rule: "rollback_plan_missing", locations: [] },
      { rule: "admin_port_open_ipv6", locations: [] },
      { rule: "admin_port_open_ipv4", locations: [] },
    ]);
    expect(report).toEqual({
      ...request,
      risk_rating: "High",
      findings: [
        "Security group allows inbound access from 0.0.0.0/0 on an administrative port.",
        "Security group allows inbound access from ::/0 on an administrative port.",
        "Rollback plan is missing from the Jira change ticket.",
      ],
      required_approvals: [
        "Cloud Security approval",
        "Change manager approval before production promotion",
      ],
      recommended_remediation: [
        "Restrict security group source to approved network ranges.",
        "Add rollback plan to the Jira change.",
      ],
    });
  });

  it("summarises a medium review and a clean one for Slack", () => {
    const medium = buildReport(request, [{ rule: "log_retention_missing", locations: [] }]);
    expect(renderSlackSummary(medium)).toBe(
      "CHG-1 requires platform owner review before promotion. Medium-risk items: undefined log retention.",
    );
    const clean = buildReport(request, []);
    expect(renderSlackSummary(clean)).toBe(
      "CHG-1: the automated review of zyx-bank/platform-infra#7 found no issues. Human validation is still required before deployment.",
    );
    expect(renderJiraComment(clean)).toBe(
      [
        "## AI Security Review Summary",
        "Change: CHG-1",
        "Linked PR: zyx-bank/platform-infra/pull/7",
        "Risk rating: Low",
        "### Findings",
        "- None.",
        "### Required approvals",
        "- None.",
        "### Recommended remediation",
        "- None.",
        "This review is advisory and requires human validation before deployment.",
        "",
      ].join("\n"),
    );
  });
});
