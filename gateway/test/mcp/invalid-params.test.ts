// JSON-RPC 2.0: params of the wrong shape are -32602 Invalid params, with the request's id and
// a one-line message, never -32603 Internal error (the SDK's Server parses params inside its
// handler wrapper and would answer a client's mistake as a server fault, with zod's dump).
import { describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../support/harness.ts";
import { postAsEngineer } from "./support.ts";

const PROTOCOL = { "mcp-protocol-version": "2025-06-18" };

async function rpc(h: Harness, message: Record<string, unknown>) {
  const response = await postAsEngineer(h, { jsonrpc: "2.0", ...message }, PROTOCOL);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe("the MCP door answers params of the wrong shape as JSON-RPC Invalid params", () => {
  it("tools/call with a non-string name or non-object arguments, initialize without fields", async () => {
    const h = await createHarness();
    const cases = [
      { id: 1, method: "tools/call", params: { name: 5, arguments: {} } },
      { id: "two", method: "tools/call", params: { name: "jira_read", arguments: [1] } },
      { id: 3, method: "tools/list", params: { cursor: 7 } },
      { id: 4, method: "initialize", params: {} },
    ];
    for (const message of cases) {
      const { status, json } = await rpc(h, message);
      expect(status).toBe(200);
      expect(json).toMatchObject({ jsonrpc: "2.0", id: message.id, error: { code: -32602 } });
      const error = json["error"] as { message: string };
      expect(error.message).not.toContain("\n");
    }
    expect(h.workerCalls).toHaveLength(0);
  });
});
