// The worker's own Prometheus metrics (prom-client, a registry of its own) and its GET /metrics,
// served on the same bearer-token rule as the gateway's: only to the platform's scraper holding
// WORKER_METRICS_TOKEN (compared in constant time); no token configured, no route (404).
//
// Invariants: labels are bounded: the tool is a catalog tool the call token named ("unknown"
// before a call is admitted), the outcome "executed" or a code of the worker's closed table; a
// key-set reload's outcome "loaded" or "refused".
// Nothing a caller sends becomes a label.
import { createHash, timingSafeEqual } from "node:crypto";
import { Counter, Histogram, Registry } from "prom-client";

export interface WorkerMetrics {
  readonly registry: Registry;
  /** One call ended: executed, or refused/failed with a worker error code. */
  call(tool: string, outcome: string, seconds: number): void;
  /** The gateway key set was read again: a new set taken, or the file refused (old set kept). */
  keySetReload(outcome: "loaded" | "refused"): void;
  render(): Promise<{ contentType: string; body: string }>;
}

export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  const registers = [registry];
  const calls = new Counter({
    name: "zyx_worker_calls_total",
    help: "Calls the worker received, by tool and outcome (executed, or the worker error code).",
    labelNames: ["tool", "outcome"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "zyx_worker_call_duration_seconds",
    help: "From the call's arrival to its answer, by tool and outcome (connector time included).",
    labelNames: ["tool", "outcome"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const reloads = new Counter({
    name: "zyx_worker_gateway_keys_reloads_total",
    help: "Re-reads of the gateway's key set that took a new set (loaded) or kept the old (refused).",
    labelNames: ["outcome"] as const,
    registers,
  });
  return {
    registry,
    call(tool, outcome, seconds) {
      calls.inc({ tool, outcome });
      duration.observe({ tool, outcome }, seconds);
    },
    keySetReload(outcome) {
      reloads.inc({ outcome });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether `authorization` carries the scraper's token: "ok", "missing" or "invalid". */
export function scraperCheck(
  token: string,
): (authorization: string | undefined) => "ok" | "missing" | "invalid" {
  if (token.length < 16) throw new TypeError("the worker's metrics token needs 16 characters");
  const expected = digest(token);
  return (authorization) => {
    const presented = /^Bearer (\S+)$/i.exec(authorization ?? "")?.[1];
    if (presented === undefined) return "missing";
    return timingSafeEqual(digest(presented), expected) ? "ok" : "invalid";
  };
}
