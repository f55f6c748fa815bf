// GET /metrics through the real app (real policy WASM, audit, worker): it counts the calls that
// went through, and only the platform's scraper (its bearer token) may read it.
import { describe, expect, it } from "vitest";
import { createGatewayApp, type GatewayPorts } from "../../src/app.ts";
import { createGatewayMetrics } from "../../src/metrics/gateway-metrics.ts";
import { createHarness, ENGINEER } from "../support/harness.ts";

const TOKEN = "scraper-token-0123456789";

async function metricsApp(withToken = true) {
  let ports: GatewayPorts | undefined;
  const h = await createHarness({
    ports: (defaults) => {
      ports = defaults;
      return {};
    },
  });
  if (ports === undefined) throw new Error("the harness gave no ports");
  const live = ports;
  const metrics = createGatewayMetrics({
    policyRevision: () => live.policy.revision,
    killSwitch: () => live.killSwitch.state(),
    audit: () => h.audit.stats(),
  });
  const app = createGatewayApp(live, {
    bodyLimitBytes: 65_536,
    now: () => h.clock.now,
    metrics,
    ...(withToken ? { metricsToken: TOKEN } : {}),
  });
  const call = async (tool: string, args: Record<string, unknown>, as = ENGINEER) =>
    app.request(`/v1/tools/${tool}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken({ user: as.user, groups: as.groups })}`,
        "x-device-posture": await h.postureToken({ user: as.user }),
        "content-type": "application/json",
      },
      body: JSON.stringify({ arguments: args, session_id: "metrics-1" }),
    });
  const scrape = async () => {
    const response = await app.request("/metrics", {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };
  return { h, app, call, scrape };
}

describe("GET /metrics", () => {
  it("counts an executed call, a denied one, the decisions and each step's latency", async () => {
    const { call, scrape, h } = await metricsApp();
    expect((await call("jira_read", { ticket: "CHG-18422" })).status).toBe(200);
    const intern = { ...ENGINEER, user: "intern@zyxbank.example", groups: ["grp-ai-users"] };
    expect((await call("jira_read", { ticket: "CHG-18422" }, intern)).status).toBe(403);
    const text = await scrape();
    expect(text).toContain(
      'zyx_gateway_calls_total{tool="jira_read",door="rest",outcome="executed"} 1',
    );
    expect(text).toContain(
      'zyx_gateway_calls_total{tool="jira_read",door="rest",outcome="policy_denied"} 1',
    );
    expect(text).toContain('zyx_gateway_decisions_total{result="allow",reason="none"} 1');
    expect(text).toContain(
      'zyx_gateway_decisions_total{result="deny",reason="user_not_in_group"} 1',
    );
    const steps: [string, string, number][] = [
      ...["authenticate", "parse", "limits", "approval", "decide"].map(
        (step): [string, string, number] => [step, "ok", 2],
      ),
      ["handoff", "ok", 1],
      ["refuse", "policy_denied", 1],
    ];
    for (const [step, result, count] of steps) {
      expect(text).toContain(
        `zyx_gateway_step_duration_seconds_count{step="${step}",result="${result}"} ${String(count)}`,
      );
    }
    expect(text).toContain(
      `zyx_gateway_policy_bundle_info{revision="${h.policy.revision ?? ""}"} 1`,
    );
    expect(text).toContain('zyx_gateway_kill_switch_version{kind="current"} 0');
    expect(text).toMatch(/zyx_gateway_audit_records\{kind="appends"\} [1-9]/);
  });

  it("labels an unknown tool and a failed authentication without echoing what the caller sent", async () => {
    const { app, scrape } = await metricsApp();
    await app.request("/v1/tools/no_such_tool_x", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const text = await scrape();
    expect(text).toContain(
      'zyx_gateway_calls_total{tool="unknown",door="rest",outcome="token_missing"} 1',
    );
    expect(text).not.toContain("no_such_tool_x");
  });

  it("is for the scraper only: no token 401, another token 401, not configured 404", async () => {
    const { app } = await metricsApp();
    expect((await app.request("/metrics")).status).toBe(401);
    const other = await app.request("/metrics", {
      headers: { authorization: "Bearer not-the-token" },
    });
    expect(other.status).toBe(401);
    expect(await other.json()).toMatchObject({ code: "token_invalid" });
    const { app: closed } = await metricsApp(false);
    const response = await closed.request("/metrics", {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(404);
  });
});
