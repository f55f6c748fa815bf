// OpenTelemetry through the real app and the real worker on a loopback socket, each with its own
// tracer provider exporting to memory: one trace runs from the caller's traceparent through the
// gateway's call and step spans, the worker's span (traceparent on the hand-off), to the HTTP
// requests the worker's connectors make (traceparent added to them). Off unless OTEL_* ask.
import { createServer, get, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, describe, expect, it } from "vitest";
import { createTracing, tracingWanted } from "../../../common/tracing.ts";
import { createPipelineTracer } from "../../src/tracing/pipeline-tracer.ts";
import { createHarness, ENGINEER } from "../support/harness.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

/** A stand-in for a system's API: records the headers of every request. */
async function startApi() {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return { seen, base: `http://127.0.0.1:${String(port)}`, server };
}

const api = await startApi();
afterAll(() => {
  api.server.closeAllConnections();
  api.server.close();
});

/** What a connector does: one request through fetch (undici), one through node:http. */
async function connectorCalls(): Promise<unknown> {
  await (await fetch(`${api.base}/fetch`)).text();
  await new Promise<void>((done, fail) => {
    get(`${api.base}/http`, (response) => {
      response.resume();
      response.on("end", done);
    }).on("error", fail);
  });
  return { fetched: true };
}

async function tracedHarness() {
  const gatewaySpans = new InMemorySpanExporter();
  const workerSpans = new InMemorySpanExporter();
  const gateway = createTracing({ serviceName: "zyx-gateway", exporter: gatewaySpans });
  const worker = createTracing({ serviceName: "zyx-worker", exporter: workerSpans });
  const h = await createHarness({
    tracing: { gateway: createPipelineTracer(gateway.tracer), worker: worker.tracer },
    workerExecute: connectorCalls,
  });
  return { h, gatewaySpans, workerSpans };
}

const idOf = (span: ReadableSpan | undefined) => span?.spanContext().spanId;
const parentOf = (span: ReadableSpan | undefined) => span?.parentSpanContext?.spanId;
const named = (spans: ReadableSpan[], name: string) => spans.find((s) => s.name === name);

describe("traces", () => {
  it("one trace spans the caller, the gateway's steps, the worker and the connector's HTTP calls", async () => {
    const { h, gatewaySpans, workerSpans } = await tracedHarness();
    api.seen.length = 0;
    const response = await h.callAs(
      "jira_read",
      { ticket: "CHG-18422" },
      { headers: { traceparent: TRACEPARENT } },
    );
    expect(response.status).toBe(200);
    expect(((await response.json()) as { trace_id: string }).trace_id).toBe(TRACE_ID);

    const spans = gatewaySpans.getFinishedSpans();
    const call = named(spans, "zyx.tool_call");
    expect(call?.spanContext().traceId).toBe(TRACE_ID);
    expect(parentOf(call)).toBe(CALLER_SPAN);
    expect(call?.resource.attributes["service.name"]).toBe("zyx-gateway");
    expect(call?.attributes).toMatchObject({ "zyx.door": "rest", "zyx.tool": "jira_read" });
    const steps = ["authenticate", "parse", "limits", "approval", "decide", "handoff"];
    expect(spans.filter((s) => s !== call).map((s) => s.name)).toEqual(
      steps.map((step) => `zyx.step.${step}`),
    );
    for (const step of spans.filter((s) => s !== call)) {
      expect(step.spanContext().traceId).toBe(TRACE_ID);
      expect(parentOf(step)).toBe(idOf(call));
    }

    const inWorker = workerSpans.getFinishedSpans();
    const execute = named(inWorker, "zyx.worker.execute");
    expect(execute?.spanContext().traceId).toBe(TRACE_ID);
    expect(parentOf(execute)).toBe(idOf(call));
    expect(execute?.resource.attributes["service.name"]).toBe("zyx-worker");
    const clients = inWorker.filter((s) => s.name === "HTTP GET");
    expect(clients).toHaveLength(2);
    for (const client of clients) {
      expect(client.spanContext().traceId).toBe(TRACE_ID);
      expect(parentOf(client)).toBe(idOf(execute));
      expect(client.attributes["http.response.status_code"]).toBe(200);
    }
    // The system's API received the trace: each request names its client span as parent.
    expect(api.seen.map((headers) => headers["traceparent"])).toEqual(
      clients.map((c) => `00-${TRACE_ID}-${c.spanContext().spanId}-01`),
    );
  });

  it("marks a denied call's span with the stable error code, and starts a trace when none came", async () => {
    const { h, gatewaySpans, workerSpans } = await tracedHarness();
    const intern = { ...ENGINEER, user: "intern@zyxbank.example", groups: ["grp-ai-users"] };
    const response = await h.callAs("jira_read", { ticket: "CHG-18422" }, { as: intern });
    expect(response.status).toBe(403);
    const spans = gatewaySpans.getFinishedSpans();
    const call = named(spans, "zyx.tool_call");
    expect(call?.parentSpanContext).toBeUndefined();
    expect(call?.spanContext().traceId).toBe(
      ((await response.json()) as { trace_id: string }).trace_id,
    );
    expect(call?.status).toMatchObject({ code: 2, message: "policy_denied" });
    expect(call?.attributes["zyx.error_code"]).toBe("policy_denied");
    expect(named(spans, "zyx.step.refuse")?.attributes["zyx.error_code"]).toBe("policy_denied");
    expect(named(spans, "zyx.step.handoff")).toBeUndefined();
    expect(workerSpans.getFinishedSpans()).toEqual([]);
  });

  it("leaves requests outside a traced call alone", async () => {
    api.seen.length = 0;
    await connectorCalls();
    expect(api.seen.map((headers) => headers["traceparent"])).toEqual([undefined, undefined]);
  });
});

describe("turning tracing on", () => {
  it.each([
    [{}, false],
    [{ OTEL_TRACES_EXPORTER: "otlp" }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" }, true],
    [{ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, false],
    [{ OTEL_SDK_DISABLED: "true", OTEL_TRACES_EXPORTER: "otlp" }, false],
  ])("OTEL variables %j: %s", (env, wanted) => {
    expect(tracingWanted(env)).toBe(wanted);
  });
});
