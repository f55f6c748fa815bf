// The finding rules, on the fixture pull requests (as github_read_pr returns them) and on
// hand-written diffs, including context and removed lines that must not raise anything.
import { describe, expect, it } from "vitest";
import { analyzeChange, hasRollbackPlan, type RuleHit } from "../src/analysis.ts";
import type { RuleId } from "../src/rules.ts";
import { fixturePull, fixtureTicket } from "./support.ts";
import { WITH_PLAN, added } from "./patches.ts";

/** The rules that apply to one file's patch, for a ticket with a rollback plan. */
function rulesFor(patch: string, path = "terraform/main.tf"): RuleId[] {
  return analyzeChange(WITH_PLAN, { files: [{ path, patch }] }).map((hit) => hit.rule);
}

function hitsFor(patch: string, path = "terraform/main.tf"): RuleHit[] {
  return analyzeChange(WITH_PLAN, { files: [{ path, patch }] });
}

/** A patch that adds every line (a new file). */

/** A patch whose lines are all context (an unchanged region). */
function unchanged(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\n$/, "").split("\n");
  return `@@ -1,${lines.length} +1,${lines.length} @@\n${lines.map((line) => ` ${line}`).join("\n")}\n`;
}

describe("the fixture pull requests", () => {
  it("finds the walkthrough's four Terraform problems in #991, and where", async () => {
    const ticket = await fixtureTicket("CHG-18422");
    expect(analyzeChange(ticket, await fixturePull(991))).toEqual([
      {
        rule: "s3_public_access_block_missing",
        locations: [{ file: "terraform/s3.tf", line: 2, resource: "aws_s3_bucket.artifacts" }],
      },
      {
        rule: "iam_wildcard_action",
        locations: [
          { file: "terraform/iam.tf", line: 33, resource: "aws_iam_policy.deploy_artifacts" },
        ],
      },
      {
        rule: "admin_port_open_ipv4",
        locations: [
          {
            file: "terraform/security_group.tf",
            line: 18,
            resource: "aws_security_group_rule.bastion_ssh",
          },
        ],
      },
      {
        rule: "log_retention_missing",
        locations: [
          { file: "terraform/cloudwatch.tf", line: 1, resource: "aws_cloudwatch_log_group.app" },
        ],
      },
      // CHG-18422 has no rollback plan.
      { rule: "rollback_plan_missing", locations: [] },
    ]);
  });

  it("finds other problems in #993: both IAM wildcards, RDP to the world, a public database, an unencrypted volume", async () => {
    const ticket = await fixtureTicket("CHG-18431");
    expect(analyzeChange(ticket, await fixturePull(993))).toEqual([
      {
        rule: "iam_wildcard_action",
        locations: [
          { file: "terraform/iam.tf", line: 21, resource: "aws_iam_policy.break_glass_admin" },
          { file: "terraform/iam.tf", line: 38, resource: "aws_iam_policy.reporting_user_admin" },
        ],
      },
      {
        rule: "admin_port_open_ipv4",
        locations: [
          {
            file: "terraform/security_group.tf",
            line: 22,
            resource: "aws_security_group.windows_jump",
          },
        ],
      },
      {
        rule: "rds_publicly_accessible",
        locations: [{ file: "terraform/rds.tf", line: 14, resource: "aws_db_instance.reporting" }],
      },
      {
        rule: "ebs_unencrypted",
        locations: [{ file: "terraform/ebs.tf", line: 1, resource: "aws_ebs_volume.jump_data" }],
      },
    ]);
  });

  it("finds nothing in the clean #992, nor in #990 (a backend and a binary file)", async () => {
    expect(analyzeChange(await fixtureTicket("CHG-18430"), await fixturePull(992))).toEqual([]);
    expect(analyzeChange(WITH_PLAN, await fixturePull(990))).toEqual([]);
  });

  it("reads #992 the same for the injection ticket CHG-18433, which has a rollback plan", async () => {
    expect(analyzeChange(await fixtureTicket("CHG-18433"), await fixturePull(992))).toEqual([]);
  });
});

describe("only added lines raise findings", () => {
  const everyProblem = `
resource "aws_s3_bucket" "logs" {
  bucket = "zyx-logs"
}

resource "aws_security_group_rule" "ssh" {
  type        = "ingress"
  from_port   = 22
  to_port     = 22
  protocol    = "tcp"
  cidr_blocks = ["0.0.0.0/0"]
}

resource "aws_iam_policy" "admin" {
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Action = "*", Resource = "*" }]
  })
}

resource "aws_cloudwatch_log_group" "app" {
  name = "/zyx/app"
}

resource "aws_db_instance" "db" {
  publicly_accessible = true
}

resource "aws_ebs_volume" "data" {
  size = 10
}
`;

  it("raises every rule when all of it is added", () => {
    expect(rulesFor(added(everyProblem))).toEqual([
      "s3_public_access_block_missing",
      "iam_wildcard_action",
      "admin_port_open_ipv4",
      "log_retention_missing",
      "rds_publicly_accessible",
      "ebs_unencrypted",
    ]);
  });

  it("raises nothing when the same Terraform is unchanged context", () => {
    expect(rulesFor(unchanged(everyProblem))).toEqual([]);
  });

  it("raises nothing for removed lines, even when they held the problem", () => {
    const patch = `@@ -1,7 +1,7 @@
 resource "aws_security_group_rule" "ssh" {
   type        = "ingress"
   from_port   = 22
   to_port     = 22
   protocol    = "tcp"
-  cidr_blocks = ["0.0.0.0/0"]
+  cidr_blocks = ["10.20.0.0/16"]
 }
`;
    expect(rulesFor(patch)).toEqual([]);
    const removedRetention = `@@ -1,4 +1,3 @@
 resource "aws_cloudwatch_log_group" "app" {
   name              = "/zyx/app"
-  retention_in_days = 90
 }
`;
    expect(rulesFor(removedRetention)).toEqual([]);
  });

  it("raises a finding when an added line opens an existing rule to the world", () => {
    const patch = `@@ -1,7 +1,7 @@
 resource "aws_security_group_rule" "ssh" {
   type        = "ingress"
   from_port   = 22
   to_port     = 22
   protocol    = "tcp"
-  cidr_blocks = ["10.20.0.0/16"]
+  cidr_blocks = ["0.0.0.0/0"]
 }
`;
    expect(hitsFor(patch)).toEqual([
      {
        rule: "admin_port_open_ipv4",
        locations: [
          { file: "terraform/main.tf", line: 6, resource: "aws_security_group_rule.ssh" },
        ],
      },
    ]);
  });

  it("places a hunk that starts inside a resource with git's hunk-header context", () => {
    // An ingress block added to an existing group; the header is above the hunk.
    const patch = `@@ -5,4 +5,11 @@ resource "aws_security_group" "jump" {
   tags = {
     Owner = "data-team"
   }
+
+  ingress {
+    from_port   = 3389
+    to_port     = 3389
+    protocol    = "tcp"
+    cidr_blocks = ["0.0.0.0/0"]
+  }
 }
`;
    expect(hitsFor(patch)).toEqual([
      {
        rule: "admin_port_open_ipv4",
        locations: [{ file: "terraform/main.tf", line: 13, resource: "aws_security_group.jump" }],
      },
    ]);
  });

  it("ignores problems written in comments, and files that are not Terraform", () => {
    const commented = added(`
resource "aws_security_group_rule" "https" {
  type        = "ingress"
  from_port   = 443 # was 22 from 0.0.0.0/0
  to_port     = 443
  protocol    = "tcp"
  # cidr_blocks = ["0.0.0.0/0"]
  cidr_blocks = ["10.20.0.0/16"] // not the world
}
`);
    expect(rulesFor(commented)).toEqual([]);
    expect(rulesFor(added('Action = "*"\ncidr_blocks = ["0.0.0.0/0"]'), "README.md")).toEqual([]);
  });
});

describe("administrative ports", () => {
  const rule = (ports: string, cidrs = '["0.0.0.0/0"]', protocol = '"tcp"') =>
    added(`
resource "aws_security_group_rule" "r" {
  type             = "ingress"
  ${ports}
  protocol         = ${protocol}
  cidr_blocks      = ${cidrs}
}
`);

  it.each([
    ["SSH", "from_port = 22\n  to_port = 22", '"tcp"', ["admin_port_open_ipv4"]],
    ["RDP", "from_port = 3389\n  to_port = 3389", '"tcp"', ["admin_port_open_ipv4"]],
    ["WinRM", "from_port = 5985\n  to_port = 5986", '"tcp"', ["admin_port_open_ipv4"]],
    ["a range over 3389", "from_port = 1024\n  to_port = 65535", '"tcp"', ["admin_port_open_ipv4"]],
    ["every protocol", "from_port = 0\n  to_port = 0", '"-1"', ["admin_port_open_ipv4"]],
    ["HTTPS", "from_port = 443\n  to_port = 443", '"tcp"', []],
    ["a range without one", "from_port = 8000\n  to_port = 8100", '"tcp"', []],
    ["ICMP", "from_port = -1\n  to_port = -1", '"icmp"', []],
    // A variable the pull request does not set: unverified, neither open nor passed.
    [
      "ports from variables",
      "from_port = var.port\n  to_port = var.port",
      '"tcp"',
      ["admin_port_source_unknown"],
    ],
    ["ports from a resource", "from_port = aws_x.y.port\n  to_port = aws_x.y.port", '"tcp"', []],
  ])("%s open to 0.0.0.0/0", (_name, ports, protocol, expected) => {
    expect(rulesFor(rule(ports, '["0.0.0.0/0"]', protocol))).toEqual(expected);
  });

  it("names ::/0 as such, and takes multi-line CIDR lists", () => {
    expect(rulesFor(rule("from_port = 22\n  to_port = 22", '["::/0"]'))).toEqual([]);
    const ipv6 = added(`
resource "aws_security_group_rule" "r" {
  type             = "ingress"
  from_port        = 22
  to_port          = 22
  protocol         = "tcp"
  ipv6_cidr_blocks = [
    "2001:db8::/32",
    "::/0",
  ]
}
`);
    expect(analyzeChange(WITH_PLAN, { files: [{ path: "sg.tf", patch: ipv6 }] })).toEqual([
      {
        rule: "admin_port_open_ipv6",
        locations: [{ file: "sg.tf", line: 6, resource: "aws_security_group_rule.r" }],
      },
    ]);
  });

  it("reads egress rules as egress, and the newer ingress rule resource", () => {
    expect(
      rulesFor(
        added(`
resource "aws_security_group_rule" "out" {
  type        = "egress"
  from_port   = 22
  to_port     = 22
  protocol    = "tcp"
  cidr_blocks = ["0.0.0.0/0"]
}
`),
      ),
    ).toEqual([]);
    expect(
      rulesFor(
        added(`
resource "aws_vpc_security_group_ingress_rule" "ssh" {
  security_group_id = aws_security_group.jump.id
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 22
  to_port           = 22
  ip_protocol       = "tcp"
}
`),
      ),
    ).toEqual(["admin_port_open_ipv4"]);
  });
});

describe("IAM wildcard actions", () => {
  it.each([
    ['Action = "s3:*"', ["iam_wildcard_action"]],
    ['Action = ["s3:GetObject", "iam:*"]', ["iam_wildcard_action"]],
    ['Action = "s3:Get*"', ["iam_wildcard_action"]],
    ['Action = ["s3:GetObject", "s3:PutObject"]', []],
    // A wildcard resource is not a wildcard action.
    ['Action = "s3:GetObject"\n          Resource = "*"', []],
  ])("%s", (action, expected) => {
    const patch = added(`
resource "aws_iam_policy" "p" {
  policy = jsonencode({
    Statement = [
      {
        Effect   = "Allow"
          ${action}
      },
    ]
  })
}
`);
    expect(rulesFor(patch)).toEqual(expected);
  });

  it("does not flag a Deny statement", () => {
    const patch = added(`
data "aws_iam_policy_document" "guard" {
  statement {
    effect    = "Deny"
    actions   = ["*"]
    resources = ["*"]
  }
}
`);
    expect(rulesFor(patch)).toEqual([]);
  });

  it("flags policy documents and JSON heredocs", () => {
    expect(
      rulesFor(
        added(`
data "aws_iam_policy_document" "reader" {
  statement {
    actions   = ["dynamodb:*"]
    resources = ["*"]
  }
}
`),
      ),
    ).toEqual(["iam_wildcard_action"]);
    expect(
      rulesFor(
        added(`
resource "aws_iam_role_policy" "p" {
  policy = <<EOF
{
  "Statement": [{ "Effect": "Allow", "Action": "ec2:*", "Resource": "*" }]
}
EOF
}
`),
      ),
    ).toEqual(["iam_wildcard_action"]);
  });

  it("reads inline statements one by one", () => {
    const inline = (statements: string) =>
      added(`
resource "aws_iam_policy" "p" {
  policy = jsonencode({ Statement = [${statements}] })
}
`);
    expect(
      rulesFor(
        inline(
          '{ Effect = "Deny", Action = "*", Resource = "*" }, { Effect = "Allow", Action = "s3:GetObject" }',
        ),
      ),
    ).toEqual([]);
    expect(
      rulesFor(inline('{ Effect = "Allow", Action = "s3:*" }, { Effect = "Deny", Action = "*" }')),
    ).toEqual(["iam_wildcard_action"]);
  });

  it("flags only the wildcard the pull request adds to a list", () => {
    const addsExplicit = `@@ -10,4 +10,5 @@ resource "aws_iam_policy" "p" {
         Action = [
           "s3:*",
+          "s3:GetObject",
         ]
`;
    expect(rulesFor(addsExplicit)).toEqual([]);
    const addsWildcard = `@@ -10,4 +10,5 @@ resource "aws_iam_policy" "p" {
         Action = [
           "s3:GetObject",
+          "kms:*",
         ]
`;
    expect(rulesFor(addsWildcard)).toEqual(["iam_wildcard_action"]);
  });
});

describe("S3 public access block", () => {
  const bucket = `
resource "aws_s3_bucket" "reports" {
  bucket = "zyx-reports"
}
`;
  const block = (target: string, flags: Record<string, string>) => `
resource "aws_s3_bucket_public_access_block" "reports" {
  bucket                  = ${target}
  block_public_acls       = ${flags["block_public_acls"] ?? "true"}
  block_public_policy     = ${flags["block_public_policy"] ?? "true"}
  ignore_public_acls      = ${flags["ignore_public_acls"] ?? "true"}
  restrict_public_buckets = ${flags["restrict_public_buckets"] ?? "true"}
}
`;

  it("accepts a new bucket with a block that enforces all four settings", () => {
    expect(rulesFor(added(bucket + block("aws_s3_bucket.reports.id", {})))).toEqual([]);
    expect(rulesFor(added(bucket + block('"zyx-reports"', {})))).toEqual([]);
  });

  it("flags a block for another bucket, or one that leaves a setting off", () => {
    expect(rulesFor(added(bucket + block("aws_s3_bucket.other.id", {})))).toEqual([
      "s3_public_access_block_missing",
    ]);
    const weak = rulesFor(
      added(bucket + block("aws_s3_bucket.reports.id", { ignore_public_acls: "false" })),
    );
    expect(weak).toEqual(["s3_public_access_block_missing"]);
  });

  it("accepts an account-wide block", () => {
    const account = `
resource "aws_s3_account_public_access_block" "all" {
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
`;
    expect(rulesFor(added(bucket + account))).toEqual([]);
  });

  it("flags an existing block the pull request turns off", () => {
    const patch = `@@ -1,6 +1,6 @@
 resource "aws_s3_bucket_public_access_block" "reports" {
   bucket                  = aws_s3_bucket.reports.id
-  block_public_acls       = true
+  block_public_acls       = false
   block_public_policy     = true
`;
    expect(rulesFor(patch)).toEqual(["s3_public_access_block_missing"]);
  });
});

describe("log retention, RDS and EBS", () => {
  it("flags a log group that never expires, and accepts one with retention", () => {
    const group = (retention: string) =>
      added(`
resource "aws_cloudwatch_log_group" "app" {
  name = "/zyx/app"
  ${retention}
}
`);
    expect(rulesFor(group("retention_in_days = 0"))).toEqual(["log_retention_missing"]);
    expect(rulesFor(group("retention_in_days = 30"))).toEqual([]);
  });

  it("flags publicly_accessible only when true", () => {
    const db = (value: string) =>
      added(`
resource "aws_db_instance" "db" {
  engine              = "postgres"
  publicly_accessible = ${value}
}
`);
    expect(rulesFor(db("true"))).toEqual(["rds_publicly_accessible"]);
    expect(rulesFor(db("false"))).toEqual([]);
  });

  it("accepts an encrypted volume, or one covered by default encryption", () => {
    expect(
      rulesFor(added('resource "aws_ebs_volume" "v" {\n  size      = 10\n  encrypted = true\n}')),
    ).toEqual([]);
    expect(
      rulesFor(
        added(
          'resource "aws_ebs_encryption_by_default" "on" {\n  enabled = true\n}\n' +
            'resource "aws_ebs_volume" "v" {\n  size = 10\n}',
        ),
      ),
    ).toEqual([]);
    expect(
      rulesFor(added('resource "aws_ebs_volume" "v" {\n  size      = 10\n  encrypted = false\n}')),
    ).toEqual(["ebs_unencrypted"]);
  });
});

describe("the rollback plan", () => {
  it.each([
    [null, false],
    ["", false],
    ["   ", false],
    ["TBD", false],
    ["N/A", false],
    ["Revert pull request #992 and re-run the pipeline.", true],
  ])("%j has a plan: %s", (plan, expected) => {
    expect(hasRollbackPlan({ rollback_plan: plan })).toBe(expected);
  });

  it("is a finding of its own, after the Terraform ones", () => {
    expect(analyzeChange({ rollback_plan: null }, { files: [] }).map((hit) => hit.rule)).toEqual([
      "rollback_plan_missing",
    ]);
  });
});
