import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  ARGUMENTS_DIGEST,
  argumentsDigest,
  canonicalJson,
  libraryCanonicalJson,
} from "../canonical.ts";

const ARGS = {
  account: "111122223333",
  region: "ap-southeast-1",
  group_id: "sg-0a1b2c3d4e5f60718",
  change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
};

// Expected values are fixed text, computed once outside this code base (python3: json.dumps with
// sort_keys=True and separators=(",", ":"), then hashlib.sha256 over its UTF-8 bytes), so a
// change in the implementation cannot also change what the test expects.
const ARGS_CANONICAL =
  '{"account":"111122223333","change":{"action":"revoke_ingress","cidr":"0.0.0.0/0",' +
  '"port_range":"22","protocol":"tcp"},"group_id":"sg-0a1b2c3d4e5f60718","region":"ap-southeast-1"}';
const ARGS_DIGEST = "0677b47942d65121fd6064df0ec1b658d20dee34c411b3b1ad1e81e6cdf50477";

describe("canonicalJson (RFC 8785)", () => {
  it("writes the arguments as the fixed canonical text", () => {
    expect(canonicalJson(ARGS)).toBe(ARGS_CANONICAL);
  });

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
  it("is the hex SHA-256 of the canonical JSON (fixed digests)", () => {
    expect(argumentsDigest(ARGS)).toBe(ARGS_DIGEST);
    expect(argumentsDigest(ARGS)).toMatch(ARGUMENTS_DIGEST);
    expect(argumentsDigest({ ...ARGS, account: "777788889999" })).toBe(
      "73083dc1f7939daf0278130959b0317a2b7df51256299435379a88aa95d18948",
    );
    expect(argumentsDigest({ pull_request: 991 })).toBe(
      "116c39f53778c86bb9beb827e3597223d974c8a79a5005efdbd609df1166e00d",
    );
    expect(argumentsDigest({ pull_request: "991" })).toBe(
      "61f7725ae1394cd4c9b4e4af8e9c26bc83996060984d207c53910cdb952f5b3d",
    );
  });

  it("hashes the UTF-8 bytes of non-ASCII text", () => {
    expect(canonicalJson({ text: "Zo\u00eb: ok \u2713", channel: "#chg-reviews" })).toBe(
      '{"channel":"#chg-reviews","text":"Zo\u00eb: ok \u2713"}',
    );
    expect(argumentsDigest({ text: "Zo\u00eb: ok \u2713", channel: "#chg-reviews" })).toBe(
      "1f2ad5dd0418d25fd420132fb0e19a839f1c415db2322427b8a019950591ea08",
    );
  });

  it("does not depend on key order or wire whitespace", () => {
    const reordered = {
      change: { cidr: "0.0.0.0/0", port_range: "22", protocol: "tcp", action: "revoke_ingress" },
      group_id: "sg-0a1b2c3d4e5f60718",
      region: "ap-southeast-1",
      account: "111122223333",
    };
    const reparsed = JSON.parse(JSON.stringify(ARGS, null, 4)) as unknown;
    expect(argumentsDigest(reordered)).toBe(ARGS_DIGEST);
    expect(argumentsDigest(reparsed)).toBe(ARGS_DIGEST);
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

// The fast path (plain JSON copied with sorted keys, then JSON.stringify) must write exactly what
// the `canonicalize` library writes, and refuse exactly what it refuses.
describe("canonicalJson's fast path against the canonicalize library", () => {
  const outcome = (write: (v: unknown) => string, value: unknown) => {
    try {
      return { text: write(value) };
    } catch {
      return { refused: true };
    }
  };

  it("agrees on arbitrary JSON values (unicode strings and keys, numbers, nesting)", () => {
    fc.assert(
      fc.property(fc.jsonValue({ depthSize: "medium" }), (value) => {
        expect(canonicalJson(value)).toBe(libraryCanonicalJson(value));
      }),
      { numRuns: 2_000 },
    );
  });

  it("agrees on arbitrary JavaScript values, refusals included", () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withObjectString: true,
          withSparseArray: true,
          withTypedArray: true,
          withBigInt: true,
          stringUnit: "binary",
        }),
        (value) => {
          expect(outcome(canonicalJson, value)).toEqual(outcome(libraryCanonicalJson, value));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("agrees where JSON.stringify alone would not: index-like keys, __proto__, toJSON, lone surrogates", () => {
    const cases: unknown[] = [
      { "10": 1, "2": 2, a: 3, "": 4, "01": 5 },
      JSON.parse('{"__proto__":{"x":1},"b":2}'),
      { when: new Date(0), n: new Number(3) },
      { toJSON: () => ({ z: 1, a: 2 }) },
      { "\uD800": 1 },
      { s: "\uDC00x" },
      { deep: JSON.parse(`${"[".repeat(100)}1${"]".repeat(100)}`) as unknown },
      { é: 1, e: 2, "\u{1F600}": 3, "\uFFFF": 4 },
      [undefined, () => 1, Symbol("s")],
      { u: undefined, f: () => 1, k: 1 },
    ];
    for (const value of cases) {
      expect(outcome(canonicalJson, value)).toEqual(outcome(libraryCanonicalJson, value));
    }
    // RFC 8785 orders keys by UTF-16 code units, so "10" comes before "2".
    expect(canonicalJson({ "2": "b", "10": "a" })).toBe('{"10":"a","2":"b"}');
  });
});
