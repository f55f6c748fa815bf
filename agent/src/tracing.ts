// The worker's spans: one SERVER span per executed call ("zyx.worker.execute", child of the
// gateway's traceparent on the hand-off), and one CLIENT span per HTTP request a connector makes
// while running it, whose traceparent is added to that request: the trace runs gateway → worker
// → the system's API. Connectors are not touched: the requests are seen on Node's diagnostics
// channels (undici for fetch, as Octokit and the Atlassian client use; node:http for the AWS SDK
// and Slack's client), and the running call is found through an AsyncLocalStorage.
//
// Invariants: only requests made inside a traced call get a header or a span; a request that
// already carries a traceparent keeps it; a failing hook never fails a request (each is guarded).
// The channels are subscribed once per process, whatever the number of tracers.
import { AsyncLocalStorage } from "node:async_hooks";
import { subscribe } from "node:diagnostics_channel";
import type { ClientRequest, IncomingMessage } from "node:http";
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import { parentFrom, traceparentOf } from "../../common/tracing.ts";

interface Running {
  tracer: Tracer;
  span: Span;
}

const running = new AsyncLocalStorage<Running>();
const outbound = new WeakMap<object, Span>();
let subscribed = false;

/** A channel's message is typed by the hook that reads it (the channels' documented shapes). */
function guarded(hook: (message: never) => void): (message: unknown) => void {
  return (message) => {
    try {
      hook(message as never);
    } catch {
      // tracing never fails a connector's request
    }
  };
}

function clientSpan(method: string, origin: string): Span | undefined {
  const call = running.getStore();
  if (call === undefined) return undefined;
  return call.tracer.startSpan(
    `HTTP ${method}`,
    {
      kind: SpanKind.CLIENT,
      attributes: { "http.request.method": method, "server.address": origin },
    },
    trace.setSpan(ROOT_CONTEXT, call.span),
  );
}

function ended(request: object, status: number | undefined, error?: unknown): void {
  const span = outbound.get(request);
  if (span === undefined) return;
  outbound.delete(request);
  if (status !== undefined) span.setAttribute("http.response.status_code", status);
  if (error !== undefined || (status !== undefined && status >= 500)) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : `status ${String(status)}`,
    });
  }
  span.end();
}

interface UndiciRequest {
  method: string;
  origin: string;
  headers: string | string[];
  addHeader(name: string, value: string): void;
}

function subscribeOnce(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe(
    "undici:request:create",
    guarded(({ request }: { request: UndiciRequest }) => {
      const headers = Array.isArray(request.headers) ? request.headers.join("\n") : request.headers;
      if (/(^|\n|\r)traceparent:?/i.test(headers)) return;
      const span = clientSpan(request.method, request.origin);
      if (span === undefined) return;
      outbound.set(request, span);
      request.addHeader("traceparent", traceparentOf(span));
    }),
  );
  subscribe(
    "undici:request:headers",
    guarded(({ request, response }: { request: object; response: { statusCode: number } }) => {
      ended(request, response.statusCode);
    }),
  );
  subscribe(
    "undici:request:error",
    guarded(({ request, error }: { request: object; error: unknown }) => {
      ended(request, undefined, error);
    }),
  );
  subscribe(
    "http.client.request.created",
    guarded(({ request }: { request: ClientRequest }) => {
      if (request.hasHeader("traceparent")) return;
      const span = clientSpan(request.method, request.host);
      if (span === undefined) return;
      outbound.set(request, span);
      request.setHeader("traceparent", traceparentOf(span));
    }),
  );
  subscribe(
    "http.client.response.finish",
    guarded(({ request, response }: { request: object; response: IncomingMessage }) => {
      ended(request, response.statusCode);
    }),
  );
  subscribe(
    "http.client.request.error",
    guarded(({ request, error }: { request: object; error: unknown }) => {
      ended(request, undefined, error);
    }),
  );
}

/** Runs one call inside the worker's span, its connectors' HTTP requests traced under it. */
export async function tracedCall<T>(
  tracer: Tracer | undefined,
  call: { tool: string; traceparent: string | undefined },
  run: () => Promise<T>,
): Promise<T> {
  if (tracer === undefined) return run();
  subscribeOnce();
  const span = tracer.startSpan(
    "zyx.worker.execute",
    { kind: SpanKind.SERVER, attributes: { "zyx.tool": call.tool.slice(0, 64) } },
    parentFrom(call.traceparent),
  );
  try {
    return await running.run({ tracer, span }, run);
  } catch (error) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.name : "error",
    });
    throw error;
  } finally {
    span.end();
  }
}
