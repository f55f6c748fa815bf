// A source or port the pull request does not set (a variable declared elsewhere, or without a
// default and in no variable file of the pull request) is unknown to the review, not safe: a
// rule that reads one and would otherwise open an administrative port is reported as
// unverified (Medium, Cloud Security), never passed in silence.
import { describe, expect, it } from "vitest";
import { analyzeChange } from "../src/analysis.ts";
import { buildReport, riskRating } from "../src/review.ts";
import { WITH_PLAN, rulesOfAdded } from "./patches.ts";

function rule(source: string, port = "22"): [string, string] {
  return [
    "terraform/security_group.tf",
    `
resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  security_group_id = aws_security_group.jump.id
  from_port         = ${port}
  to_port           = ${port}
  protocol          = "tcp"
  cidr_blocks       = ${source}
}
`,
  ];
}

describe("ingress whose source or port the pull request does not set", () => {
  it("reports a variable declared outside the pull request as an unverified source", () => {
    expect(rulesOfAdded(rule("var.allowed_cidrs"))).toEqual(["admin_port_source_unknown"]);
    expect(rulesOfAdded(rule("[var.bastion_cidr]"))).toEqual(["admin_port_source_unknown"]);
  });

  it("reports a variable without a default that no variable file of the pull request sets", () => {
    expect(
      rulesOfAdded(rule("var.allowed_cidrs"), [
        "terraform/variables.tf",
        'variable "allowed_cidrs" {\n  type = list(string)\n}',
      ]),
    ).toEqual(["admin_port_source_unknown"]);
  });

  it("reports a local defined outside the pull request, and an unknown port open to the world", () => {
    expect(rulesOfAdded(rule("local.admin_sources"))).toEqual(["admin_port_source_unknown"]);
    expect(rulesOfAdded(rule('["0.0.0.0/0"]', "var.admin_port"))).toEqual([
      "admin_port_source_unknown",
    ]);
  });

  it("rates it Medium, for Cloud Security, located at the rule", () => {
    const hits = analyzeChange(WITH_PLAN, {
      files: [
        {
          path: "sg.tf",
          patch: `@@ -0,0 +1,8 @@\n${rule("var.x")[1]
            .trim()
            .split("\n")
            .map((l) => `+${l}`)
            .join("\n")}\n`,
        },
      ],
    });
    expect(hits).toEqual([
      {
        rule: "admin_port_source_unknown",
        locations: [{ file: "sg.tf", line: 7, resource: "aws_security_group_rule.ssh" }],
      },
    ]);
    expect(riskRating(hits)).toBe("Medium");
    const report = buildReport(
      { ticket: "CHG-1", repository: "zyx-bank/platform-infra", pull_request: 1 },
      hits,
    );
    expect(report.required_approvals).toEqual(["Cloud Security approval"]);
  });

  it("still passes what it can decide: HTTPS, a known private value, a resource's attribute", () => {
    expect(rulesOfAdded(rule("var.allowed_cidrs", "443"))).toEqual([]);
    expect(
      rulesOfAdded(rule("var.allowed_cidrs"), [
        "terraform/terraform.tfvars",
        'allowed_cidrs = ["10.20.0.0/16"]',
      ]),
    ).toEqual([]);
    expect(rulesOfAdded(rule("[aws_vpc.main.cidr_block]"))).toEqual([]);
    expect(rulesOfAdded(rule('["10.0.0.0/8"]', "var.admin_port"))).toEqual([]);
  });

  it("reports the world, not the unknown, when the known sources already cover it", () => {
    expect(rulesOfAdded(rule('["0.0.0.0/0", var.extra]'))).toEqual(["admin_port_open_ipv4"]);
  });

  it("needs an added line: an unchanged rule reading an unknown variable is not raised", () => {
    const patch = [
      "@@ -1,8 +1,9 @@ ",
      ' resource "aws_security_group_rule" "ssh" {',
      '   type              = "ingress"',
      '+  description       = "bastion"',
      "   from_port         = 22",
      "   to_port           = 22",
      '   protocol          = "tcp"',
      "   cidr_blocks       = var.allowed_cidrs",
      " }",
    ].join("\n");
    expect(
      analyzeChange(WITH_PLAN, { files: [{ path: "sg.tf", patch: `${patch}\n` }] }).map(
        (hit) => hit.rule,
      ),
    ).toEqual([]);
  });
});
