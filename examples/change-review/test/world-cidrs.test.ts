// "The world" is any set of sources that together covers the address space, not only the exact
// text "0.0.0.0/0" or "::/0": two halves ("0.0.0.0/1", "128.0.0.0/1") or another IPv6 spelling
// ("0::/0") open SSH to the Internet all the same and must not pass a clean review.
import { describe, expect, it } from "vitest";
import { analyzeChange } from "../src/analysis.ts";
import { WITH_PLAN, added } from "./patches.ts";

function rulesFor(key: "cidr_blocks" | "ipv6_cidr_blocks", cidrs: string): string[] {
  const text = `
resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  security_group_id = aws_security_group.jump.id
  from_port         = 22
  to_port           = 22
  protocol          = "tcp"
  ${key} = ${cidrs}
}
`;
  return analyzeChange(WITH_PLAN, {
    files: [{ path: "terraform/security_group.tf", patch: added(text) }],
  }).map((hit) => hit.rule);
}

describe("the whole address space, however it is written", () => {
  it.each([
    ["IPv4 in two halves", "cidr_blocks", '["0.0.0.0/1", "128.0.0.0/1"]', "admin_port_open_ipv4"],
    [
      "IPv4 in four quarters",
      "cidr_blocks",
      '["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]',
      "admin_port_open_ipv4",
    ],
    ["IPv6 in two halves", "ipv6_cidr_blocks", '["::/1", "8000::/1"]', "admin_port_open_ipv6"],
    ["IPv6 as 0::/0", "ipv6_cidr_blocks", '["0::/0"]', "admin_port_open_ipv6"],
    ["IPv6 written out", "ipv6_cidr_blocks", '["0:0:0:0:0:0:0:0/0"]', "admin_port_open_ipv6"],
  ] as const)("%s", (_name, key, cidrs, rule) => {
    expect(rulesFor(key, cidrs)).toEqual([rule]);
  });

  it("still passes private ranges and half-covered spaces", () => {
    expect(rulesFor("cidr_blocks", '["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]')).toEqual(
      [],
    );
    expect(rulesFor("cidr_blocks", '["0.0.0.0/1", "192.0.0.0/2"]')).toEqual([]);
  });
});
