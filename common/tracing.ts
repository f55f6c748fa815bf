// OpenTelemetry tracing for the project's processes (gateway and worker), off by default.
//
// On when the standard variables ask for it: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); never when
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. The OTLP/HTTP exporter then reads the
// rest itself (endpoint, headers, timeout, OTEL_BSP_* batching), and OTEL_SERVICE_NAME names
// the service. Spans go through a batch processor: exporting never blocks a call, and an
// unreachable collector only loses spans (the exporter logs it), never a decision.
//
// Invariant: no global state. The provider is not registered globally; parents are passed as
// explicit contexts (W3C traceparent in, traceparent out), so two gateways in one test process
// never mix spans.
import { ROOT_CONTEXT, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  TracerProvider,
  type SpanExporter,
} from "@opentelemetry/sdk-trace";

export interface Tracing {
  tracer: Tracer;
  /** Exports what is left (at shutdown). */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

const headerGetter = {
  keys: (carrier: Record<string, string | undefined>) => Object.keys(carrier),
  get: (carrier: Record<string, string | undefined>, key: string) => carrier[key],
};

/** The parent context a W3C traceparent names (the root context when absent or invalid). */
export function parentFrom(traceparent: string | undefined): Context {
  if (traceparent === undefined) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent: traceparent.trim() }, headerGetter);
}

/** The traceparent that makes `span` the parent of the next hop. */
export function traceparentOf(span: Span): string {
  const carrier: Record<string, string> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, {
    set: (c: Record<string, string>, key: string, value: string) => {
      c[key] = value;
    },
  });
  return carrier["traceparent"] ?? "";
}

/** Tracing over `exporter`: Simple (export at span end, for tests) or Batch (production). */
export function createTracing(options: {
  serviceName: string;
  exporter: SpanExporter;
  batch?: boolean;
}): Tracing {
  const { exporter } = options;
  const processor =
    options.batch === true
      ? new BatchSpanProcessor({ exporter })
      : new SimpleSpanProcessor({ exporter });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: [processor],
  });
  return {
    tracer: provider.getTracer("zyx-agent-gateway"),
    shutdown: () => provider.shutdown(),
  };
}

/** Whether the OTEL_* variables turn tracing on (see the header). */
export function tracingWanted(env: Record<string, string | undefined>): boolean {
  if (env["OTEL_SDK_DISABLED"]?.trim().toLowerCase() === "true") return false;
  const exporters = (env["OTEL_TRACES_EXPORTER"] ?? "").split(",").map((e) => e.trim());
  if (exporters.includes("none")) return false;
  if (exporters.includes("otlp")) return true;
  return (
    (env["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "") !== "" ||
    (env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? "") !== ""
  );
}

/** Tracing to OTLP/HTTP as the OTEL_* variables say, or undefined when they do not ask for it. */
export function tracingFromEnv(
  env: Record<string, string | undefined>,
  defaultServiceName: string,
): Tracing | undefined {
  if (!tracingWanted(env)) return undefined;
  return createTracing({
    serviceName: env["OTEL_SERVICE_NAME"] ?? defaultServiceName,
    exporter: new OTLPTraceExporter(),
    batch: true,
  });
}
