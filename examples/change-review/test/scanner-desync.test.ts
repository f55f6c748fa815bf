// Braces inside a multi-line /* */ comment or a heredoc are not Terraform's own: one stray "}"
// there must not close the security group early, leaving the ingress block after it outside any
// resource (SSH to the Internet under a clean review).
import { describe, expect, it } from "vitest";
import { rulesOfAdded } from "./patches.ts";

function rulesFor(text: string): string[] {
  return rulesOfAdded(["terraform/security_group.tf", text]);
}

const SSH_INGRESS = `
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
`;

describe("braces that are not Terraform's", () => {
  it("ignores a closing brace in a multi-line comment", () => {
    expect(
      rulesFor(`
resource "aws_security_group" "jump" {
  name = "jump"
  /*
    Replaces the old rule set: }
  */
${SSH_INGRESS}`),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("ignores a closing brace in a heredoc", () => {
    expect(
      rulesFor(`
resource "aws_security_group" "jump" {
  name        = "jump"
  description = <<-EOT
    Jump host access }
  EOT
${SSH_INGRESS}`),
    ).toEqual(["admin_port_open_ipv4"]);
  });
});
