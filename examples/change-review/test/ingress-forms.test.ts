// Every everyday way of writing a security group's ingress rules is read as ingress rules, so
// SSH opened to the Internet through them is found:
//   - a `dynamic "ingress"` block (its rules are in `content`, its ports usually the iterator);
//   - the attributes-as-blocks form `ingress = [{ ... }]` (a list of objects).
import { describe, expect, it } from "vitest";
import { rulesOfAdded } from "./patches.ts";

function rulesFor(text: string): string[] {
  return rulesOfAdded(["terraform/security_group.tf", text]);
}

describe("ingress rules of a security group, whatever their form", () => {
  it("reads a dynamic ingress block over literal ports", () => {
    expect(
      rulesFor(`
resource "aws_security_group" "jump" {
  name   = "jump"
  vpc_id = aws_vpc.main.id

  dynamic "ingress" {
    for_each = [443, 22]
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
}
`),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("reads a dynamic ingress block with a named iterator, over IPv6", () => {
    expect(
      rulesFor(`
resource "aws_security_group" "jump" {
  name = "jump"
  dynamic "ingress" {
    for_each = [3389]
    iterator = port
    content {
      from_port        = port.value
      to_port          = port.value
      protocol         = "tcp"
      ipv6_cidr_blocks = ["::/0"]
    }
  }
}
`),
    ).toEqual(["admin_port_open_ipv6"]);
  });

  it("reads ingress given as a list of objects", () => {
    expect(
      rulesFor(`
resource "aws_security_group" "jump" {
  name = "jump"
  ingress = [
    {
      description      = "ssh"
      from_port        = 22
      to_port          = 22
      protocol         = "tcp"
      cidr_blocks      = ["0.0.0.0/0"]
      ipv6_cidr_blocks = []
      prefix_list_ids  = []
      security_groups  = []
      self             = false
    },
  ]
}
`),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("still passes a dynamic block that opens only HTTPS, and egress lists", () => {
    expect(
      rulesFor(`
resource "aws_security_group" "web" {
  name = "web"
  dynamic "ingress" {
    for_each = [443]
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
  egress = [
    {
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    },
  ]
}
`),
    ).toEqual([]);
  });
});
