import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TOOL_NAMES, type ToolName } from "../catalog.ts";
import { parseToolArguments, type ArgumentIssue } from "../tool-arguments.ts";

// One valid call per tool, taken from the seed / golden cases where they exist.
const VALID: Record<ToolName, Record<string, unknown>> = {
  jira_read: { ticket: "CHG-18422" },
  github_read_pr: { repository: "zyx-bank/platform-infra", pull_request: 991 },
  confluence_read: { space: "SEC" },
  aws_dev_read: { account: "111122223333", region: "ap-southeast-1" },
  jira_add_comment: { ticket: "CHG-18422", body: "AI security review" },
  slack_post_message: { channel: "devsecops-change-review", text: "CHG-18422 needs review" },
  aws_modify_security_group: {
    account: "111122223333",
    region: "ap-southeast-1",
    group_id: "sg-0a1b2c3d4e5f60718",
    change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
    change_ticket: "CHG-18422",
    rollback_plan: "Re-authorize the revoked rule from the compensation handle.",
  },
  jira_delete_comment: { ticket: "CHG-18422", comment_id: "10001" },
  slack_delete_message: { channel: "C07DEVSECOPS", ts: "1779476400.000100" },
};

function issues(tool: string, args: unknown): ArgumentIssue[] {
  const result = parseToolArguments(tool, args);
  if (result.ok) return [];
  if (result.reason === "tool_not_found") throw new Error("unexpected tool_not_found");
  return result.issues;
}

function withField(tool: ToolName, field: string, value: unknown): Record<string, unknown> {
  return { ...VALID[tool], [field]: value };
}

function withChange(field: string, value: unknown): Record<string, unknown> {
  const base = VALID.aws_modify_security_group;
  return { ...base, change: { ...(base["change"] as object), [field]: value } };
}

/** One format, exercised through a tool that uses it: valid values pass, invalid ones fail. */
interface FormatCase {
  format: string;
  build: (value: unknown) => [ToolName, Record<string, unknown>];
  path: string;
  valid: unknown[];
  invalid: unknown[];
}

const FORMATS: FormatCase[] = [
  {
    format: "Jira key",
    build: (v) => ["jira_read", withField("jira_read", "ticket", v)],
    path: "/ticket",
    valid: ["CHG-18422", "AB-1", "A1B2C3D4E5-9999999", "SEC-10"],
    invalid: [
      "chg-18422",
      "CHG-018422",
      "CHG-0",
      "C-1",
      "1CH-2",
      "ABCDEFGHIJK-1",
      "CHG-12345678",
      "CHG 18422",
      " CHG-18422",
      "CHG-18422\n",
      "CHG_18422",
      18422,
      "",
    ],
  },
  {
    format: "repository slug (owner/name required)",
    build: (v) => ["github_read_pr", withField("github_read_pr", "repository", v)],
    path: "/repository",
    valid: [
      "zyx-bank/platform-infra",
      "a/b",
      "Zyx-Bank/Platform.Infra_2",
      `${"o".repeat(39)}/${"n".repeat(100)}`,
      "zyx/.github",
    ],
    invalid: [
      "platform-infra",
      "zyx-bank/",
      "/platform-infra",
      "zyx-bank/platform-infra/extra",
      "-zyx/repo",
      "zyx-/repo",
      "zyx--bank/repo",
      "zyx_bank/repo",
      `${"o".repeat(40)}/repo`,
      `zyx/${"n".repeat(101)}`,
      "zyx/.",
      "zyx/..",
      "zyx/repo.git",
      "zyx/re po",
      "zyx/repo%2f",
      "",
    ],
  },
  {
    format: "pull request number",
    build: (v) => ["github_read_pr", withField("github_read_pr", "pull_request", v)],
    path: "/pull_request",
    valid: [1, 991, 1_000_000_000],
    invalid: [0, -1, 1.5, 1_000_000_001, "991", null, Number.NaN, Number.POSITIVE_INFINITY],
  },
  {
    format: "Slack channel",
    build: (v) => ["slack_post_message", withField("slack_post_message", "channel", v)],
    path: "/channel",
    valid: ["devsecops-change-review", "general", "a", "0ops", "x_y-z", "c".repeat(80)],
    invalid: ["#general", "General", "-general", "_general", "gen eral", "c".repeat(81), ""],
  },
  {
    format: "AWS account id",
    build: (v) => ["aws_dev_read", withField("aws_dev_read", "account", v)],
    path: "/account",
    valid: ["111122223333", "000000000000"],
    invalid: ["11112222333", "1111222233334", "11112222333a", 111122223333, "development", ""],
  },
  {
    format: "AWS region",
    build: (v) => ["aws_dev_read", withField("aws_dev_read", "region", v)],
    path: "/region",
    valid: ["ap-southeast-1", "us-east-1", "us-gov-west-1", "eu-central-2"],
    invalid: [
      "AP-southeast-1",
      "ap-southeast",
      "ap-southeast-10",
      "apac-south-1",
      "us-gov-west",
      "ap-southeast-1 ",
      "",
    ],
  },
  {
    format: "security-group id",
    build: (v) => [
      "aws_modify_security_group",
      withField("aws_modify_security_group", "group_id", v),
    ],
    path: "/group_id",
    valid: ["sg-0a1b2c3d4e5f60718", "sg-12345678"],
    invalid: [
      "sg-0A1B2C3D4E5F60718",
      "sg-1234567",
      "sg-123456789",
      "sg-0a1b2c3d4e5f6071",
      "sg-0a1b2c3d4e5f607189",
      "sg-1234567g",
      "12345678",
    ],
  },
  {
    format: "CIDR",
    build: (v) => ["aws_modify_security_group", withChange("cidr", v)],
    path: "/change/cidr",
    valid: [
      "0.0.0.0/0",
      "10.0.0.0/8",
      "10.1.2.3/32",
      "192.168.0.0/16",
      "::/0",
      "2001:db8::/32",
      "2001:db8:0:1::/64",
      "2001:db8::1/128",
      "fe80::/10",
    ],
    invalid: [
      "10.0.0.1/8",
      "10.0.0.0/33",
      "10.0.0.0",
      "010.0.0.0/8",
      "10.0.0.0/08",
      "256.0.0.0/8",
      "2001:DB8::/32",
      "2001:0db8::/32",
      "2001:db8:0:0::/64",
      "2001:db8::1/64",
      "::/129",
      "::ffff:10.0.0.0/104",
      "fe80::1%eth0/128",
      "anywhere",
    ],
  },
  {
    format: "port range",
    build: (v) => ["aws_modify_security_group", withChange("port_range", v)],
    path: "/change/port_range",
    valid: ["22", "0", "65535", "1024-2048", "0-65535"],
    invalid: ["22-22", "2048-1024", "65536", "0-65536", "022", "-1", "22-", "22 - 23", 22, ""],
  },
  {
    format: "Confluence space",
    build: (v) => ["confluence_read", { space: v }],
    path: "/space",
    valid: ["SEC", "S1", "ABCDEFGHIJ"],
    invalid: ["sec", "S", "1SEC", "ABCDEFGHIJK", ""],
  },
  {
    format: "Jira comment body",
    build: (v) => ["jira_add_comment", withField("jira_add_comment", "body", v)],
    path: "/body",
    valid: ["x", "line one\nline two\r\n\tindented", "é 🙂", "b".repeat(32_767)],
    invalid: ["", "   ", "\n\t", "b".repeat(32_768), "bell\u0007", "nul\u0000", "\uD800 lone"],
  },
  {
    format: "Slack text",
    build: (v) => ["slack_post_message", withField("slack_post_message", "text", v)],
    path: "/text",
    valid: ["CHG-18422 needs review", "t".repeat(4000)],
    invalid: ["", "  ", "t".repeat(4001), "\u001b[31mred"],
  },
  {
    format: "rollback plan",
    build: (v) => [
      "aws_modify_security_group",
      withField("aws_modify_security_group", "rollback_plan", v),
    ],
    path: "/rollback_plan",
    valid: ["Re-authorize the rule.", "r".repeat(4000)],
    invalid: ["", "  ", "r".repeat(4001), null],
  },
  {
    format: "change ticket",
    build: (v) => [
      "aws_modify_security_group",
      withField("aws_modify_security_group", "change_ticket", v),
    ],
    path: "/change_ticket",
    valid: ["CHG-1"],
    invalid: ["", "chg-1", null],
  },
  {
    format: "rule description",
    build: (v) => ["aws_modify_security_group", withChange("description", v)],
    path: "/change/description",
    valid: ["SSH from bastion (CHG-18422)", "d".repeat(255)],
    invalid: ["", "d".repeat(256), "quote's", "new\nline", "café"],
  },
  {
    format: "change action",
    build: (v) => ["aws_modify_security_group", withChange("action", v)],
    path: "/change/action",
    valid: ["authorize_ingress", "revoke_ingress"],
    invalid: ["delete_group", "AUTHORIZE_INGRESS", ""],
  },
  {
    format: "protocol",
    build: (v) => ["aws_modify_security_group", withChange("protocol", v)],
    path: "/change/protocol",
    valid: ["tcp", "udp", "icmp"],
    invalid: ["TCP", "all", "6", -1, ""],
  },
];

describe("argument formats", () => {
  for (const { format, build, path, valid, invalid } of FORMATS) {
    describe(format, () => {
      it.each(valid.map((value) => [value]))("accepts %j", (value) => {
        const [tool, args] = build(value);
        expect(issues(tool, args)).toEqual([]);
      });
      it.each(invalid.map((value) => [value]))("refuses %j", (value) => {
        const [tool, args] = build(value);
        const found = issues(tool, args);
        expect(found).toHaveLength(1);
        expect(found[0]?.path).toBe(path);
      });
    });
  }
});

describe("parseToolArguments", () => {
  it.each(TOOL_NAMES.map((tool) => [tool]))("accepts the seed call for %s unchanged", (tool) => {
    const result = parseToolArguments(tool, VALID[tool]);
    expect(result).toEqual({ ok: true, tool, arguments: VALID[tool] });
  });

  it("accepts every allowed golden-case call (arguments valid on both sides)", () => {
    const golden = JSON.parse(
      readFileSync(join(import.meta.dirname, "../../rego/zyx/golden/data.json"), "utf8"),
    ) as { base_input: { tool: string; arguments: unknown }; cases: GoldenCase[] };
    interface GoldenCase {
      name: string;
      input: { tool?: string; arguments?: unknown };
      expect: { allow: boolean };
    }
    const allowed = golden.cases.filter((c) => c.expect.allow);
    expect(allowed.length).toBeGreaterThan(0);
    for (const c of allowed) {
      const tool = c.input.tool ?? golden.base_input.tool;
      const args = c.input.arguments ?? golden.base_input.arguments;
      expect({ name: c.name, result: parseToolArguments(tool, args).ok }).toEqual({
        name: c.name,
        result: true,
      });
    }
  });

  it("says tool_not_found for a tool outside the catalog", () => {
    expect(parseToolArguments("iam_attach_policy", {})).toEqual({
      ok: false,
      reason: "tool_not_found",
    });
    expect(parseToolArguments("__proto__", {})).toEqual({ ok: false, reason: "tool_not_found" });
    expect(parseToolArguments("toString", {})).toEqual({ ok: false, reason: "tool_not_found" });
  });

  it("refuses arguments that are not an object", () => {
    for (const args of [null, undefined, [], "CHG-1", 1]) {
      expect(issues("jira_read", args)).toEqual([
        { path: "", message: "arguments must be a JSON object" },
      ]);
    }
  });

  it.each(TOOL_NAMES.map((tool) => [tool]))("refuses unknown keys for %s", (tool) => {
    expect(issues(tool, { ...VALID[tool], extra: 1 })).toEqual([
      { path: "/extra", message: "unknown argument" },
    ]);
  });

  it("refuses unknown keys in nested objects and lists each of them", () => {
    const args = {
      ...withChange("priority", 1),
      "a/b~c": true,
    };
    expect(issues("aws_modify_security_group", args)).toEqual([
      { path: "/change/priority", message: "unknown argument" },
      { path: "/a~1b~0c", message: "unknown argument" },
    ]);
  });

  it("lists every problem: two bad fields give two issues", () => {
    const found = issues("github_read_pr", { repository: "platform-infra", pull_request: "991" });
    expect(found.map((i) => i.path)).toEqual(["/repository", "/pull_request"]);
  });

  it("lists a missing required field as required", () => {
    expect(issues("jira_add_comment", { ticket: "CHG-1" })).toEqual([
      { path: "/body", message: "is required" },
    ]);
  });

  it("lists every problem of a badly wrong security-group change", () => {
    const found = issues("aws_modify_security_group", {
      account: "prod",
      region: "ap-southeast-1",
      group_id: "sg-x",
      change: { action: "delete", protocol: "tcp", port_range: "22-22", cidr: "10.0.0.1/8" },
      change_ticket: null,
      unknown: 1,
    });
    expect(found.map((i) => i.path)).toEqual([
      "/account",
      "/group_id",
      "/change/action",
      "/change/port_range",
      "/change/cidr",
      "/change_ticket",
      "/unknown",
    ]);
  });

  it("leaves change_ticket and rollback_plan to the policy when absent", () => {
    const rest = { ...VALID.aws_modify_security_group };
    delete rest["change_ticket"];
    delete rest["rollback_plan"];
    expect(issues("aws_modify_security_group", rest)).toEqual([]);
  });

  it('requires "0-65535" with protocol "-1" (all traffic)', () => {
    const all = { ...VALID.aws_modify_security_group };
    const change = all["change"] as Record<string, unknown>;
    expect(
      issues("aws_modify_security_group", {
        ...all,
        change: { ...change, protocol: "-1", port_range: "0-65535" },
      }),
    ).toEqual([]);
    expect(
      issues("aws_modify_security_group", {
        ...all,
        change: { ...change, protocol: "-1", port_range: "22" },
      }),
    ).toEqual([
      { path: "/change/port_range", message: expect.stringContaining("0-65535") as unknown },
    ]);
  });

  it("confluence_read needs a space, a label or both", () => {
    expect(issues("confluence_read", { label: "network-security" })).toEqual([]);
    expect(issues("confluence_read", { space: "SEC", label: "pci" })).toEqual([]);
    expect(issues("confluence_read", {})).toEqual([
      { path: "", message: "give a space, a label or both" },
    ]);
    expect(issues("confluence_read", { label: "Network Security" }).map((i) => i.path)).toEqual([
      "/label",
    ]);
  });

  it("aws_dev_read group_ids: 1 to 20 distinct ids", () => {
    const ids = Array.from({ length: 20 }, (_, i) => `sg-${String(i).padStart(8, "0")}`);
    expect(issues("aws_dev_read", withField("aws_dev_read", "group_ids", ids))).toEqual([]);
    for (const bad of [
      [],
      [...ids, "sg-99999999"],
      ["sg-12345678", "sg-12345678"],
      ["sg-nothex00"],
      "sg-12345678",
    ]) {
      const found = issues("aws_dev_read", withField("aws_dev_read", "group_ids", bad));
      expect(found.length).toBeGreaterThan(0);
      expect(found.every((i) => i.path.startsWith("/group_ids"))).toBe(true);
    }
  });

  it("does not trust prototype keys", () => {
    const args = JSON.parse('{"ticket":"CHG-1","__proto__":{"admin":true}}') as unknown;
    expect(issues("jira_read", args)).toEqual([
      { path: "/__proto__", message: "unknown argument" },
    ]);
  });
});

describe("compensation tools", () => {
  it.each([
    ["jira_delete_comment", { ticket: "CHG-18422", comment_id: "010" }, "/comment_id"],
    ["jira_delete_comment", { ticket: "CHG-18422", comment_id: 10001 }, "/comment_id"],
    [
      "slack_delete_message",
      { channel: "devsecops-change-review", ts: "1779476400.000100" },
      "/channel",
    ],
    ["slack_delete_message", { channel: "C07DEVSECOPS", ts: "1779476400" }, "/ts"],
  ] as const)("%s refuses %j at %s", (tool, args, path) => {
    expect(issues(tool, args).map((issue) => issue.path)).toEqual([path]);
  });
});
