// A variable's value may be set in the pull request's variable files, not in its default:
// `allowed_cidrs = ["0.0.0.0/0"]` in terraform.tfvars opens SSH through
// `cidr_blocks = var.allowed_cidrs` as surely as a default would. Terraform's order applies in
// each directory (a default, then terraform.tfvars, then *.auto.tfvars in file-name order, the
// last one winning); each directory is its own configuration, and a file only `-var-file` loads
// (`env/prod.tfvars`) is one more value the variable may take.
import { describe, expect, it } from "vitest";
import { rulesOfAdded } from "./patches.ts";

function ssh(source = "var.allowed_cidrs", port = 22): [string, string] {
  return [
    "terraform/security_group.tf",
    `
resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  security_group_id = aws_security_group.jump.id
  from_port         = ${String(port)}
  to_port           = ${String(port)}
  protocol          = "tcp"
  cidr_blocks       = ${source}
}
`,
  ];
}

function declared(defaultValue?: string): [string, string] {
  return [
    "terraform/variables.tf",
    `
variable "allowed_cidrs" {
  type = list(string)
${defaultValue === undefined ? "" : `  default = ${defaultValue}\n`}}
`,
  ];
}

const WORLD = '["0.0.0.0/0"]';
const PRIVATE = '["10.20.0.0/16"]';

describe("variable values set in the pull request's tfvars files", () => {
  it("reads terraform.tfvars for a variable without a default", () => {
    expect(
      rulesOfAdded(ssh(), declared(), ["terraform/terraform.tfvars", `allowed_cidrs = ${WORLD}`]),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("reads terraform.tfvars for a variable declared outside the pull request", () => {
    expect(rulesOfAdded(ssh(), ["terraform/terraform.tfvars", `allowed_cidrs = ${WORLD}`])).toEqual(
      ["admin_port_open_ipv4"],
    );
  });

  it("reads a multi-line list in an auto.tfvars file over a private default", () => {
    expect(
      rulesOfAdded(ssh(), declared(PRIVATE), [
        "terraform/network.auto.tfvars",
        `
allowed_cidrs = [
  "10.20.0.0/16",
  "0.0.0.0/0",
]
`,
      ]),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("lets terraform.tfvars override a world-open default", () => {
    expect(
      rulesOfAdded(ssh(), declared(WORLD), [
        "terraform/terraform.tfvars",
        `allowed_cidrs = ${PRIVATE}`,
      ]),
    ).toEqual([]);
  });

  it("lets an auto.tfvars file override terraform.tfvars", () => {
    expect(
      rulesOfAdded(
        ssh(),
        declared(),
        ["terraform/terraform.tfvars", `allowed_cidrs = ${WORLD}`],
        ["terraform/zz.auto.tfvars", `allowed_cidrs = ${PRIVATE}`],
      ),
    ).toEqual([]);
  });

  it("applies auto.tfvars files in file-name order, the last one winning", () => {
    const files = (first: string, second: string): [string, string][] => [
      ["terraform/a.auto.tfvars", `allowed_cidrs = ${first}`],
      ["terraform/b.auto.tfvars", `allowed_cidrs = ${second}`],
    ];
    expect(rulesOfAdded(ssh(), declared(), ...files(WORLD, PRIVATE))).toEqual([]);
    expect(rulesOfAdded(ssh(), declared(), ...files(PRIVATE, WORLD))).toEqual([
      "admin_port_open_ipv4",
    ]);
  });

  it("reads each directory's terraform.tfvars as its own configuration", () => {
    expect(
      rulesOfAdded(
        ssh(),
        ["envs/dev/terraform.tfvars", `allowed_cidrs = ${WORLD}`],
        ["envs/prod/terraform.tfvars", `allowed_cidrs = ${PRIVATE}`],
      ),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("counts a file only -var-file loads as a value the variable may take", () => {
    expect(
      rulesOfAdded(
        ssh(),
        declared(PRIVATE),
        ["terraform/terraform.tfvars", `allowed_cidrs = ${PRIVATE}`],
        ["terraform/env/prod.tfvars", `allowed_cidrs = ${WORLD}`],
      ),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("still passes a world-open value that no administrative ingress reads", () => {
    expect(
      rulesOfAdded(ssh("var.office_cidrs"), declared(PRIVATE), [
        "terraform/terraform.tfvars",
        `allowed_cidrs = ${WORLD}\noffice_cidrs = ["10.30.0.0/16"]`,
      ]),
    ).toEqual([]);
    expect(
      rulesOfAdded(ssh("var.allowed_cidrs", 443), [
        "terraform/terraform.tfvars",
        `allowed_cidrs = ${WORLD}`,
      ]),
    ).toEqual([]);
  });

  it("never reads a commented-out assignment or a value inside another", () => {
    expect(
      rulesOfAdded(ssh(), declared(PRIVATE), [
        "terraform/terraform.tfvars",
        `
# allowed_cidrs = ["0.0.0.0/0"]
tags = {
  allowed_cidrs = "0.0.0.0/0"
}
`,
      ]),
    ).toEqual([]);
  });

  it("reports a tfvars file in Terraform's JSON syntax as not analysed", () => {
    // ... and the variable it sets as unknown: the JSON file is not read.
    expect(
      rulesOfAdded(ssh(), ["terraform/terraform.tfvars.json", '{"allowed_cidrs": ["0.0.0.0/0"]}']),
    ).toEqual(["admin_port_source_unknown", "terraform_unreadable"]);
  });
});
