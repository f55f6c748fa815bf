// Operations on the real processes, as `make run` starts them, with the standard variables
// turned on: the gateway fetches its bundle from a bundle server (POLICY_BUNDLE_URL, with a bearer
// token from POLICY_BUNDLE_TOKEN_FILE), evaluates a shadow bundle beside it, exports
// spans over OTLP/HTTP as the worker does (one trace across both processes), ships OPA-format
// decision logs (DECISION_LOG_URL), and both serve /metrics to the scraper's token. One local
// server plays the bundle server, the OTLP collector and the decision-log sink.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { REPO_ROOT, startStack, type Stack } from "../support/processes.ts";
import { freePort } from "../../gateway/test/support/opa-server.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN = "b7ad6b7169203331";
const GATEWAY_SCRAPER = "gateway-scraper-token-e2e";
const WORKER_SCRAPER = "worker-scraper-token-e2e";
const BUNDLE_TOKEN = "bundle-server-token-e2e";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

/** The bundle server, the OTLP/HTTP collector (JSON) and the decision-log sink in one. */
async function startOperationsServer() {
  const bundle = readFileSync(join(REPO_ROOT, "policy-bundle/bundle.tar.gz"));
  const spans = new Map<string, OtlpSpan[]>(); // by service.name
  const decisions: Record<string, unknown>[] = [];
  const bundleAsks: (string | undefined)[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks);
      const body = request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
      if (request.url === "/bundles/zyx.tar.gz") {
        if (request.headers.authorization !== `Bearer ${BUNDLE_TOKEN}`) {
          response.writeHead(401).end();
          return;
        }
        const asked = request.headers["if-none-match"];
        bundleAsks.push(asked);
        if (asked === '"e2e-1"') response.writeHead(304).end();
        else response.writeHead(200, { etag: '"e2e-1"' }).end(bundle);
        return;
      }
      if (request.url === "/v1/traces") {
        collect(spans, JSON.parse(body.toString()) as OtlpExport);
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
        return;
      }
      if (request.url === "/logs") {
        decisions.push(...(JSON.parse(body.toString()) as Record<string, unknown>[]));
        response.writeHead(200).end();
        return;
      }
      response.writeHead(404).end();
    });
  });
  server.listen(await freePort(), "127.0.0.1");
  await new Promise((done) => server.once("listening", done));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${String(port)}`,
    spans,
    decisions,
    bundleAsks,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

function collect(into: Map<string, OtlpSpan[]>, exported: OtlpExport): void {
  for (const resource of exported.resourceSpans ?? []) {
    const service =
      resource.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ??
      "unknown";
    const list = into.get(service) ?? [];
    for (const scope of resource.scopeSpans ?? []) list.push(...(scope.spans ?? []));
    into.set(service, list);
  }
}

describe("operations on the real processes", () => {
  let ops: Awaited<ReturnType<typeof startOperationsServer>>;
  let stack: Stack;
  beforeAll(async () => {
    ops = await startOperationsServer();
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: ops.base,
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };
    const tokenFile = join(mkdtempSync(join(tmpdir(), "zyx-ops-")), "bundle-token");
    writeFileSync(tokenFile, `${BUNDLE_TOKEN}\n`);
    stack = await startStack({
      gatewayEnv: {
        ...otel,
        POLICY_BUNDLE_URL: `${ops.base}/bundles/zyx.tar.gz`,
        POLICY_BUNDLE_TOKEN_FILE: tokenFile,
        POLICY_SHADOW_BUNDLE: join(REPO_ROOT, "policy-bundle/bundle.tar.gz"),
        POLICY_BUNDLE_URL_POLL_MS: "200",
        DECISION_LOG_URL: `${ops.base}/logs`,
        DECISION_LOG_FLUSH_MS: "100",
        METRICS_TOKEN: GATEWAY_SCRAPER,
        AUDIT_CHECKPOINT_RECORDS: "1",
      },
      workerEnv: { ...otel, WORKER_METRICS_TOKEN: WORKER_SCRAPER },
    });
  });
  afterAll(async () => {
    await stack.stop();
    ops.close();
  });

  it("one call: a trace across gateway and worker, a decision-log entry, both metrics", async () => {
    const response = await fetch(`${stack.gatewayUrl}/v1/tools/jira_read`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${stack.token("access", "--user", "engineer@zyxbank.example", "--groups", "grp-ai-users,grp-ai-devops-readonly", "--agent", "change-reviewer")}`,
        "x-device-posture": stack.token("posture", "--user", "engineer@zyxbank.example"),
        "content-type": "application/json",
        traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`,
      },
      body: JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "ops-e2e" }),
    });
    expect(response.status).toBe(200);
    const { decision_id: decisionId, trace_id: traceId } = (await response.json()) as {
      decision_id: string;
      trace_id: string;
    };
    expect(traceId).toBe(TRACE_ID);

    // The bundle came from the bundle server, and is asked for again with its ETag.
    const ready = (await (await fetch(`${stack.gatewayUrl}/readyz`)).json()) as {
      policy_bundle: { path: string; revision: string };
    };
    expect(ready.policy_bundle.path).toMatch(/downloaded-bundle\.tar\.gz$/);
    await vi.waitFor(() => {
      expect(ops.bundleAsks).toContain('"e2e-1"');
    });
    // /readyz also shows the bundle server and the shadow policy (information, not checks).
    expect(await (await fetch(`${stack.gatewayUrl}/readyz`)).json()).toMatchObject({
      status: "ready",
      policy_bundle_server: {
        url: `${ops.base}/bundles/zyx.tar.gz`,
        etag: '"e2e-1"',
        last_outcome: expect.stringMatching(/^(updated|unchanged)$/) as unknown,
        error: null,
      },
      policy_shadow_bundle: { revision: ready.policy_bundle.revision, failures: 0 },
    });

    // One trace, two processes: the worker's span under the gateway's call span.
    await vi.waitFor(
      () => {
        const gateway = ops.spans.get("zyx-gateway") ?? [];
        const worker = ops.spans.get("zyx-worker") ?? [];
        const call = gateway.find((s) => s.name === "zyx.tool_call");
        const execute = worker.find((s) => s.name === "zyx.worker.execute");
        expect(call?.traceId).toBe(TRACE_ID);
        expect(call?.parentSpanId).toBe(CALLER_SPAN);
        expect(execute?.traceId).toBe(TRACE_ID);
        expect(execute?.parentSpanId).toBe(call?.spanId);
        expect(gateway.map((s) => s.name)).toContain("zyx.step.handoff");
      },
      { timeout: 10_000, interval: 100 },
    );

    // The decision log, in OPA's format.
    await vi.waitFor(
      () => {
        expect(ops.decisions.find((d) => d["decision_id"] === decisionId)).toMatchObject({
          path: "zyx/gateway/decision",
          trace_id: TRACE_ID,
          input: { tool: "jira_read" },
          result: { allow: true },
          bundles: { zyx: { revision: ready.policy_bundle.revision } },
        });
      },
      { timeout: 10_000, interval: 100 },
    );

    const gatewayMetrics = await (
      await fetch(`${stack.gatewayUrl}/metrics`, {
        headers: { authorization: `Bearer ${GATEWAY_SCRAPER}` },
      })
    ).text();
    expect(gatewayMetrics).toContain(
      'zyx_gateway_calls_total{tool="jira_read",door="rest",outcome="executed"} 1',
    );
    expect(gatewayMetrics).toMatch(
      /zyx_gateway_policy_bundle_downloads_total\{outcome="updated"\} 1/,
    );
    // The shadow (the same bundle here) decided beside the live policy, and agreed.
    expect(gatewayMetrics).toContain('zyx_gateway_shadow_decisions_total{difference="none"} 1');
    // The session-taint store's fill, wired in the gateway's main: nothing tainted, not saturated.
    expect(gatewayMetrics).toContain('zyx_gateway_session_taints{kind="max_actors"} 100000');
    expect(gatewayMetrics).toContain('zyx_gateway_session_taints{kind="saturated"} 0');
    // The audit witness, wired in main: the gauge holds the file's last durable checkpoint
    // (one after every record here; the last may land just after the call's answer).
    await vi.waitFor(
      async () => {
        const checkpoints = readFileSync(join(stack.stateDir, "audit/audit.jsonl"), "utf8")
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as { event?: string; seq: number })
          .filter((record) => record.event === "checkpoint");
        expect(checkpoints.length).toBeGreaterThanOrEqual(2); // after the decision, the outcome
        const scraped = await fetch(`${stack.gatewayUrl}/metrics`, {
          headers: { authorization: `Bearer ${GATEWAY_SCRAPER}` },
        });
        expect(await scraped.text()).toContain(
          `zyx_gateway_audit_checkpoint_seq ${String(checkpoints.at(-1)?.seq)}\n`,
        );
      },
      { timeout: 5_000, interval: 100 },
    );
    const workerPort = new URL(stack.gatewayEnv["WORKER_URL"] ?? "").port;
    const workerMetrics = await (
      await fetch(`http://127.0.0.1:${workerPort}/metrics`, {
        headers: { authorization: `Bearer ${WORKER_SCRAPER}` },
      })
    ).text();
    expect(workerMetrics).toContain(
      'zyx_worker_calls_total{tool="jira_read",outcome="executed"} 1',
    );
  });
});
