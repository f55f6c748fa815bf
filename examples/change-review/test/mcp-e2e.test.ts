// The runtime's MCP mode end to end (GATEWAY_PROTOCOL=mcp), as real processes: the seed review
// of CHG-18422 / platform-infra#991 done entirely through the gateway's /mcp door with the
// official SDK client, giving the same review as the REST mode, every decision recorded as
// arriving over MCP (session and client name), and a denial passed on with its reason codes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../gateway/test/support/opa-server.ts";
import {
  startNode,
  startStack,
  waitFor,
  type Stack,
  type Started,
} from "../../../test/support/processes.ts";
import { SEED_REVIEW, buildAlwaysOpenBundle } from "./support.ts";

const ENGINEER = "engineer@zyxbank.example";

describe("the change-review runtime in MCP mode", () => {
  let bundle: ReturnType<typeof buildAlwaysOpenBundle>;
  let stack: Stack;
  let runtime: Started;
  let runtimeUrl: string;

  beforeAll(async () => {
    bundle = buildAlwaysOpenBundle();
    stack = await startStack({ idp: true, policyBundle: bundle.path });
    const port = await freePort();
    runtime = startNode("examples/change-review/src/main.ts", {
      ZYX_STATE_DIR: stack.stateDir,
      AGENT_PORT: String(port),
      GATEWAY_URL: stack.gatewayUrl,
      GATEWAY_PROTOCOL: "mcp",
      IDP_URL: stack.idpUrl ?? "",
    });
    runtimeUrl = `http://127.0.0.1:${port}`;
    await waitFor(`${runtimeUrl}/healthz`, runtime);
  });

  afterAll(async () => {
    await Promise.all([runtime.stop(), stack.stop()]);
    bundle.remove();
  });

  const review = (user: string, groups: string) =>
    fetch(`${runtimeUrl}/review-change`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${stack.token("access", "--user", user, "--groups", groups, "--no-agent", "--aud", "zyx-change-review")}`,
        "x-device-posture": stack.token("posture", "--user", user, "--compliant", "true"),
      },
      body: JSON.stringify({
        ticket: "CHG-18422",
        repository: "platform-infra",
        pull_request: "991",
      }),
    });

  it("does the whole seed review through /mcp, each decision recorded as door mcp", async () => {
    const response = await review(ENGINEER, "grp-ai-users,grp-ai-devops-readonly");
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ ...SEED_REVIEW, pending_approvals: [] });
    const decisions = readFileSync(join(stack.stateDir, "audit/audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r["event"] === "decision" && r["trace_id"] === body["audit_trace_id"]);
    expect(decisions.map((r) => r["tool"])).toEqual(SEED_REVIEW.tools_used);
    for (const decision of decisions) {
      expect(decision).toMatchObject({
        door: "mcp",
        agent: "change-reviewer",
        details: { mcp: { client: "zyx-change-review" } },
      });
    }
  });

  it("passes on the intern's refusal with its reason code", async () => {
    const response = await review("intern@zyxbank.example", "grp-ai-users");
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: "policy_denied",
      reasons: [{ code: "user_not_in_group" }],
    });
  });
});
