// Review: the call limits are the runaway-loop brake, but a call whose arguments the schema
// refuses is neither counted nor limited: an agent looping on malformed calls is never slowed
// (each one still costs a durable refusal record), and it can interleave them with valid calls.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createHarness } from "../support/harness.ts";

describe("call limits count calls the schema refuses", () => {
  it("an agent looping on invalid arguments is limited like any other loop", async () => {
    const h = await createHarness();
    const statuses: number[] = [];
    // slack_post_message: 10 calls per 60 s per agent, user and tool.
    for (let i = 0; i < 30; i++) {
      const response = await h.callAs("slack_post_message", {
        channel: "devsecops-change-review",
        text: "x",
        unexpected: i,
      });
      statuses.push(response.status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 400)).toBe(true);
    // Past the tool's limit the loop is refused as over the limit, not served another 400.
    expect(statuses.slice(10)).toEqual(Array(20).fill(429));
    await h.audit.close();
    const refusals = readFileSync(h.auditPath, "utf8")
      .split("\n")
      .filter((line) => line.includes('"arguments_invalid"'));
    expect(refusals.length).toBeLessThanOrEqual(10);
  });
});
