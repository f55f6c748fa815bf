// The MCP front door as real processes: the gateway and the worker started as `make run` starts
// them, tokens minted with `npm run token`, and the official SDK client (Client +
// StreamableHTTPClientTransport) over a real socket. The audit chain is verified at the end,
// and the added latency of a tools/call over the REST door is measured (and printed).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditFile } from "../../gateway/src/audit/verify.ts";
import { connectMcp, structured, type McpConnection } from "../../gateway/test/mcp/support.ts";
import { startStack, type Stack } from "../support/processes.ts";
import {
  ADMIN as ADMIN_PERSON,
  APPROVER as APPROVER_PERSON,
  ENGINEER as ENGINEER_PERSON,
  INTERN as INTERN_PERSON,
  REMEDIATOR as REMEDIATOR_PERSON,
  SG_CHANGE as SG_ARGS,
  tokenArgs,
} from "../support/fixtures.ts";

const ENGINEER = tokenArgs(ENGINEER_PERSON);
const INTERN = tokenArgs(INTERN_PERSON);
const REQUESTER = tokenArgs(REMEDIATOR_PERSON);
const APPROVER = tokenArgs(APPROVER_PERSON);
const ADMIN = tokenArgs(ADMIN_PERSON);

const REVIEW_TOOLS = [
  "jira_read",
  "github_read_pr",
  "confluence_read",
  "aws_dev_read",
  "jira_add_comment",
  "slack_post_message",
];

describe("the MCP door, as processes, with the official SDK client", () => {
  let stack: Stack;
  const open: McpConnection[] = [];
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await stack.stop();
  });

  const headersOf = (who: string[], aud: string[] = []) => ({
    authorization: `Bearer ${stack.token("access", ...who, ...aud)}`,
    posture: stack.token("posture", who[0] ?? "", who[1] ?? "", "--compliant", "true"),
  });
  const connect = async (who: string[], aud: string[] = []) => {
    const connection = await connectMcp({
      url: `${stack.gatewayUrl}/mcp`,
      ...headersOf(who, aud),
      clientName: "e2e-client",
    });
    open.push(connection);
    return connection;
  };
  const asRest = (who: string[]) => {
    const { authorization, posture } = headersOf(who);
    return {
      authorization,
      "x-device-posture": posture,
      "content-type": "application/json",
    };
  };

  it("initializes at the newest revision and lists the engineer's six review tools", async () => {
    const mcp = await connect(ENGINEER);
    expect(mcp.transport.protocolVersion).toBe(LATEST_PROTOCOL_VERSION);
    const { tools } = await mcp.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(REVIEW_TOOLS);
  });

  it("lists nothing for the intern", async () => {
    const mcp = await connect(INTERN);
    expect((await mcp.client.listTools()).tools).toEqual([]);
  });

  it("answers 401 with the metadata's address, which names the identity provider", async () => {
    const response = await fetch(`${stack.gatewayUrl}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-device-compliant": "true" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(401);
    const challenge = response.headers.get("www-authenticate") ?? "";
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(metadataUrl).toBe(`${stack.gatewayUrl}/.well-known/oauth-protected-resource/mcp`);
    const metadata = (await (await fetch(metadataUrl ?? "")).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      resource: `${stack.gatewayUrl}/mcp`,
      authorization_servers: ["http://127.0.0.1:8090"],
    });
  });

  it("accepts a token whose audience is the MCP resource URI (RFC 8707), and no other", async () => {
    const mcp = await connect(ENGINEER, ["--aud", `${stack.gatewayUrl}/mcp`]);
    expect((await mcp.client.listTools()).tools).toHaveLength(6);
    await expect(connect(ENGINEER, ["--aud", "https://elsewhere.example/mcp"])).rejects.toThrow();
  });

  it("runs an allowed call through the pipeline, with the worker's evidence", async () => {
    const mcp = await connect(ENGINEER);
    const result = await mcp.client.callTool({
      name: "jira_read",
      arguments: { ticket: "CHG-18422" },
    });
    expect(result.isError).toBeFalsy();
    expect(structured(result)).toMatchObject({
      outcome: "executed",
      result: { key: "CHG-18422" },
      evidence: { untrusted: true, redactions: expect.any(Number) as unknown },
    });
  });

  it("refuses a denied call as an isError result carrying every reason code", async () => {
    const mcp = await connect(ENGINEER);
    const result = await mcp.client.callTool({
      name: "slack_post_message",
      arguments: { channel: "general", text: "hello" },
    });
    expect(result.isError).toBe(true);
    // Outside business hours the write also needs an approver: every reason is there.
    expect(structured(result)).toMatchObject({
      code: "policy_denied",
      reasons: expect.arrayContaining([
        expect.objectContaining({ code: "channel_not_allowed" }),
      ]) as unknown,
    });
    expect(JSON.stringify(result.content)).toContain("channel_not_allowed");
  });

  it("refuses arguments the tool's schema refuses, with each issue", async () => {
    const mcp = await connect(ENGINEER);
    const result = await mcp.client.callTool({ name: "jira_read", arguments: { ticket: "x" } });
    expect(result.isError).toBe(true);
    expect(structured(result)).toMatchObject({
      code: "arguments_invalid",
      issues: [{ path: "/ticket" }],
    });
  });

  it("waits for approval, then executes the approved call exactly once", async () => {
    const mcp = await connect(REQUESTER);
    const asked = await mcp.client.callTool({
      name: "aws_modify_security_group",
      arguments: SG_ARGS,
    });
    expect(asked.isError).toBeFalsy();
    const pending = structured(asked);
    expect(pending).toMatchObject({ outcome: "pending_approval", status: "pending" });
    const id = String(pending["approval_id"]);
    expect(pending["status_url"]).toBe(`${stack.gatewayUrl}/v1/approvals/${id}`);
    const approved = await fetch(`${stack.gatewayUrl}/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: asRest(APPROVER),
    });
    expect(approved.status).toBe(200);
    const executed = await mcp.client.callTool({
      name: "aws_modify_security_group",
      arguments: SG_ARGS,
      _meta: { "zyx/approval_id": id },
    });
    expect(executed.isError).toBeFalsy();
    expect(structured(executed)).toMatchObject({ outcome: "executed" });
    const replay = await mcp.client.callTool({
      name: "aws_modify_security_group",
      arguments: SG_ARGS,
      _meta: { "zyx/approval_id": id },
    });
    expect(replay.isError).toBe(true);
    expect(structured(replay)).toMatchObject({ status: 409, code: "approval_already_executed" });
  });

  it("reflects the kill switch in the very next list (stateless: no push)", async () => {
    const mcp = await connect(ENGINEER);
    const set = await fetch(`${stack.gatewayUrl}/v1/admin/kill-switch/read-only`, {
      method: "PUT",
      headers: asRest(ADMIN),
      body: JSON.stringify({ value: "change-reviewer", reason: "INC-42" }),
    });
    expect(set.status).toBe(200);
    expect((await mcp.client.listTools()).tools.map((t) => t.name)).toEqual(
      REVIEW_TOOLS.slice(0, 4),
    );
    const cleared = await fetch(`${stack.gatewayUrl}/v1/admin/kill-switch/read-only`, {
      method: "DELETE",
      headers: asRest(ADMIN),
      body: JSON.stringify({ value: "change-reviewer", reason: "INC-42 closed" }),
    });
    expect(cleared.status).toBe(200);
    expect((await mcp.client.listTools()).tools).toHaveLength(6);
  });

  it("measures a tools/call against the same call over REST (median of 25 each)", async () => {
    const mcp = await connect(ENGINEER);
    const rest = asRest(ENGINEER);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const timed = async (run: () => Promise<unknown>) => {
      const started = performance.now();
      await run();
      return performance.now() - started;
    };
    const [viaRest, viaMcp]: [number[], number[]] = [[], []];
    for (let i = 0; i < 25; i += 1) {
      viaRest.push(
        await timed(async () => {
          const response = await fetch(`${stack.gatewayUrl}/v1/tools/jira_read`, {
            method: "POST",
            headers: rest,
            body: JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "bench" }),
          });
          expect(response.status).toBe(200);
          await response.arrayBuffer();
        }),
      );
      viaMcp.push(
        await timed(() =>
          mcp.client.callTool({ name: "jira_read", arguments: { ticket: "CHG-18422" } }),
        ),
      );
    }
    const [r, m] = [median(viaRest), median(viaMcp)];
    console.warn(
      `tools/call latency, median of 25: REST ${r.toFixed(2)} ms, MCP ${m.toFixed(2)} ms, ` +
        `added ${(m - r).toFixed(2)} ms`,
    );
    expect(m).toBeGreaterThan(0);
  });

  it("recorded every MCP call as door mcp, with the session and the client's name; the chain verifies", async () => {
    const path = join(stack.stateDir, "audit", "audit.jsonl");
    const verified = await verifyAuditFile(path);
    expect(verified.ok).toBe(true);
    const records = readFileSync(path, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const viaMcp = records.filter((r) => r["event"] === "decision" && r["door"] === "mcp");
    expect(viaMcp.length).toBeGreaterThan(5);
    for (const record of viaMcp) {
      expect(record["details"]).toMatchObject({
        mcp: {
          client: "e2e-client",
          session: expect.stringMatching(/^[0-9a-f-]{36}\./) as unknown,
        },
      });
      expect(String(record["session_id"])).toMatch(/^mcp:/);
    }
    expect(records.some((r) => r["door"] === "rest")).toBe(true);
  });
});
