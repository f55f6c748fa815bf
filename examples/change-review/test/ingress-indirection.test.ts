// A security-group rule whose source or ports come from a variable or a local that the same pull
// request defines is read through it: `cidr_blocks = [var.ssh_cidr]` next to
// `variable "ssh_cidr" { default = "0.0.0.0/0" }` opens SSH to the Internet, not "not a literal".
import { describe, expect, it } from "vitest";
import { rulesOfAdded } from "./patches.ts";

const rulesFor = rulesOfAdded;

describe("ingress sources and ports given through variables and locals", () => {
  it("resolves a variable's default, in a list, from another file of the pull request", () => {
    expect(
      rulesFor(
        [
          "terraform/variables.tf",
          `
variable "ssh_cidr" {
  type    = string
  default = "0.0.0.0/0"
}
`,
        ],
        [
          "terraform/security_group.tf",
          `
resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  security_group_id = aws_security_group.jump.id
  from_port         = 22
  to_port           = 22
  protocol          = "tcp"
  cidr_blocks       = [var.ssh_cidr]
}
`,
        ],
      ),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("resolves a local list, and the newer ingress rule resource", () => {
    expect(
      rulesFor([
        "terraform/main.tf",
        `
locals {
  admin_sources = ["0.0.0.0/0"]
  world_v6      = "::/0"
}

resource "aws_security_group" "jump" {
  name = "jump"
  ingress {
    from_port   = 3389
    to_port     = 3389
    protocol    = "tcp"
    cidr_blocks = local.admin_sources
  }
}

resource "aws_vpc_security_group_ingress_rule" "ssh6" {
  security_group_id = aws_security_group.jump.id
  cidr_ipv6         = local.world_v6
  from_port         = 22
  to_port           = 22
  ip_protocol       = "tcp"
}
`,
      ]),
    ).toEqual(["admin_port_open_ipv4", "admin_port_open_ipv6"]);
  });

  it("resolves ports from variables", () => {
    expect(
      rulesFor([
        "terraform/main.tf",
        `
variable "admin_port" {
  default = 22
}

resource "aws_security_group_rule" "admin" {
  type        = "ingress"
  from_port   = var.admin_port
  to_port     = var.admin_port
  protocol    = "tcp"
  cidr_blocks = ["0.0.0.0/0"]
}
`,
      ]),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("still passes a variable that holds a private range", () => {
    expect(
      rulesFor([
        "terraform/main.tf",
        `
variable "ssh_cidr" {
  default = "10.20.0.0/16"
}

resource "aws_security_group_rule" "ssh" {
  type        = "ingress"
  from_port   = 22
  to_port     = 22
  protocol    = "tcp"
  cidr_blocks = [var.ssh_cidr]
}
`,
      ]),
    ).toEqual([]);
  });
});
