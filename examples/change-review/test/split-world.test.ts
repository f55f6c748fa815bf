// The world split across rules: `0.0.0.0/1` in one rule and `128.0.0.0/1` in another, for the
// same security group and an overlapping port, open SSH to the Internet as one `0.0.0.0/0` rule
// does. The sources of every rule of a group that opens the same administrative port (same
// protocol, or all protocols) are taken together before the "covers the world" check.
import { describe, expect, it } from "vitest";
import { analyzeChange } from "../src/analysis.ts";
import { WITH_PLAN, added, rulesOfAdded } from "./patches.ts";

function rule(
  name: string,
  cidrs: string,
  {
    ports = [22, 22],
    protocol = "tcp",
    group = "aws_security_group.jump.id",
    type = "ingress",
  } = {},
): string {
  const key = cidrs.includes(":") ? "ipv6_cidr_blocks" : "cidr_blocks";
  return `
resource "aws_security_group_rule" "${name}" {
  type              = "${type}"
  security_group_id = ${group}
  from_port         = ${String(ports[0])}
  to_port           = ${String(ports[1])}
  protocol          = "${protocol}"
  ${key} = ["${cidrs}"]
}
`;
}

function rulesFor(...rules: string[]): string[] {
  return rulesOfAdded(["terraform/security_group.tf", rules.join("")]);
}

describe("the world split across rules of one security group", () => {
  it("joins two IPv4 halves on the same port, and names both rules", () => {
    const patch = added(rule("low", "0.0.0.0/1") + rule("high", "128.0.0.0/1"));
    expect(analyzeChange(WITH_PLAN, { files: [{ path: "sg.tf", patch }] })).toEqual([
      {
        rule: "admin_port_open_ipv4",
        locations: [
          { file: "sg.tf", line: 7, resource: "aws_security_group_rule.low" },
          { file: "sg.tf", line: 16, resource: "aws_security_group_rule.high" },
        ],
      },
    ]);
  });

  it("joins two IPv6 halves", () => {
    expect(rulesFor(rule("low", "::/1"), rule("high", "8000::/1"))).toEqual([
      "admin_port_open_ipv6",
    ]);
  });

  it("joins overlapping port ranges, and a rule of every protocol", () => {
    expect(
      rulesFor(rule("low", "0.0.0.0/1", { ports: [20, 25] }), rule("high", "128.0.0.0/1")),
    ).toEqual(["admin_port_open_ipv4"]);
    expect(
      rulesFor(
        rule("low", "0.0.0.0/1", { ports: [0, 0], protocol: "-1" }),
        rule("high", "128.0.0.0/1", { ports: [3389, 3389] }),
      ),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("joins a group's inline ingress with a separate rule for the group", () => {
    expect(
      rulesFor(
        `
resource "aws_security_group" "jump" {
  name = "jump"
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/1"]
  }
}
`,
        rule("high", "128.0.0.0/1"),
      ),
    ).toEqual(["admin_port_open_ipv4"]);
  });

  it("keeps apart different groups, ports, protocols and directions", () => {
    const other = { group: "aws_security_group.web.id" };
    expect(rulesFor(rule("low", "0.0.0.0/1"), rule("high", "128.0.0.0/1", other))).toEqual([]);
    expect(
      rulesFor(rule("low", "0.0.0.0/1"), rule("high", "128.0.0.0/1", { ports: [3389, 3389] })),
    ).toEqual([]);
    expect(
      rulesFor(rule("low", "0.0.0.0/1"), rule("high", "128.0.0.0/1", { protocol: "udp" })),
    ).toEqual([]);
    expect(
      rulesFor(rule("low", "0.0.0.0/1"), rule("high", "128.0.0.0/1", { type: "egress" })),
    ).toEqual([]);
    expect(rulesFor(rule("low", "0.0.0.0/1"), rule("high", "128.0.0.0/2"))).toEqual([]);
  });

  it("needs an added line among the joined rules", () => {
    const text = (rule("low", "0.0.0.0/1") + rule("high", "128.0.0.0/1")).replace(/^\n/, "");
    const lines = text.replace(/\n$/, "").split("\n");
    const context = `@@ -1,${String(lines.length)} +1,${String(lines.length)} @@\n${lines
      .map((line) => ` ${line}`)
      .join("\n")}\n`;
    expect(analyzeChange(WITH_PLAN, { files: [{ path: "sg.tf", patch: context }] })).toEqual([]);
  });
});
