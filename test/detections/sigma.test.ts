// The Sigma evaluator's subset, case by case, on hand-made events; and the rule loader's refusals.
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  compileCondition,
  compileDetection,
  evaluateEventCount,
  parseTimespan,
  type Matcher,
} from "../../gateway/src/audit/sigma.ts";
import { loadRuleSet, MAPPING_PATH } from "../../gateway/src/audit/sigma-rules.ts";

const KNOWN = new Set([
  "tool",
  "user",
  "risk_score",
  "reason_code",
  "allow",
  "model",
  "note",
  "ip",
]);
const ev = (fields: Record<string, unknown>) => new Map(Object.entries(fields));
const detect = (detection: Record<string, unknown>) => compileDetection(detection, KNOWN);

describe("field matching", () => {
  it("plain strings: exact, case-insensitive, with * and ? wildcards and escapes", () => {
    const m = detect({ s: { tool: "jira_*" }, condition: "s" });
    expect(m(ev({ tool: "JIRA_read" }))).toBe(true);
    expect(m(ev({ tool: "xjira_read" }))).toBe(false);
    const q = detect({ s: { tool: "jira_rea?" }, condition: "s" });
    expect(q(ev({ tool: "jira_read" }))).toBe(true);
    expect(q(ev({ tool: "jira_reads" }))).toBe(false);
    const star = detect({ s: { note: "a\\*b" }, condition: "s" });
    expect(star(ev({ note: "a*b" }))).toBe(true);
    expect(star(ev({ note: "axxb" }))).toBe(false);
    const dot = detect({ s: { note: "a.b" }, condition: "s" });
    expect(dot(ev({ note: "axb" }))).toBe(false);
  });

  it("contains, startswith, endswith, re", () => {
    expect(detect({ s: { tool: "|x" }, condition: "s" })).toBeTypeOf("function");
    const c = detect({ s: { "note|contains": "ignore previous" }, condition: "s" });
    expect(c(ev({ note: "Please IGNORE previous instructions" }))).toBe(true);
    expect(c(ev({ note: "previous" }))).toBe(false);
    expect(
      detect({ s: { "tool|startswith": "aws_" }, condition: "s" })(ev({ tool: "aws_dev_read" })),
    ).toBe(true);
    expect(
      detect({ s: { "tool|endswith": "_read" }, condition: "s" })(ev({ tool: "aws_dev_read" })),
    ).toBe(true);
    expect(
      detect({ s: { "tool|endswith": "_read" }, condition: "s" })(ev({ tool: "jira_add_comment" })),
    ).toBe(false);
    const re = detect({ s: { "tool|re": "^aws_(dev|prod)_read$" }, condition: "s" });
    expect(re(ev({ tool: "aws_dev_read" }))).toBe(true);
    expect(re(ev({ tool: "aws_stage_read" }))).toBe(false);
  });

  it("lists are any-of; |all needs every value; array fields match on any item", () => {
    const any = detect({
      s: { reason_code: ["production_blocked", "account_not_allowed"] },
      condition: "s",
    });
    expect(any(ev({ reason_code: ["user_not_in_group", "account_not_allowed"] }))).toBe(true);
    expect(any(ev({ reason_code: ["user_not_in_group"] }))).toBe(false);
    expect(any(ev({ reason_code: [] }))).toBe(false);
    const all = detect({ s: { "reason_code|all": ["a", "b"] }, condition: "s" });
    expect(all(ev({ reason_code: ["b", "a", "c"] }))).toBe(true);
    expect(all(ev({ reason_code: ["a"] }))).toBe(false);
  });

  it("numbers, booleans, null and exists compare by value", () => {
    expect(detect({ s: { "risk_score|gte": 8 }, condition: "s" })(ev({ risk_score: 8 }))).toBe(
      true,
    );
    expect(detect({ s: { "risk_score|gt": 8 }, condition: "s" })(ev({ risk_score: 8 }))).toBe(
      false,
    );
    expect(detect({ s: { "risk_score|lt": 3 }, condition: "s" })(ev({ risk_score: 2 }))).toBe(true);
    expect(detect({ s: { "risk_score|lte": 3 }, condition: "s" })(ev({ risk_score: "2" }))).toBe(
      false,
    );
    expect(detect({ s: { risk_score: 5 }, condition: "s" })(ev({ risk_score: 5 }))).toBe(true);
    expect(detect({ s: { allow: false }, condition: "s" })(ev({ allow: false }))).toBe(true);
    expect(detect({ s: { allow: false }, condition: "s" })(ev({ allow: "false" }))).toBe(false);
    expect(detect({ s: { allow: false }, condition: "s" })(ev({}))).toBe(false);
    expect(detect({ s: { model: null }, condition: "s" })(ev({}))).toBe(true);
    expect(detect({ s: { model: null }, condition: "s" })(ev({ model: "m" }))).toBe(false);
    expect(detect({ s: { "model|exists": true }, condition: "s" })(ev({ model: "m" }))).toBe(true);
    expect(detect({ s: { "model|exists": false }, condition: "s" })(ev({ model: "m" }))).toBe(
      false,
    );
  });

  it("a map needs every field; a list of maps needs any map", () => {
    const both = detect({ s: { tool: "jira_read", user: "intern*" }, condition: "s" });
    expect(both(ev({ tool: "jira_read", user: "intern@x" }))).toBe(true);
    expect(both(ev({ tool: "jira_read", user: "engineer@x" }))).toBe(false);
    const either = detect({ s: [{ tool: "jira_read" }, { user: "intern*" }], condition: "s" });
    expect(either(ev({ tool: "slack", user: "intern@x" }))).toBe(true);
    expect(either(ev({ tool: "slack", user: "eng@x" }))).toBe(false);
  });

  it("cidr: IPv4 and IPv6 ranges, addresses normalised, anything else outside", () => {
    const m = detect({ s: { "ip|cidr": ["10.42.16.0/24", "2001:db8::/32"] }, condition: "s" });
    expect(m(ev({ ip: "10.42.16.200" }))).toBe(true);
    expect(m(ev({ ip: "::ffff:10.42.16.7" }))).toBe(true);
    expect(m(ev({ ip: "2001:DB8:0::1" }))).toBe(true);
    expect(m(ev({ ip: "10.42.17.1" }))).toBe(false);
    expect(m(ev({ ip: "10.42.16.0.example" }))).toBe(false);
    expect(m(ev({ ip: 10 }))).toBe(false);
    expect(m(ev({}))).toBe(false);
    const outside = detect({ s: { "ip|cidr": "10.0.0.0/8" }, condition: "not s" });
    expect(outside(ev({ ip: "192.0.2.1" }))).toBe(true);
  });

  it("cidr: a bad range, a non-string or another modifier is refused when the rule loads", () => {
    expect(() => detect({ s: { "ip|cidr": "10.0.0.0/33" }, condition: "s" })).toThrow(
      expect.objectContaining({ code: "sigma_rule_invalid" }),
    );
    expect(() => detect({ s: { "ip|cidr": 10 }, condition: "s" })).toThrow(
      expect.objectContaining({ code: "sigma_rule_invalid" }),
    );
    expect(() => detect({ s: { "ip|cidr|contains": "10.0.0.0/8" }, condition: "s" })).toThrow(
      expect.objectContaining({ code: "sigma_unsupported" }),
    );
  });
});

describe("conditions", () => {
  const t: Matcher = () => true;
  const f: Matcher = () => false;
  const searches = new Map([
    ["sel_a", t],
    ["sel_b", f],
    ["filter", t],
  ]);
  const run = (condition: string) => compileCondition(condition, searches)(new Map());

  it("and binds tighter than or; not tighter than and; parentheses override", () => {
    expect(run("sel_b and sel_b or sel_a")).toBe(true);
    expect(run("sel_b and (sel_b or sel_a)")).toBe(false);
    expect(run("not sel_b and sel_a")).toBe(true);
    expect(run("not (sel_a and filter)")).toBe(false);
    expect(run("sel_a and not filter")).toBe(false);
    expect(run("NOT sel_b AND sel_a")).toBe(true);
  });

  it("1 of / all of a pattern, and of them", () => {
    expect(run("1 of sel_*")).toBe(true);
    expect(run("all of sel_*")).toBe(false);
    expect(run("all of them")).toBe(false);
    expect(run("1 of them")).toBe(true);
    expect(run("all of filter")).toBe(true);
  });

  it("refuses what it cannot evaluate, with stable codes", () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as { code?: string }).code;
      }
      return "no error";
    };
    expect(code(() => run("sel_a and"))).toBe("sigma_condition_invalid");
    expect(code(() => run("sel_a sel_b"))).toBe("sigma_condition_invalid");
    expect(code(() => run("(sel_a"))).toBe("sigma_condition_invalid");
    expect(code(() => run("nope"))).toBe("sigma_condition_invalid");
    expect(code(() => run("1 of x*"))).toBe("sigma_condition_invalid");
    expect(code(() => detect({ s: { "tool|base64": "x" }, condition: "s" }))).toBe(
      "sigma_unsupported",
    );
    expect(code(() => detect({ s: { unmapped: "x" }, condition: "s" }))).toBe("sigma_rule_invalid");
    expect(code(() => detect({ s: ["keyword"], condition: "s" }))).toBe("sigma_unsupported");
    expect(code(() => detect({ s: { tool: "x" }, condition: "s | count() > 5" }))).toBe(
      "sigma_unsupported",
    );
    expect(code(() => detect({ s: { "risk_score|gt": "8" }, condition: "s" }))).toBe(
      "sigma_rule_invalid",
    );
  });
});

describe("event_count correlations", () => {
  const at = (minute: number, user: string) => ({ time: minute * 60_000, event: ev({ user }) });

  it("counts per group inside one sliding window", () => {
    const events = [at(0, "a"), at(1, "b"), at(2, "a"), at(6, "a"), at(7, "a"), at(7.5, "b")];
    const hits = evaluateEventCount(events, {
      groupBy: ["user"],
      timespanMs: parseTimespan("5m"),
      threshold: { op: "gte", value: 3 },
    });
    // a: minutes 2, 6 and 7 fall in one 5-minute window; b never has three.
    expect(hits).toEqual([{ group: { user: "a" }, count: 3, first: 120_000, last: 420_000 }]);
    expect(
      evaluateEventCount(events, {
        groupBy: ["user"],
        timespanMs: 300_000,
        threshold: { op: "gt", value: 3 },
      }),
    ).toEqual([]);
    expect(
      evaluateEventCount(events, {
        groupBy: [],
        timespanMs: 90_000,
        threshold: { op: "gte", value: 3 },
      }),
    ).toEqual([{ group: {}, count: 3, first: 360_000, last: 450_000 }]);
  });

  it("parses timespans", () => {
    expect(parseTimespan("30s")).toBe(30_000);
    expect(parseTimespan("10m")).toBe(600_000);
    expect(parseTimespan("2h")).toBe(7_200_000);
    expect(() => parseTimespan("5 minutes")).toThrow(/timespan/);
  });
});

describe("loading rules", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sigma-rules-"));
    await mkdir(join(dir, "rules"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const rule = (over: string) =>
    `title: t\nid: 11111111-2222-4333-8444-555555555555\nlevel: low\nlogsource:\n  product: zyx\n  service: agent-gateway-audit\ndetection:\n  s:\n    event: decision\n  condition: s\n${over}`;
  const load = async (text: string) => {
    await writeFile(join(dir, "rules", "r.yml"), text);
    return loadRuleSet(join(dir, "rules"), MAPPING_PATH);
  };

  it("the shipped rules all load", async () => {
    const set = await loadRuleSet();
    expect(set.rules.length).toBeGreaterThanOrEqual(12);
  });

  it("refuses a rule without a UUID, with another logsource, or a correlation of nothing", async () => {
    await expect(load(rule("").replace(/id: .*/, "id: my-rule"))).rejects.toMatchObject({
      code: "sigma_rule_invalid",
    });
    await expect(load(rule("").replace("product: zyx", "product: windows"))).rejects.toThrow(
      /logsource/,
    );
    await expect(
      load(
        `${rule("")}---\ntitle: c\nid: 21111111-2222-4333-8444-555555555555\nlevel: low\ncorrelation:\n  type: event_count\n  rules: [missing]\n  group-by: [user]\n  timespan: 5m\n  condition:\n    gte: 2\n`,
      ),
    ).rejects.toThrow(/no rule missing/);
    await expect(load(`${rule("")}---\ntitle: [unclosed\n`)).rejects.toMatchObject({
      code: "sigma_rule_invalid",
    });
  });
});
