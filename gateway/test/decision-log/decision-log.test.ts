// Decision logs in OPA's format, from real calls through the real app (real policy WASM, audit,
// worker) to a local HTTP sink: gzip'd batches of entries a SIEM reading OPA decision logs
// understands, secrets masked as in the audit; a sink that is down is retried with backoff; the
// buffer is bounded and what it drops is counted in /metrics.
import { afterAll, describe, expect, it, vi } from "vitest";
import { createGatewayApp, type GatewayPorts } from "../../src/app.ts";
import { createDecisionLogObserver } from "../../src/decision-log/observer.ts";
import { createDecisionLogShipper } from "../../src/decision-log/shipper.ts";
import { createGatewayMetrics } from "../../src/metrics/gateway-metrics.ts";
import { createHarness, ENGINEER } from "../support/harness.ts";
import { startLogSink, type LogSink } from "../support/log-sink.ts";

const TOKEN = "scraper-token-0123456789";
const sinks: LogSink[] = [];
afterAll(async () => {
  await Promise.all(sinks.map((s) => s.close()));
});

async function sink(): Promise<LogSink> {
  const started = await startLogSink();
  sinks.push(started);
  return started;
}

const quiet = () => undefined;

async function loggedApp(
  target: LogSink,
  shipping: { maxBuffered?: number } = {},
  harness: { bundlePath?: string } = {},
) {
  let ports: GatewayPorts | undefined;
  const h = await createHarness({
    ...harness,
    ports: (defaults) => {
      ports = defaults;
      return {};
    },
  });
  if (ports === undefined) throw new Error("the harness gave no ports");
  const metrics = createGatewayMetrics();
  const shipper = createDecisionLogShipper({
    url: target.url,
    token: "sink-token",
    maxBatch: 50,
    flushIntervalMs: 50,
    backoff: { minMs: 20, maxMs: 200 },
    log: quiet,
    events: metrics.decisionLog,
    ...shipping,
  });
  metrics.addSources({ decisionLogBuffered: () => shipper.stats().buffered });
  const observer = createDecisionLogObserver({
    enqueue: (entry) => {
      shipper.enqueue(entry);
    },
    labels: { id: "gateway-test-1", version: "test" },
    revision: () => h.policy.revision ?? null,
    log: quiet,
  });
  const app = createGatewayApp(ports, {
    bodyLimitBytes: 65_536,
    now: () => h.clock.now,
    metrics,
    metricsToken: TOKEN,
    observers: [observer],
  });
  const call = async (tool: string, args: Record<string, unknown>, as = ENGINEER) =>
    app.request(`/v1/tools/${tool}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken({ user: as.user, groups: as.groups })}`,
        "x-device-posture": await h.postureToken({ user: as.user }),
        "content-type": "application/json",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      },
      body: JSON.stringify({ arguments: args, session_id: "decision-log-1" }),
    });
  const scrape = async () =>
    (await app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  return { h, app, call, shipper, scrape };
}

const INTERN = { ...ENGINEER, user: "intern@zyxbank.example", groups: ["grp-ai-users"] };

describe("decision logs", () => {
  it("ships an OPA-format entry per decision, allow and deny, gzip'd to the sink", async () => {
    const target = await sink();
    const { call, shipper, h } = await loggedApp(target);
    const allowed = await call("jira_read", { ticket: "CHG-18422" });
    expect(allowed.status).toBe(200);
    const allowedId = ((await allowed.json()) as { decision_id: string }).decision_id;
    const denied = await call("jira_read", { ticket: "CHG-18422" }, INTERN);
    expect(denied.status).toBe(403);
    const deniedId = ((await denied.json()) as { decision_id: string }).decision_id;
    await shipper.flush();

    expect(target.batches.length).toBeGreaterThan(0);
    expect(target.batches[0]?.headers["content-encoding"]).toBe("gzip");
    expect(target.batches[0]?.headers["content-type"]).toBe("application/json");
    expect(target.batches[0]?.headers.authorization).toBe("Bearer sink-token");
    const entries = target.entries();
    expect(entries.map((e) => e["decision_id"])).toEqual([allowedId, deniedId]);
    const [allow, deny] = entries;
    expect(allow).toMatchObject({
      labels: { id: "gateway-test-1", version: "test" },
      path: "zyx/gateway/decision",
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
      bundles: { zyx: { revision: h.policy.revision } },
      timestamp: "2026-05-20T02:00:00.000Z",
      input: {
        principal: { sub: ENGINEER.user, groups: ENGINEER.groups },
        agent: { id: "change-reviewer" },
        tool: "jira_read",
        arguments: { ticket: "CHG-18422" },
      },
      result: { allow: true, reasons: [], policy_revision: h.policy.revision },
    });
    expect(allow?.["span_id"]).toMatch(/^[0-9a-f]{16}$/);
    const metrics = allow?.["metrics"] as Record<string, unknown>;
    expect(Object.keys(metrics)).toEqual(["timer_server_handler_ns"]);
    expect(metrics["timer_server_handler_ns"]).toBeGreaterThan(0);
    expect(deny).toMatchObject({
      input: { principal: { sub: INTERN.user } },
      result: { allow: false, reasons: [{ code: "user_not_in_group" }] },
    });
    shipper.close();
  });

  it("ships a call the policy could not decide as an entry with `error` and no result", async () => {
    const target = await sink();
    const { call, shipper } = await loggedApp(target, {}, { bundlePath: "/nonexistent/b.tar.gz" });
    const refused = await call("jira_read", { ticket: "CHG-18422" });
    expect(refused.status).toBe(503);
    const problem = (await refused.json()) as { code: string; decision_id: string };
    expect(problem.code).toBe("policy_unavailable");
    await shipper.flush();
    const [entry, ...rest] = target.entries();
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({
      decision_id: problem.decision_id,
      path: "zyx/gateway/decision",
      bundles: {},
      input: { tool: "jira_read", arguments: { ticket: "CHG-18422" } },
      error: { code: "policy_bundle_missing" },
    });
    expect(entry).not.toHaveProperty("result");
    shipper.close();
  });

  it("masks secrets in the input as the audit does, and says where", async () => {
    const target = await sink();
    const { call, shipper } = await loggedApp(target);
    const secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";
    const answered = await call("jira_add_comment", {
      ticket: "CHG-18422",
      body: `deploy with token ${secret}`,
    });
    // Decided (the entry is what this test reads); the worker then refuses to post a secret.
    expect({ status: answered.status, body: await answered.json() }).toMatchObject({
      status: 502,
      body: { code: "worker_failed" },
    });
    await shipper.flush();
    const [entry] = target.entries();
    expect(JSON.stringify(entry)).not.toContain(secret);
    expect(entry).toMatchObject({
      input: { tool: "jira_add_comment" },
      masked: ["/input"],
    });
    const input = entry?.["input"] as { arguments: { body: string } };
    expect(input.arguments.body).toContain("[REDACTED");
    shipper.close();
  });

  it("retries a sink that is down with backoff and delivers each entry once", async () => {
    const target = await sink();
    target.answer(503, 503, 500);
    const { call, shipper, scrape } = await loggedApp(target);
    const ids: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      const answered = await call("jira_read", { ticket: "CHG-18422" });
      expect(answered.status).toBe(200);
      ids.push(((await answered.json()) as { decision_id: string }).decision_id);
    }
    await shipper.flush();
    expect(target.refused).toBe(3);
    expect(target.entries().map((e) => e["decision_id"])).toEqual(ids);
    const text = await scrape();
    expect(text).toContain("zyx_gateway_decision_log_upload_failures_total 3");
    expect(text).toContain("zyx_gateway_decision_log_sent_total 2");
    expect(text).toContain("zyx_gateway_decision_log_buffered 0");
    shipper.close();
  });

  it("bounds the buffer while the sink is down: the oldest entries are dropped and counted", async () => {
    const target = await sink();
    target.answer(...Array.from({ length: 1_000 }, () => 503));
    const { call, shipper, scrape } = await loggedApp(target, { maxBuffered: 2 });
    for (let i = 0; i < 4; i++) {
      expect((await call("jira_read", { ticket: "CHG-18422" })).status).toBe(200);
    }
    expect(shipper.stats().buffered).toBeLessThanOrEqual(2);
    // A batch in flight comes back to the buffer when its upload fails: then the count settles.
    await vi.waitFor(
      async () => {
        expect(await scrape()).toMatch(
          /zyx_gateway_decision_log_dropped_total\{reason="buffer_full"\} 2\n/,
        );
      },
      { timeout: 3_000, interval: 20 },
    );
    expect(target.entries()).toEqual([]);
    shipper.close();
  });

  it("drops a batch the sink refuses as malformed (4xx) instead of retrying it forever", async () => {
    const target = await sink();
    target.answer(400);
    const { call, shipper, scrape } = await loggedApp(target);
    expect((await call("jira_read", { ticket: "CHG-18422" })).status).toBe(200);
    await shipper.flush();
    expect(target.refused).toBe(1);
    expect(target.entries()).toEqual([]);
    expect(await scrape()).toMatch(/zyx_gateway_decision_log_dropped_total\{reason="rejected"\} 1/);
    shipper.close();
  });
});
