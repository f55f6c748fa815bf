// The mapping between EC2's IpPermissions and the port's ingress rules, and its inverse.
import { describe, expect, it } from "vitest";
import {
  formatPortRange,
  parsePortRange,
  toIngressRules,
  toIpPermission,
} from "../../src/connectors/aws/model.ts";

describe("port ranges", () => {
  it.each([
    ["tcp", 22, 22, "22"],
    ["tcp", 1024, 2048, "1024-2048"],
    ["tcp", 0, 65535, "0-65535"],
    ["-1", undefined, undefined, "0-65535"],
    ["-1", -1, -1, "0-65535"],
    ["icmp", -1, -1, "0-65535"],
    ["icmp", 8, -1, "8"],
    ["icmp", 3, 4, "3-4"],
    ["udp", undefined, undefined, "0-65535"],
  ] as const)("%s %s..%s is %s", (protocol, from, to, expected) => {
    expect(formatPortRange(protocol, from, to)).toBe(expected);
  });

  it.each([
    ["tcp", "22", { FromPort: 22, ToPort: 22 }],
    ["udp", "1024-2048", { FromPort: 1024, ToPort: 2048 }],
    ["tcp", "0-65535", { FromPort: 0, ToPort: 65535 }],
    ["-1", "0-65535", {}],
    ["icmp", "0-65535", { FromPort: -1, ToPort: -1 }],
    ["icmp", "8", { FromPort: 8, ToPort: -1 }],
  ] as const)("%s %s is sent as %o", (protocol, range, expected) => {
    expect(parsePortRange(protocol, range)).toEqual(expected);
    const { FromPort, ToPort } = parsePortRange(protocol, range);
    expect(formatPortRange(protocol, FromPort, ToPort)).toBe(range); // and back
  });
});

describe("toIngressRules", () => {
  it("gives one rule per source, every kind of source, descriptions when present", () => {
    expect(
      toIngressRules([
        {
          IpProtocol: "tcp",
          FromPort: 443,
          ToPort: 443,
          IpRanges: [{ CidrIp: "10.0.0.0/8", Description: "corp" }, { CidrIp: "0.0.0.0/0" }],
          Ipv6Ranges: [{ CidrIpv6: "::/0", Description: "" }],
          UserIdGroupPairs: [{ GroupId: "sg-0123456789abcdef0", UserId: "111122223333" }],
          PrefixListIds: [{ PrefixListId: "pl-0a1b2c3d", Description: "S3" }],
        },
        { IpProtocol: "-1", IpRanges: [{ CidrIp: "10.1.0.0/16" }] },
      ]),
    ).toEqual([
      { protocol: "tcp", port_range: "443", cidr: "10.0.0.0/8", description: "corp" },
      { protocol: "tcp", port_range: "443", cidr: "0.0.0.0/0" },
      { protocol: "tcp", port_range: "443", cidr: "::/0" },
      { protocol: "tcp", port_range: "443", cidr: "sg-0123456789abcdef0" },
      { protocol: "tcp", port_range: "443", cidr: "pl-0a1b2c3d", description: "S3" },
      { protocol: "-1", port_range: "0-65535", cidr: "10.1.0.0/16" },
    ]);
    expect(toIngressRules(undefined)).toEqual([]);
  });
});

describe("toIpPermission", () => {
  it("puts an IPv4 CIDR in IpRanges and an IPv6 one in Ipv6Ranges", () => {
    expect(
      toIpPermission({
        action: "authorize_ingress",
        protocol: "tcp",
        port_range: "22",
        cidr: "10.20.0.0/16",
        description: "VPN",
      }),
    ).toEqual({
      IpProtocol: "tcp",
      FromPort: 22,
      ToPort: 22,
      IpRanges: [{ CidrIp: "10.20.0.0/16", Description: "VPN" }],
    });
    expect(
      toIpPermission({
        action: "revoke_ingress",
        protocol: "-1",
        port_range: "0-65535",
        cidr: "2001:db8::/32",
      }),
    ).toEqual({ IpProtocol: "-1", Ipv6Ranges: [{ CidrIpv6: "2001:db8::/32" }] });
  });
});
