// Every audit record of an MCP call names the MCP route and carries its Mcp-Session-Id and the
// client's declared name (README, MCP), the records of calls refused before the decision too
// (body or arguments the schema refuses, a replayed approval...): never the REST route
// "POST /v1/tools/<tool>", which the call did not take.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../support/harness.ts";
import { postAsEngineer } from "./support.ts";

const PROTOCOL = { "mcp-protocol-version": "2025-06-18" };

const mcpPost = (h: Harness, body: unknown, session?: string) =>
  postAsEngineer(h, body, {
    ...PROTOCOL,
    ...(session === undefined ? {} : { "mcp-session-id": session }),
  });

describe("an MCP call's refusal record says it came through /mcp, and from which session", () => {
  it("names the MCP route, session and client, never the REST route", async () => {
    const h = await createHarness();
    const init = await mcpPost(h, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "review-client", version: "1" },
      },
    });
    const session = init.headers.get("mcp-session-id") ?? "";
    expect(session).not.toBe("");
    const call = await mcpPost(
      h,
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "jira_read", arguments: { ticket: "not-a-ticket" } },
      },
      session,
    );
    expect(call.status).toBe(200);
    await h.audit.close();
    const refusal = readFileSync(h.auditPath, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((record) => record["event"] === "refusal");
    expect(refusal).toMatchObject({
      door: "mcp",
      tool: "jira_read",
      outcome: { code: "arguments_invalid" },
      details: {
        route: "POST /mcp tools/call",
        mcp: { session, client: "review-client" },
      },
    });
  });
});
