// The "limits" section of the policy data: the real file's values, and every way a section is
// refused (code and message), so a half-edited catalog stops the process instead of unlimiting.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TOOL_NAMES } from "../../../common/catalog.ts";
import { denialMonitorSettings, parseLimits, readLimits } from "../../src/limits/config.ts";
import { LimitsError } from "../../src/limits/errors.ts";

const real = readLimits();

function refusal(value: unknown): { code: string; message: string } {
  try {
    parseLimits(value);
  } catch (error) {
    expect(error).toBeInstanceOf(LimitsError);
    const { code, message } = error as LimitsError;
    return { code, message };
  }
  throw new Error("parseLimits accepted the section");
}

describe("the limits section", () => {
  it("reads the catalog's values, with a limit for every tool", () => {
    expect(real).toEqual({
      window_seconds: 60,
      per_agent: 120,
      per_user: 60,
      per_tool: {
        jira_read: 60,
        github_read_pr: 60,
        confluence_read: 30,
        aws_dev_read: 30,
        jira_add_comment: 10,
        slack_post_message: 10,
        aws_modify_security_group: 3,
        jira_delete_comment: 10,
        slack_delete_message: 10,
      },
      suspend_agent_after_denials: 10,
      denial_window_seconds: 300,
    });
    expect(Object.keys(real.per_tool).sort()).toEqual([...TOOL_NAMES].sort());
    expect(denialMonitorSettings(real)).toEqual({ threshold: 10, windowSeconds: 300 });
  });

  it.each([
    ["absent", undefined, "limits: must be an object"],
    ["a number", 5, "limits: must be an object"],
    ["an array", [], "limits: must be an object"],
    [
      "empty",
      {},
      "limits.window_seconds: missing; limits.per_agent: missing; limits.per_user: missing; " +
        "limits.per_tool: missing; limits.suspend_agent_after_denials: missing; " +
        "limits.denial_window_seconds: missing",
    ],
    [
      "a zero window",
      { ...real, window_seconds: 0 },
      "limits.window_seconds: must be an integer from 1 to 86400",
    ],
    [
      "a window over a day",
      { ...real, window_seconds: 86_401 },
      "limits.window_seconds: must be an integer from 1 to 86400",
    ],
    [
      "a window as a string",
      { ...real, window_seconds: "60" },
      "limits.window_seconds: must be an integer from 1 to 86400",
    ],
    [
      "a fractional limit",
      { ...real, per_agent: 1.5 },
      "limits.per_agent: must be an integer from 1 to 100000",
    ],
    [
      "a negative limit",
      { ...real, per_user: -1 },
      "limits.per_user: must be an integer from 1 to 100000",
    ],
    [
      "a zero tool limit",
      { ...real, per_tool: { ...real.per_tool, slack_post_message: 0 } },
      "limits.per_tool.slack_post_message: must be an integer from 1 to 100000",
    ],
    ["a misspelt key", { ...real, per_agnet: 3 }, "limits.per_agnet: unknown key"],
    [
      "a tool that is not in the catalog",
      { ...real, per_tool: { ...real.per_tool, jira_delete: 1 } },
      "limits.per_tool.jira_delete: not a tool in the catalog",
    ],
    [
      "a tool without a limit",
      {
        ...real,
        per_tool: Object.fromEntries(
          Object.entries(real.per_tool).filter(([tool]) => tool !== "aws_modify_security_group"),
        ),
      },
      "limits.per_tool.aws_modify_security_group: missing: every tool in the catalog needs a limit",
    ],
    ["per_tool not an object", { ...real, per_tool: null }, "limits.per_tool: must be an object"],
    [
      "a threshold of zero",
      { ...real, suspend_agent_after_denials: 0 },
      "limits.suspend_agent_after_denials: must be an integer from 1 to 10000",
    ],
    [
      "no denial window",
      Object.fromEntries(Object.entries(real).filter(([key]) => key !== "denial_window_seconds")),
      "limits.denial_window_seconds: missing",
    ],
  ])("refuses a section that is %s", (_what, value, problems) => {
    expect(refusal(value)).toEqual({
      code: "limits_config_invalid",
      message: `limits are invalid: ${problems}`,
    });
  });

  it("names every problem at once", () => {
    expect(refusal({ ...real, per_agent: 0, per_user: 0 }).message).toBe(
      "limits are invalid: limits.per_agent: must be an integer from 1 to 100000; " +
        "limits.per_user: must be an integer from 1 to 100000",
    );
  });

  it("refuses a policy data file it cannot read or parse", async () => {
    const dir = await mkdtemp(join(tmpdir(), "limits-"));
    try {
      const missing = join(dir, "absent.json");
      expect(() => readLimits(missing)).toThrow(
        expect.objectContaining({
          code: "limits_config_invalid",
          message: `cannot read the policy data at ${missing}`,
        }),
      );
      const broken = join(dir, "broken.json");
      await writeFile(broken, "{ not json");
      expect(() => readLimits(broken)).toThrow(
        expect.objectContaining({
          code: "limits_config_invalid",
          message: `cannot read the policy data at ${broken}`,
        }),
      );
      const noSection = join(dir, "no-limits.json");
      await writeFile(noSection, JSON.stringify({ version: "x" }));
      expect(() => readLimits(noSection)).toThrow(
        expect.objectContaining({
          code: "limits_config_invalid",
          message: "limits are invalid: limits: must be an object",
        }),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
