// Address literals and CIDR sets: one canonical form per address, no DNS, bad ranges refused.
import { describe, expect, it } from "vitest";
import { createAddressSet, NetAddressError, normalizeAddress, parseCidr } from "../net-address.ts";

describe("normalizeAddress", () => {
  it.each([
    ["10.0.0.1", "10.0.0.1"],
    [" 10.0.0.1 ", "10.0.0.1"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["[::FFFF:0a00:0001]", "10.0.0.1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["fe80::1%eth0", "fe80::1"],
    ["[::1]", "::1"],
  ])("%s is %s", (raw, canonical) => {
    expect(normalizeAddress(raw)).toBe(canonical);
  });

  it.each([
    "",
    "localhost",
    "gateway.internal",
    "1.2.3.4:80",
    "1.2.3",
    "01.2.3.4",
    "unknown",
    "x".repeat(200),
  ])("%s is not an address", (raw) => {
    expect(normalizeAddress(raw)).toBeUndefined();
  });
});

describe("CIDR sets", () => {
  it("IPv4 and IPv6 ranges; bare addresses; mapped ranges are their IPv4 range", () => {
    const set = createAddressSet([
      "10.0.0.0/8",
      "2001:db8::/32",
      "192.0.2.7",
      "::ffff:172.16.0.0/108",
    ]);
    expect(set.has("10.255.0.1")).toBe(true);
    expect(set.has("11.0.0.1")).toBe(false);
    expect(set.has("2001:db8::5")).toBe(true);
    expect(set.has("2001:db9::5")).toBe(false);
    expect(set.has("192.0.2.7")).toBe(true);
    expect(set.has("192.0.2.8")).toBe(false);
    expect(set.has("172.31.1.1")).toBe(true);
    expect(set.has("not an address")).toBe(false);
    expect(createAddressSet([]).has("10.0.0.1")).toBe(false);
  });

  it.each([
    "10.0.0.0/33",
    "10.0.0.0/",
    "10.0.0.0/x",
    "example.com/8",
    "10.0.0.0/8/1",
    "fe80::/64%eth0",
    "::/129",
  ])("%s is refused with cidr_invalid", (cidr) => {
    expect(() => parseCidr(cidr)).toThrow(NetAddressError);
    expect(() => createAddressSet([cidr])).toThrow(
      expect.objectContaining({ code: "cidr_invalid" }),
    );
  });
});
