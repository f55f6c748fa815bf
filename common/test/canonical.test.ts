import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ARGUMENTS_DIGEST, argumentsDigest, canonicalJson } from "../canonical.ts";

const ARGS = {
  account: "111122223333",
  region: "ap-southeast-1",
  group_id: "sg-0a1b2c3d4e5f60718",
  change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
};

describe("canonicalJson (RFC 8785)", () => {
  it("sorts keys at every depth and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[3,{"e":2,"f":1}]},"b":1}',
    );
  });

  it("serialises numbers the ECMAScript way", () => {
    expect(canonicalJson([1.0, 1e21, 0.1, -0])).toBe("[1,1e+21,0.1,0]");
  });

  it("refuses what JSON cannot carry", () => {
    expect(() => canonicalJson(undefined)).toThrow();
    expect(() => canonicalJson({ n: Number.NaN })).toThrow();
    expect(() => canonicalJson({ s: "\uD800" })).toThrow();
    const cycle: Record<string, unknown> = {};
    cycle["self"] = cycle;
    expect(() => canonicalJson(cycle)).toThrow();
  });
});

describe("argumentsDigest", () => {
  it("is the hex SHA-256 of the canonical JSON", () => {
    const expected = createHash("sha256").update(canonicalJson(ARGS)).digest("hex");
    expect(argumentsDigest(ARGS)).toBe(expected);
    expect(argumentsDigest(ARGS)).toMatch(ARGUMENTS_DIGEST);
  });

  it("does not depend on key order or wire whitespace", () => {
    const reordered = {
      change: { cidr: "0.0.0.0/0", port_range: "22", protocol: "tcp", action: "revoke_ingress" },
      group_id: "sg-0a1b2c3d4e5f60718",
      region: "ap-southeast-1",
      account: "111122223333",
    };
    const reparsed = JSON.parse(JSON.stringify(ARGS, null, 4)) as unknown;
    expect(argumentsDigest(reordered)).toBe(argumentsDigest(ARGS));
    expect(argumentsDigest(reparsed)).toBe(argumentsDigest(ARGS));
  });

  it("changes when any value changes", () => {
    const base = argumentsDigest(ARGS);
    expect(argumentsDigest({ ...ARGS, account: "777788889999" })).not.toBe(base);
    expect(argumentsDigest({ ...ARGS, change: { ...ARGS.change, port_range: "22-23" } })).not.toBe(
      base,
    );
    expect(argumentsDigest({ ...ARGS, extra: null })).not.toBe(base);
    expect(argumentsDigest({ pull_request: 991 })).not.toBe(
      argumentsDigest({ pull_request: "991" }),
    );
  });
});
