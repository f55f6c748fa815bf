// The signed internal call to the agent worker, over kept-alive connections. Every failure is a
// GatewayError: the worker answered with an error (worker_failed), could not be reached
// (worker_unavailable), or took too long (worker_timeout). The request, the answer and the
// worker's problem documents are the shared wire contract (common/worker-contract.ts).
//
// Bounded: the whole exchange (connect, headers, body) has one deadline, `timeoutMs`, so a
// worker that trickles its answer cannot hold a call open. The call token carries it
// (timeout_ms): the worker stops the call's connector requests a margin before it. An answer
// over `maxResponseBytes` is refused (worker_failed) as soon as its size is known, never
// buffered whole: on its declared Content-Length before a byte of the body is read, else by
// undici's maxResponseSize as soon as the bytes received pass the bound (undici itself does not
// judge the declared length).
import type { ToolName } from "../../../common/catalog.ts";
import {
  WorkerCompensation,
  WorkerEvidence,
  WorkerProblem,
  executePath,
  type WorkerRequest,
} from "../../../common/worker-contract.ts";
import { GatewayError } from "../lib/errors.ts";
import { Agent, request, type Dispatcher } from "undici";
import type { CallTokenSigner } from "./call-token.ts";

export type { WorkerEvidence };

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
  evidence?: WorkerEvidence;
  compensation?: Record<string, unknown>;
}

export interface WorkerClient {
  execute(call: WorkerCall): Promise<WorkerResult>;
  /** True when the worker answers its health check. */
  ready(): Promise<boolean>;
  /** Closes kept-alive connections (graceful shutdown). */
  close(): Promise<void>;
}

export interface HttpWorkerClientOptions {
  baseUrl: URL;
  timeoutMs: number;
  signer: CallTokenSigner;
  /** Kept-alive connections to the worker (default 64). */
  connections?: number;
  /** Largest answer read from the worker (default 8 MiB). */
  maxResponseBytes?: number;
}

export const DEFAULT_MAX_WORKER_RESPONSE_BYTES = 8 * 1024 * 1024;

function isAbort(thrown: unknown): boolean {
  const name = thrown instanceof Error ? thrown.name : "";
  return (
    name === "AbortError" || name === "TimeoutError" || errorCode(thrown) === "UND_ERR_ABORTED"
  );
}

/** undici's refusal of an answer whose bytes received pass maxResponseSize. */
function exceedsMaxSize(thrown: unknown): boolean {
  return errorCode(thrown) === "UND_ERR_RES_EXCEEDED_MAX_SIZE";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const TIMEOUT_CODES = new Set([
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CONNECT_TIMEOUT",
]);

function errorCode(thrown: unknown): string | undefined {
  return typeof thrown === "object" &&
    thrown !== null &&
    "code" in thrown &&
    typeof thrown.code === "string"
    ? thrown.code
    : undefined;
}

export function createHttpWorkerClient(options: HttpWorkerClientOptions): WorkerClient {
  const { baseUrl, timeoutMs, signer } = options;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_WORKER_RESPONSE_BYTES;
  if (!Number.isInteger(maxResponseBytes) || maxResponseBytes <= 0)
    throw new TypeError("maxResponseBytes must be a positive integer");
  if (!(baseUrl instanceof URL)) throw new TypeError("baseUrl must be a URL");
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new TypeError("timeoutMs must be a positive integer");
  // undici's request API directly: the same client as fetch, without the WHATWG stream layers.
  const dispatcher = new Agent({
    connections: options.connections ?? 64,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: Math.min(timeoutMs, 5_000),
    maxResponseSize: maxResponseBytes,
  });
  const timeout = () =>
    new GatewayError("worker_timeout", `the agent worker did not answer within ${timeoutMs} ms`);
  const tooLarge = () =>
    new GatewayError(
      "worker_failed",
      `the agent worker's answer is larger than ${maxResponseBytes} bytes`,
    );

  return {
    async execute(call) {
      const traceId = call.traceparent.split("-")[1];
      const token = await signer.sign({
        tool: call.tool,
        argumentsDigest: call.argumentsDigest,
        decisionId: call.decisionId,
        user: call.user,
        agent: call.agent,
        traceId: traceId ?? "",
        // The worker stops the call before the gateway stops waiting for it.
        timeoutMs,
      });
      let response: Dispatcher.ResponseData;
      // One deadline for the whole exchange: headers and body together.
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        const payload: WorkerRequest = {
          arguments: call.arguments,
          decision_id: call.decisionId,
          ...(traceId === undefined ? {} : { trace_id: traceId }),
        };
        response = await request(new URL(executePath(call.tool), baseUrl), {
          method: "POST",
          dispatcher,
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            traceparent: call.traceparent,
          },
          body: JSON.stringify(payload),
          signal,
        });
      } catch (thrown) {
        if (TIMEOUT_CODES.has(errorCode(thrown) ?? "") || isAbort(thrown)) throw timeout();
        throw new GatewayError("worker_unavailable", "the agent worker cannot be reached", {
          cause: thrown,
        });
      }
      if (Number(response.headers["content-length"] ?? "0") > maxResponseBytes) {
        // Discard unread; the stream's own abort error has nowhere else to go.
        response.body.on("error", () => undefined).destroy();
        throw tooLarge();
      }
      let body: unknown;
      try {
        body = await response.body.json();
      } catch (thrown) {
        if (exceedsMaxSize(thrown)) throw tooLarge();
        if (TIMEOUT_CODES.has(errorCode(thrown) ?? "") || isAbort(thrown)) throw timeout();
        throw new GatewayError(
          "worker_failed",
          `the agent worker answered ${response.statusCode} without JSON`,
        );
      }
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      if (!ok || !isRecord(body) || !("result" in body)) {
        // The worker's refusals are RFC 9457 problem documents with its own code.
        const problem = WorkerProblem.safeParse(body);
        const code = problem.success ? problem.data.code : "unknown";
        const connector = problem.success ? problem.data.connector_code : undefined;
        throw new GatewayError(
          "worker_failed",
          `the agent worker refused or failed the call (${response.statusCode} ${code})`,
          {
            extensions: {
              worker_status: response.statusCode,
              worker_code: code,
              ...(connector === undefined ? {} : { worker_connector_code: connector }),
            },
          },
        );
      }
      const evidence = WorkerEvidence.safeParse(body["evidence"]);
      if (!evidence.success) {
        // Without the guard's verdict the result cannot be trusted to have been scanned.
        throw new GatewayError(
          "worker_failed",
          "the agent worker answered without its output guard's verdict",
        );
      }
      const compensation = WorkerCompensation.safeParse(body["compensation"]);
      return {
        result: body["result"],
        evidence: evidence.data,
        ...(compensation.success ? { compensation: compensation.data } : {}),
      };
    },
    async ready() {
      try {
        const response = await request(new URL("healthz", baseUrl), {
          dispatcher,
          headersTimeout: 1_000,
          bodyTimeout: 1_000,
        });
        await response.body.dump();
        return response.statusCode === 200;
      } catch {
        return false;
      }
    },
    close: () => dispatcher.close(),
  };
}
