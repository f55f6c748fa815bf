// The agent worker: runs one tool call that the gateway allowed, and nothing else.
//
// POST /v1/execute/:tool
//   Authorization: Bearer <call token>
//   { "arguments": {...}, "decision_id": "...", "trace_id": "..." }
// -> 200 { "result": ..., "compensation"?: ..., "evidence": { "untrusted": true, "redactions",
//          "injection": { "suspected", "indicators" } } }
// -> 4xx/5xx { "error": { "code", "message" } }, logged to stderr; nothing runs.
//
// Before anything runs: the call token verifies against the body's arguments (signature,
// expiry, digest, replay: agent/src/call-token.ts), names the tool of the path and the
// decision of the body, and the arguments pass the tool's schema (common/tool-arguments.ts)
// again: the worker does not trust the gateway to have checked them.
//
// Every result passes the output guard before it leaves the worker: secrets are redacted (and
// counted, for the audit), retrieved text is scanned for prompt-injection indicators, and the
// whole is returned marked as untrusted evidence; the gateway taints the session on a hit.
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import {
  parseToolArguments,
  type ArgumentIssue,
  type ToolCall,
} from "../../common/tool-arguments.ts";
import { ConnectorError } from "./connectors/port.ts";
import { guardOutput } from "./guard/output-guard.ts";
import type { ToolOutput } from "./tools.ts";
import {
  isCallTokenError,
  type CallTokenErrorCode,
  type CallTokenVerifier,
  type VerifiedCall,
} from "./call-token.ts";

/** The worker's closed set of error codes. Extend, never rename. */
export const WORKER_ERROR_STATUS = {
  call_token_missing: 401,
  call_token_invalid: 401,
  call_token_expired: 401,
  call_token_tool_mismatch: 401,
  call_token_decision_mismatch: 401,
  arguments_digest_mismatch: 400,
  call_token_replayed: 409,
  // Not the caller's fault: too many live tokens to remember. Refused, retry later.
  replay_cache_full: 503,
  request_malformed: 400,
  request_body_too_large: 413,
  arguments_invalid: 400,
  route_not_found: 404,
  tool_failed: 502,
  internal_error: 500,
} as const satisfies Record<CallTokenErrorCode, number> & Record<string, ContentfulStatusCode>;

export type WorkerErrorCode = keyof typeof WORKER_ERROR_STATUS;

export const MAX_BODY_BYTES = 256 * 1024;

export type Execute = (call: ToolCall, token: VerifiedCall) => ToolOutput | Promise<ToolOutput>;

export interface WorkerLogEntry {
  level: "warn" | "error";
  event: "call_refused" | "call_failed";
  code: WorkerErrorCode;
  message: string;
  tool?: string;
  decision_id?: string;
  trace_id?: string;
}

export interface WorkerAppOptions {
  verifier: CallTokenVerifier;
  /** Runs an allowed, verified call (agent/src/tools.ts over the connectors). */
  execute: Execute;
  /** Where refusals and failures go; defaults to one JSON line on stderr. */
  log?: (entry: WorkerLogEntry) => void;
}

const RequestBody = z.strictObject({
  arguments: z.unknown(),
  decision_id: z.string().min(1).max(256),
  trace_id: z.string().min(1).max(256).optional(),
});

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

class Refusal extends Error {
  readonly code: WorkerErrorCode;
  readonly issues: ArgumentIssue[] | undefined;
  /** Logged, never returned. */
  readonly detail: string | undefined;

  constructor(code: WorkerErrorCode, message: string, issues?: ArgumentIssue[], detail?: string) {
    super(message);
    this.name = "Refusal";
    this.code = code;
    this.issues = issues;
    this.detail = detail;
  }
}

function defaultLog(entry: WorkerLogEntry): void {
  console.error(JSON.stringify({ time: new Date().toISOString(), service: "worker", ...entry }));
}

function errorBody(code: WorkerErrorCode, message: string, issues?: ArgumentIssue[]) {
  return { error: { code, message, ...(issues === undefined ? {} : { issues }) } };
}

export function createWorkerApp(options: WorkerAppOptions): Hono {
  const { verifier } = options;
  const { execute } = options;
  const log = options.log ?? defaultLog;
  const app = new Hono();

  function refuse(
    c: Context,
    refusal: Refusal,
    context: { tool?: string; decisionId?: string; traceId?: string },
  ): Response {
    const status = WORKER_ERROR_STATUS[refusal.code];
    const failed = status >= 500;
    log({
      level: failed ? "error" : "warn",
      event: failed && refusal.code !== "replay_cache_full" ? "call_failed" : "call_refused",
      code: refusal.code,
      message:
        refusal.detail === undefined ? refusal.message : `${refusal.message}: ${refusal.detail}`,
      ...(context.tool === undefined ? {} : { tool: context.tool }),
      ...(context.decisionId === undefined ? {} : { decision_id: context.decisionId }),
      ...(context.traceId === undefined ? {} : { trace_id: context.traceId }),
    });
    if (status === 401) c.header("WWW-Authenticate", 'Bearer error="invalid_token"');
    return c.json(errorBody(refusal.code, refusal.message, refusal.issues), status);
  }

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.post(
    "/v1/execute/:tool",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        refuse(c, new Refusal("request_body_too_large", "request body is too large"), {
          tool: c.req.param("tool") ?? "",
        }),
    }),
    async (c) => {
      const pathTool = c.req.param("tool");
      const context: { tool?: string; decisionId?: string; traceId?: string } = {
        tool: pathTool,
      };
      try {
        const authorization = c.req.header("Authorization");
        if (authorization === undefined || authorization.trim() === "") {
          throw new Refusal("call_token_missing", "no Authorization: Bearer call token");
        }
        const token = BEARER.exec(authorization)?.[1];
        if (token === undefined) {
          throw new Refusal("call_token_invalid", "Authorization is not a Bearer token");
        }

        let json: unknown;
        try {
          json = JSON.parse(await c.req.text());
        } catch {
          throw new Refusal("request_malformed", "request body is not JSON");
        }
        const body = RequestBody.safeParse(json);
        if (!body.success) {
          throw new Refusal(
            "request_malformed",
            "body must be { arguments, decision_id, trace_id? } and nothing else",
          );
        }
        context.decisionId = body.data.decision_id;
        if (body.data.trace_id !== undefined) context.traceId = body.data.trace_id;

        let verified: VerifiedCall;
        try {
          verified = await verifier.verify(token, body.data.arguments);
        } catch (error) {
          if (isCallTokenError(error)) throw new Refusal(error.code, error.message);
          throw error;
        }
        if (verified.traceId !== undefined) context.traceId = verified.traceId;

        if (verified.tool !== pathTool) {
          throw new Refusal(
            "call_token_tool_mismatch",
            `call token is for ${verified.tool}, not ${pathTool}`,
          );
        }
        if (verified.decisionId !== body.data.decision_id) {
          throw new Refusal(
            "call_token_decision_mismatch",
            "call token was issued for another decision",
          );
        }

        const parsed = parseToolArguments(pathTool, body.data.arguments);
        if (!parsed.ok) {
          // tool_not_found cannot happen here (the verified claim is a catalog tool), but
          // the worker refuses it all the same.
          throw parsed.reason === "arguments_invalid"
            ? new Refusal("arguments_invalid", "arguments do not match the tool", parsed.issues)
            : new Refusal("call_token_tool_mismatch", `unknown tool ${pathTool}`);
        }
        const call = parsed;

        let output: ToolOutput;
        try {
          output = await execute(call, verified);
        } catch (error) {
          // The detail stays in the worker's log: a connector error may quote what it got.
          const detail = error instanceof Error ? error.message : String(error);
          const why = error instanceof ConnectorError ? ` (${error.connector}: ${error.code})` : "";
          throw new Refusal("tool_failed", `tool ${pathTool} failed${why}`, undefined, detail);
        }
        const guarded = guardOutput({
          result: output.result ?? null,
          ...(output.compensation === undefined ? {} : { compensation: output.compensation }),
        });
        return c.json(
          {
            ...(guarded.value as Record<string, unknown>),
            evidence: {
              untrusted: true,
              redactions: guarded.redactions,
              injection: guarded.injection,
            },
          },
          200,
        );
      } catch (error) {
        if (error instanceof Refusal) return refuse(c, error, context);
        throw error;
      }
    },
  );

  app.notFound((c) =>
    refuse(c, new Refusal("route_not_found", `no route ${c.req.method} ${c.req.path}`), {}),
  );

  app.onError((error, c) => {
    const detail = error instanceof Error ? error.message : String(error);
    log({ level: "error", event: "call_failed", code: "internal_error", message: detail });
    return c.json(errorBody("internal_error", "internal error"), 500);
  });

  return app;
}
