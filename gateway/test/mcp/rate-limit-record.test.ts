// Every record of a tool call says which door it came through (`door`), and an MCP call's
// records its Mcp-Session-Id and client: the record of a call refused over the limits (event
// "outcome", rate_limited) too, so a runaway MCP agent's 429s are told from a REST agent's and
// traced to its connection.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../support/harness.ts";
import { postAsEngineer } from "./support.ts";

const PROTOCOL = { "mcp-protocol-version": "2025-06-18" };

const post = (h: Harness, id: number) =>
  postAsEngineer(
    h,
    {
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      // Refused by the schema, but counted: slack_post_message allows 10 calls per 60 s.
      params: { name: "slack_post_message", arguments: { channel: "x", text: "x", extra: id } },
    },
    PROTOCOL,
  );

describe("the rate-limited record of an MCP call", () => {
  it("names the door and the MCP session, as the call's other records do", async () => {
    const h = await createHarness();
    for (let i = 0; i < 11; i++) expect((await post(h, i)).status).toBe(200);
    await h.audit.close();
    const limited = readFileSync(h.auditPath, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => (r["outcome"] as { code?: string } | undefined)?.code === "rate_limited");
    expect(limited).toHaveLength(1);
    expect(limited[0]).toMatchObject({
      door: "mcp",
      tool: "slack_post_message",
      details: { mcp: { session: null, client: null } },
    });
  });
});
