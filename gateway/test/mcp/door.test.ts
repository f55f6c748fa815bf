// The MCP door in-process (a real gateway app from the harness, the SDK's own client through
// the app's fetch): negotiation, the 401 challenge, the per-caller list, and the golden
// decisions holding whichever door a call comes through.
import { readFileSync } from "node:fs";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { parseToolArguments } from "../../../common/tool-arguments.ts";
import { REASON_CODES, type Decision, type DecisionInput } from "../../src/policy/decision.ts";
import type { PolicyEngine, PolicyOutcome } from "../../src/policy/engine.ts";
import { REASON_CLASS } from "../../src/mcp/listing.ts";
import { createHarness, ENGINEER, type Harness } from "../support/harness.ts";
import { GOLDEN_PATH } from "../support/paths.ts";
import { SG_CHANGE } from "../../../test/support/fixtures.ts";
import { connectMcp, postAsEngineer, structured } from "./support.ts";

const REVIEW_TOOLS = [
  "jira_read",
  "github_read_pr",
  "confluence_read",
  "aws_dev_read",
  "jira_add_comment",
  "slack_post_message",
];
const INTERN = { user: "intern@zyxbank.example", groups: ["grp-ai-users"] };

async function connectAs(h: Harness, as: Partial<typeof ENGINEER> = {}, compliant = true) {
  const who = { ...ENGINEER, ...as };
  return connectMcp({
    url: "http://gateway.test/mcp",
    authorization: `Bearer ${await h.accessToken(who)}`,
    posture: await h.postureToken({ user: who.user, compliant }),
    fetch: (url, init) => Promise.resolve(h.app.request(String(url), init)),
  });
}

function initialize(h: Harness, headers: Record<string, string>, protocolVersion: string) {
  return h.app.request("http://gateway.test/mcp", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion, capabilities: {}, clientInfo: { name: "raw", version: "0" } },
    }),
  });
}

describe("the MCP door: connection and authorization", () => {
  it("negotiates the SDK's newest revision with its client, and older ones down to 2025-03-26", async () => {
    const h = await createHarness();
    const mcp = await connectAs(h);
    expect(mcp.transport.protocolVersion).toBe(LATEST_PROTOCOL_VERSION);
    expect(LATEST_PROTOCOL_VERSION).toBe("2025-11-25");
    expect(mcp.client.getServerVersion()?.name).toBe("zyx-agent-gateway");
    expect(mcp.client.getServerCapabilities()?.tools).toEqual({ listChanged: false });
    expect(mcp.transport.sessionId).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]+$/);
    await mcp.close();
    const headers = {
      authorization: `Bearer ${await h.accessToken()}`,
      "x-device-posture": await h.postureToken(),
    };
    for (const version of ["2025-06-18", "2025-03-26"]) {
      const response = await initialize(h, headers, version);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ result: { protocolVersion: version } });
    }
  });

  it("answers 401 with resource_metadata, and serves RFC 9728 metadata", async () => {
    const h = await createHarness();
    const missing = await initialize(h, {}, LATEST_PROTOCOL_VERSION);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe(
      'Bearer resource_metadata="http://gateway.test/.well-known/oauth-protected-resource/mcp"',
    );
    const forged = await initialize(
      h,
      { authorization: "Bearer not.a.jwt", "x-device-compliant": "true", "x-user": "engineer" },
      LATEST_PROTOCOL_VERSION,
    );
    expect(forged.status).toBe(401);
    expect(forged.headers.get("www-authenticate")).toMatch(
      /^Bearer resource_metadata="[^"]+", error="invalid_token", error_description="/,
    );
    expect(await forged.json()).toMatchObject({ code: "token_invalid" });
    const noPosture = await initialize(
      h,
      { authorization: `Bearer ${await h.accessToken()}` },
      LATEST_PROTOCOL_VERSION,
    );
    expect(noPosture.status).toBe(401);
    expect(await noPosture.json()).toMatchObject({ code: "posture_missing" });
    const metadata = await h.app.request(
      "http://gateway.test/.well-known/oauth-protected-resource/mcp",
    );
    expect(await metadata.json()).toMatchObject({
      resource: "http://gateway.test/mcp",
      bearer_methods_supported: ["header"],
    });
  });

  it("refuses a session id it did not issue (404), and GET/DELETE (405, stateless)", async () => {
    const h = await createHarness();
    const auth = {
      authorization: `Bearer ${await h.accessToken()}`,
      "x-device-posture": await h.postureToken(),
    };
    const list = await h.app.request("http://gateway.test/mcp", {
      method: "POST",
      headers: {
        ...auth,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": "not-ours",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    expect(list.status).toBe(404);
    for (const method of ["GET", "DELETE"]) {
      const response = await h.app.request("http://gateway.test/mcp", {
        method,
        headers: { ...auth, accept: "text/event-stream" },
      });
      expect(response.status).toBe(405);
    }
  });
});

describe("tools/call judges the arguments as sent, as the REST door does", () => {
  it("refuses an own __proto__ member (the SDK's parse would drop it) and calls no worker", async () => {
    const h = await createHarness();
    // Written by hand: JSON.stringify would not keep an own "__proto__" member.
    const response = await postAsEngineer(
      h,
      '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"jira_read","arguments":{"__proto__":{"x":1},"ticket":"CHG-18422"}}}',
    );
    expect(response.status).toBe(200);
    const { result } = (await response.json()) as { result: Record<string, unknown> };
    expect(result["isError"]).toBe(true);
    expect(structured(result)).toMatchObject({ code: "arguments_invalid" });
    expect(h.workerCalls).toEqual([]);
  });
});

describe("one message per request: a JSON-RPC batch is refused before anything runs", () => {
  const call = (id: number, ticket: string) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "jira_add_comment", arguments: { ticket, body: "posted, never answered" } },
  });
  it.each([
    [
      "a call and the cancellation of it",
      [
        call(1, "CHG-18422"),
        { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } },
      ],
    ],
    ["two calls under one id", [call(1, "CHG-18422"), call(1, "CHG-18433")]],
    ["a single call in an array", [call(1, "CHG-18422")]],
    ["an empty array", []],
  ])("%s: 400, -32600, no worker call", async (_label, batch) => {
    const h = await createHarness();
    const response = await postAsEngineer(h, JSON.stringify(batch));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      jsonrpc: "2.0",
      error: { code: -32600, message: "Invalid Request: JSON-RPC batches are not supported" },
      id: null,
    });
    expect(h.workerCalls).toEqual([]);
  });
});

describe("a client that sends no session", () => {
  it("has one session per user and agent: an approval it asked for is usable on its next call", async () => {
    const h = await createHarness();
    const remediator = {
      user: "cloud@zyxbank.example",
      groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers"],
      agent: "change-remediator",
    };
    const call = async (id: number, meta?: Record<string, unknown>) => {
      const response = await h.app.request("http://gateway.test/mcp", {
        method: "POST",
        headers: {
          authorization: `Bearer ${await h.accessToken(remediator)}`,
          "x-device-posture": await h.postureToken({ user: remediator.user }),
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: {
            name: "aws_modify_security_group",
            arguments: SG_CHANGE,
            ...(meta === undefined ? {} : { _meta: meta }),
          },
        }),
      });
      expect(response.status).toBe(200);
      return structured(((await response.json()) as { result: unknown }).result);
    };
    const asked = await call(1);
    expect(asked).toMatchObject({ outcome: "pending_approval" });
    // Asked again without a session: the same request, not a new one per call.
    expect(await call(2)).toMatchObject({ approval_id: asked["approval_id"] });
    const approver = {
      user: "approver.one@zyxbank.example",
      groups: ["grp-ai-prod-approvers"],
      agent: "approvals-console",
    };
    const approved = await h.app.request(`/v1/approvals/${String(asked["approval_id"])}/approve`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken(approver)}`,
        "x-device-posture": await h.postureToken({ user: approver.user }),
      },
    });
    expect(approved.status).toBe(200);
    expect(await call(3, { "zyx/approval_id": asked["approval_id"] })).toMatchObject({
      outcome: "executed",
    });
  });
});

describe("tools/list, per caller, from the policy", () => {
  it("classifies every reason code, so a new one cannot slip into the list unjudged", () => {
    expect(Object.keys(REASON_CLASS).sort()).toEqual([...REASON_CODES].sort());
  });

  it("lists the six review tools for the engineer, with schemas, annotations and approval", async () => {
    const h = await createHarness();
    const mcp = await connectAs(h);
    const { tools } = await mcp.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(REVIEW_TOOLS);
    const jira = tools.find((t) => t.name === "jira_read");
    expect(jira?.inputSchema).toMatchObject({
      type: "object",
      properties: { ticket: { type: "string" } },
      required: ["ticket"],
      additionalProperties: false,
    });
    expect(jira?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    const comment = tools.find((t) => t.name === "jira_add_comment");
    expect(comment?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(comment?.description).toContain("Add a comment to one Jira ticket.");
    expect(comment?._meta?.["zyx/approval"]).toMatchObject({ always: false });
    await mcp.close();
  });

  it("lists nothing for the intern, nor for an unmanaged device", async () => {
    const h = await createHarness();
    const intern = await connectAs(h, INTERN);
    expect((await intern.client.listTools()).tools).toEqual([]);
    const unmanaged = await connectAs(h, {}, false);
    expect((await unmanaged.client.listTools()).tools).toEqual([]);
  });

  it("lists the security-group change, marked for approval, for the remediation agent", async () => {
    const h = await createHarness();
    const mcp = await connectAs(h, {
      user: "cloud@zyxbank.example",
      groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers"],
      agent: "change-remediator",
    });
    const { tools } = await mcp.client.listTools();
    const sg = tools.find((t) => t.name === "aws_modify_security_group");
    expect(sg?._meta?.["zyx/approval"]).toMatchObject({ always: true, required_now: true });
  });

  it("reflects the kill switch at the very next list (read-only mode hides the writes)", async () => {
    const h = await createHarness();
    const mcp = await connectAs(h);
    await h.controls.killSwitch.set("read_only", "change-reviewer", {
      by: "secadmin@zyxbank.example",
      reason: "INC-42",
    });
    const { tools } = await mcp.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(REVIEW_TOOLS.slice(0, 4));
  });

  it("fails closed when the policy cannot decide: an error, not a list", async () => {
    const failing = (policy: PolicyEngine): PolicyEngine =>
      Object.assign(Object.create(policy) as PolicyEngine, {
        evaluate: (): PolicyOutcome => ({
          ok: false,
          code: "policy_evaluation_failed",
          message: "trap",
        }),
      });
    const h = await createHarness({ ports: (d) => ({ policy: failing(d.policy) }) });
    const mcp = await connectAs(h);
    await expect(mcp.client.listTools()).rejects.toThrow(/policy_unavailable/);
  });
});

// --- The golden decisions, whichever door -------------------------------------------------

interface GoldenCase {
  name: string;
  input: Record<string, unknown>;
  state?: { kill_switch?: Record<string, unknown> };
  expect: { allow: boolean; reasons: string[]; approvers_required: number };
}
const golden = JSON.parse(readFileSync(GOLDEN_PATH, "utf8")) as {
  base_input: DecisionInput;
  cases: GoldenCase[];
};
const toolOf = (c: GoldenCase): string =>
  typeof c.input["tool"] === "string" ? c.input["tool"] : golden.base_input.tool;

// The cases a caller can reproduce with the engineer's own token and posture: only the tool,
// its arguments and the kill switch vary (identity, device and clock are the base input's).
const reproducible = golden.cases.filter(
  (c) =>
    Object.keys(c.input).every((k) => k === "tool" || k === "arguments") &&
    ((c.state?.kill_switch?.["users"] ?? []) as string[]).every((u) => u.includes("@")) &&
    // Arguments the tool's schema refuses never reach the policy (either door: 400 / isError).
    parseToolArguments(toolOf(c), c.input["arguments"] ?? golden.base_input.arguments).ok,
);

function recording(policy: PolicyEngine, seen: { input: DecisionInput; decision: Decision }[]) {
  return Object.assign(Object.create(policy) as PolicyEngine, {
    evaluate: async (input: DecisionInput) => {
      const outcome = await policy.evaluate(input);
      if (outcome.ok) seen.push({ input, decision: outcome.decision });
      return outcome;
    },
  });
}

describe("the golden decisions hold whichever door", () => {
  it("has reproducible cases to replay", () => {
    expect(reproducible.length).toBeGreaterThanOrEqual(15);
  });

  /** One call through one door, on a fresh gateway (a denial would count for the next call). */
  async function through(door: "rest" | "mcp", goldenCase: GoldenCase) {
    const seen: { input: DecisionInput; decision: Decision }[] = [];
    const h = await createHarness({ ports: (d) => ({ policy: recording(d.policy, seen) }) });
    const state = h.controls.killSwitch.state().state;
    void h.policy.setState({
      kill_switch: { ...state.kill_switch, ...goldenCase.state?.kill_switch },
    });
    const tool = toolOf(goldenCase);
    const args = (goldenCase.input["arguments"] ?? golden.base_input.arguments) as Record<
      string,
      unknown
    >;
    let result: unknown;
    if (door === "rest") await h.callAs(tool, args, { sessionId: "golden" });
    else result = await (await connectAs(h)).client.callTool({ name: tool, arguments: args });
    const decided = seen.pop();
    if (decided === undefined) throw new Error("no decision");
    return { ...decided, result };
  }

  it.each(reproducible.map((c) => [c.name, c] as const))("%s", async (_name, goldenCase) => {
    const rest = await through("rest", goldenCase);
    const viaMcp = await through("mcp", goldenCase);
    expect(viaMcp.input).toEqual(rest.input);
    for (const decided of [rest, viaMcp]) {
      expect({
        allow: decided.decision.allow,
        reasons: decided.decision.reasons.map((r) => r.code).sort(),
        approvers_required: decided.decision.approval.approvers_required,
      }).toEqual({
        allow: goldenCase.expect.allow,
        reasons: goldenCase.expect.reasons,
        approvers_required: goldenCase.expect.approvers_required,
      });
    }
    if (goldenCase.expect.reasons.some((r) => r !== "approval_required")) {
      expect((viaMcp.result as { isError?: boolean }).isError).toBe(true);
      const reasons = structured(viaMcp.result)["reasons"] as { code: string }[];
      expect(reasons.map((r) => r.code).sort()).toEqual(goldenCase.expect.reasons);
    }
  });
});
