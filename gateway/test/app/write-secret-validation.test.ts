// The walkthrough's validate_output (step 6): what the agent writes (every write tool's arguments,
// the catalog says which) is checked for secrets before it leaves, and a comment or message that
// carries one is refused, never posted. Through the real gateway app, the real compiled policy
// and the real worker app with its fixture connectors.
import { existsSync, readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../support/harness.ts";

function writes(h: Harness): Record<string, unknown>[] {
  if (!existsSync(h.writesPath)) return [];
  return readFileSync(h.writesPath, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function outcomes(h: Harness): Record<string, unknown>[] {
  return readFileSync(h.auditPath, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record["event"] === "outcome");
}

describe("a write that carries a secret (seed step 6, validate_output)", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });

  it.each([
    [
      "jira_add_comment",
      { ticket: "CHG-18422", body: "Review done. password=SuperSecretPassword123" },
    ],
    [
      "jira_add_comment",
      { ticket: "CHG-18422", body: "key AKIAIOSFODNN7EXAMPLE found in the diff" },
    ],
    [
      "slack_post_message",
      { channel: "devsecops-change-review", text: "api_key=abc1234567890supersecretvalue" },
    ],
  ])("%s is refused as output_rejected and nothing is posted", async (tool, args) => {
    const response = await h.callAs(tool, args);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: "worker_failed" });
    expect(writes(h)).toEqual([]);
    await h.audit.close();
    // Audited as a failed validation: the output_redaction detection's validation_failed branch.
    expect(outcomes(h).at(-1)).toMatchObject({
      tool,
      outcome: { status: "failed" },
      details: { worker_code: "output_rejected" },
    });
  });

  it("posts what only names where a secret comes from (code under review stays readable)", async () => {
    const response = await h.callAs("jira_add_comment", {
      ticket: "CHG-18422",
      body: "The module sets password = var.db_password; keep it that way.",
    });
    expect(response.status).toBe(200);
    expect(writes(h)).toHaveLength(1);
  });
});
