// The signed internal call to the agent worker. Every failure is a GatewayError: the worker
// answered with an error (worker_failed), could not be reached (worker_unavailable), or took
// too long (worker_timeout).
import type { ToolName } from "../../../common/catalog.ts";
import { GatewayError } from "../lib/errors.ts";
import type { CallTokenSigner } from "./call-token.ts";

export interface WorkerCall {
  tool: ToolName;
  arguments: Readonly<Record<string, unknown>>;
  argumentsDigest: string;
  decisionId: string;
  traceparent: string;
  user: string;
  agent: string;
}

export interface WorkerResult {
  result: unknown;
}

export interface WorkerClient {
  execute(call: WorkerCall): Promise<WorkerResult>;
  /** True when the worker answers its health check. */
  ready(): Promise<boolean>;
}

export interface HttpWorkerClientOptions {
  baseUrl: URL;
  timeoutMs: number;
  signer: CallTokenSigner;
  fetch?: typeof fetch;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function createHttpWorkerClient(options: HttpWorkerClientOptions): WorkerClient {
  const { baseUrl, timeoutMs, signer } = options;
  if (!(baseUrl instanceof URL)) throw new TypeError("baseUrl must be a URL");
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new TypeError("timeoutMs must be a positive integer");
  const doFetch = options.fetch ?? fetch;

  return {
    async execute(call) {
      const token = await signer.sign({
        tool: call.tool,
        argumentsDigest: call.argumentsDigest,
        decisionId: call.decisionId,
        user: call.user,
        agent: call.agent,
        traceId: call.traceparent.split("-")[1] ?? "",
      });
      let response: Response;
      try {
        response = await doFetch(new URL(`v1/execute/${encodeURIComponent(call.tool)}`, baseUrl), {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            traceparent: call.traceparent,
          },
          body: JSON.stringify({
            arguments: call.arguments,
            decision_id: call.decisionId,
            trace_id: call.traceparent.split("-")[1],
          }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (thrown) {
        if (thrown instanceof DOMException && thrown.name === "TimeoutError") {
          throw new GatewayError(
            "worker_timeout",
            `the agent worker did not answer within ${timeoutMs} ms`,
          );
        }
        throw new GatewayError("worker_unavailable", "the agent worker cannot be reached", {
          cause: thrown,
        });
      }
      let body: unknown;
      try {
        body = await response.json();
      } catch (thrown) {
        if (thrown instanceof DOMException && thrown.name === "TimeoutError") {
          throw new GatewayError(
            "worker_timeout",
            `the agent worker did not answer within ${timeoutMs} ms`,
          );
        }
        throw new GatewayError(
          "worker_failed",
          `the agent worker answered ${response.status} without JSON`,
        );
      }
      if (!response.ok || !isRecord(body) || !("result" in body)) {
        const error = isRecord(body) && isRecord(body["error"]) ? body["error"] : {};
        const code = typeof error["code"] === "string" ? error["code"] : "unknown";
        throw new GatewayError(
          "worker_failed",
          `the agent worker refused or failed the call (${response.status} ${code})`,
          {
            extensions: { worker_status: response.status, worker_code: code },
          },
        );
      }
      return { result: body["result"] };
    },
    async ready() {
      try {
        const response = await doFetch(new URL("healthz", baseUrl), {
          signal: AbortSignal.timeout(1_000),
        });
        await response.body?.cancel();
        return response.ok;
      } catch {
        return false;
      }
    },
  };
}
