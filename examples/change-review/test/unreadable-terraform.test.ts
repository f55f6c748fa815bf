// Terraform the analysis cannot read is not a clean change. The worker cuts a pull request's
// diff at MAX_PATCH_BYTES (the file that crosses the budget ends with PATCH_TRUNCATED_MARKER,
// every later file's patch is null, as GitHub's own answer is for a diff too large to show), and
// Terraform's JSON syntax (*.tf.json) is not HCL: both are a High finding, never "Low" and
// "found no issues" in Jira and Slack.
import { describe, expect, it } from "vitest";
import {
  MAX_PATCH_BYTES,
  toPullRequest,
  type GitHubPull,
} from "../../../agent/src/connectors/github/shared.ts";
import { analyzeChange } from "../src/analysis.ts";
import { runReview } from "../src/review.ts";
import { REPOSITORY, REVIEW_OPTIONS, fakeGateway } from "./support.ts";
import { WITH_PLAN, added } from "./patches.ts";

const PULL: GitHubPull = {
  number: 992,
  title: "Tidy variables",
  state: "open",
  user: { login: "someone" },
  body: "",
  base: { ref: "main", repo: { full_name: REPOSITORY } },
  head: { ref: "tidy" },
};

const SSH_TO_THE_WORLD = added(`
resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  security_group_id = aws_security_group.jump.id
  from_port         = 22
  to_port           = 22
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
}
`);

// A harmless file big enough to use up the worker's patch budget; GitHub lists files by path.
const PADDING = added(
  Array.from(
    { length: 40_000 },
    (_, i) => `# ${String(i).padStart(6, "0")} ${"-".repeat(20)}`,
  ).join("\n"),
);

describe("Terraform the analysis cannot read", () => {
  it("is not a clean review when the worker cut the diff before a security-group rule", async () => {
    expect(Buffer.byteLength(PADDING)).toBeGreaterThan(MAX_PATCH_BYTES);
    const pull = toPullRequest(
      REPOSITORY,
      PULL,
      [
        {
          filename: "terraform/a_comments.tf",
          status: "added",
          additions: 40_000,
          deletions: 0,
          patch: PADDING,
        },
        {
          filename: "terraform/security_group.tf",
          status: "added",
          additions: 8,
          deletions: 0,
          patch: SSH_TO_THE_WORLD,
        },
      ],
      { maxFiles: 3000, maxPatchBytes: MAX_PATCH_BYTES },
    );
    // What the worker's real mapping hands the runtime: the rule's patch is gone.
    expect(pull.files[1]?.patch).toBeNull();
    const gateway = fakeGateway({ result: { tool: "github_read_pr", value: pull } });
    const result = await runReview(
      { ticket: "CHG-18430", repository: REPOSITORY, pull_request: 992 },
      gateway,
      REVIEW_OPTIONS,
    );
    expect(result.risk_rating).toBe("High");
    expect(result.slack_summary).not.toContain("found no issues");
    expect(result.jira_comment).not.toContain("- None.");
  });

  it("is not a clean review when the security group is written in Terraform's JSON syntax", () => {
    const json = JSON.stringify(
      {
        resource: {
          aws_security_group_rule: {
            ssh: {
              type: "ingress",
              security_group_id: "${aws_security_group.jump.id}",
              from_port: 22,
              to_port: 22,
              protocol: "tcp",
              cidr_blocks: ["0.0.0.0/0"],
            },
          },
        },
      },
      null,
      2,
    );
    const hits = analyzeChange(WITH_PLAN, {
      files: [{ path: "terraform/security_group.tf.json", patch: added(json) }],
    });
    expect(hits).not.toEqual([]);
  });
});
