// The agent worker: runs one tool call that the gateway allowed, and nothing else.
//
// POST /v1/execute/:tool (the wire contract: common/worker-contract.ts)
//   Authorization: Bearer <call token>
//   { "arguments": {...}, "decision_id": "...", "trace_id": "..." }
// -> 200 { "result": ..., "compensation"?: ..., "evidence": { "untrusted": true, "redactions",
//          "injection": { "suspected", "indicators" } } }
// -> 4xx/5xx application/problem+json (RFC 9457) { type, title, status, detail, code, issues? },
//    the code from the worker's closed table (WORKER_ERRORS); logged; nothing runs.
//
// Before anything runs: the body is bounded (413) and declared application/json (415
// request_media_type_unsupported: common/json-media-type.ts), the call token verifies against
// the body's arguments (signature, expiry, digest, replay: agent/src/call-token.ts), names the
// tool of the path and the decision of the body, and the arguments pass the tool's schema
// (common/tool-arguments.ts) again: the worker does not trust the gateway to have checked them.
//
// The gateway's deadline: a token with `timeout_ms` (how long the gateway waits) runs the call
// under a deadline a margin short of it (deadlineBudgetMs), which every connector's HTTP layer
// honours (agent/src/connectors/deadline.ts): nothing runs on after the gateway has given up.
// A call whose deadline passed before it started is refused (deadline_exceeded, nothing ran); a
// read stopped by it is deadline_exceeded too; a write stopped by it, or one that failed in any
// way that does not prove it was not applied (connectors/network.ts writeNotApplied: a timeout,
// a 5xx other than 503, a connection lost once sent, an unreadable answer), is
// tool_outcome_unknown: it may have taken effect, and the gateway records it so (a post-hoc
// review stays open for a person to check).
//
// Every result passes the output guard before it leaves the worker: secrets are redacted (and
// counted, for the audit), retrieved text is scanned for prompt-injection indicators, and the
// whole is returned marked as untrusted evidence; the gateway taints the session on a hit.
//
// What the agent writes is validated before it is written (the walkthrough's validate_output): a
// write tool's arguments (a Jira comment, a Slack message, a security-group rule's description)
// holding a secret (common/secrets.ts; references such as `var.db_password` kept) are refused,
// output_rejected (422); nothing is written.
import { Hono, type Context } from "hono";
import { limitRequestBody } from "../../common/body-limit.ts";
import { jsonBodyRefusal } from "../../common/json-media-type.ts";
import { redactSecrets } from "../../common/secrets.ts";
import type { Log } from "../../common/service.ts";
import {
  parseToolArguments,
  type ArgumentIssue,
  type ToolCall,
} from "../../common/tool-arguments.ts";
import {
  PROBLEM_CONTENT_TYPE,
  WORKER_ERRORS,
  WORKER_MAX_BODY_BYTES,
  WorkerRequest,
  workerProblem,
  type WorkerErrorCode,
  type WorkerSuccess,
} from "../../common/worker-contract.ts";
import { loadCatalog, writeToolNames } from "../../common/catalog.ts";
import { runWithDeadline } from "./connectors/deadline.ts";
import { writeNotApplied } from "./connectors/network.ts";
import { ConnectorError } from "./connectors/port.ts";
import { guardOutput } from "./guard/output-guard.ts";
import type { ToolOutput } from "./tools.ts";
import { isCallTokenError, type CallTokenVerifier, type VerifiedCall } from "./call-token.ts";
import { AdminRefusal, type AdminTokenVerifier, type RevocableConnectors } from "./admin.ts";
import { tracedCall } from "./tracing.ts";
import { scraperCheck, type WorkerMetrics } from "./metrics.ts";
import type { Tracer } from "@opentelemetry/api";

export const MAX_BODY_BYTES = WORKER_MAX_BODY_BYTES;

export type Execute = (call: ToolCall, token: VerifiedCall) => ToolOutput | Promise<ToolOutput>;

export interface WorkerAppOptions {
  verifier: CallTokenVerifier;
  /** The kill switch's reach (agent/src/admin.ts): absent, no admin route. */
  admin?: { verifier: AdminTokenVerifier; connectors: RevocableConnectors };
  /** Runs an allowed, verified call (agent/src/tools.ts over the connectors). */
  execute: Execute;
  /** The process's logger (common/service.ts): refusals and failures, never tokens or arguments. */
  log: Log;
  /** OpenTelemetry spans for each call and its connectors' HTTP requests (agent/src/tracing.ts). */
  tracer?: Tracer | undefined;
  /** Prometheus metrics, served on GET /metrics to the scraper's bearer token (agent/src/metrics.ts). */
  metrics?: { metrics: WorkerMetrics; token: string } | undefined;
  /** The write tools (default: the catalog's `write: true` tools). */
  writes?: ReadonlySet<string>;
}

/**
 * The time a call may run, in ms, given the gateway's `timeoutMs` and what has already passed
 * since the request arrived: the gateway's wait less a margin for the answer's way back (a
 * tenth of it, at least 50 ms and at most 1 s). `waitLeftMs`, what the token's iat leaves of
 * that wait (VerifiedCall.waitLeftMs), caps it: a request that reached the worker late (held
 * in a queue, or replayed) does not start a fresh wait. Zero or less: too late to start.
 */
export function deadlineBudgetMs(
  timeoutMs: number,
  elapsedMs: number,
  waitLeftMs = timeoutMs,
): number {
  const margin = Math.min(1_000, Math.max(50, timeoutMs / 10));
  return Math.min(timeoutMs, waitLeftMs) - margin - elapsedMs;
}

/** What the logs say about a call; grows as the call is read. */
interface CallContext {
  tool?: string;
  decisionId?: string;
  traceId?: string;
}

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

class Refusal extends Error {
  readonly code: WorkerErrorCode;
  readonly issues: ArgumentIssue[] | undefined;
  /** The connector's code, for tool failures (returned: a code, never a message). */
  connectorCode: string | undefined = undefined;
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

function problemResponse(c: Context, refusal: Refusal): Response {
  const problem = workerProblem(
    refusal.code,
    refusal.message,
    refusal.issues,
    refusal.connectorCode,
  );
  if (problem.status === 401) c.header("WWW-Authenticate", 'Bearer error="invalid_token"');
  return c.body(JSON.stringify(problem), WORKER_ERRORS[refusal.code].status, {
    "content-type": PROBLEM_CONTENT_TYPE,
  });
}

function logRefusal(log: Log, refusal: Refusal, context: CallContext): void {
  const failed = WORKER_ERRORS[refusal.code].status >= 500;
  log(
    failed ? "error" : "warn",
    failed && refusal.code !== "replay_cache_full" ? "call_failed" : "call_refused",
    {
      code: refusal.code,
      detail:
        refusal.detail === undefined ? refusal.message : `${refusal.message}: ${refusal.detail}`,
      ...(context.tool === undefined ? {} : { tool: context.tool }),
      ...(context.decisionId === undefined ? {} : { decision_id: context.decisionId }),
      ...(context.traceId === undefined ? {} : { trace_id: context.traceId }),
    },
  );
}

function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === "") {
    throw new Refusal("call_token_missing", "no Authorization: Bearer call token");
  }
  const token = BEARER.exec(authorization)?.[1];
  if (token === undefined) {
    throw new Refusal("call_token_invalid", "Authorization is not a Bearer token");
  }
  return token;
}

function requestBody(text: string): WorkerRequest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Refusal("request_malformed", "request body is not JSON");
  }
  const body = WorkerRequest.safeParse(json);
  if (!body.success) {
    throw new Refusal(
      "request_malformed",
      "body must be { arguments, decision_id, trace_id? } and nothing else",
    );
  }
  return body.data;
}

/** Verifies the token against the body and the path; the call to run, or a Refusal. */
async function admit(
  verifier: CallTokenVerifier,
  token: string,
  body: WorkerRequest,
  pathTool: string,
  context: CallContext,
): Promise<{ call: ToolCall; verified: VerifiedCall }> {
  let verified: VerifiedCall;
  try {
    verified = await verifier.verify(token, body.arguments);
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
  if (verified.decisionId !== body.decision_id) {
    throw new Refusal("call_token_decision_mismatch", "call token was issued for another decision");
  }
  const parsed = parseToolArguments(pathTool, body.arguments);
  if (!parsed.ok) {
    // tool_not_found cannot happen here (the verified claim is a catalog tool), but the worker
    // refuses it all the same.
    throw parsed.reason === "arguments_invalid"
      ? new Refusal("arguments_invalid", "arguments do not match the tool", parsed.issues)
      : new Refusal("call_token_tool_mismatch", `unknown tool ${pathTool}`);
  }
  return { call: parsed, verified };
}

/** How long the call may run (undefined: no deadline), or a Refusal when it is already too late. */
function budgetOf(verified: VerifiedCall, receivedAt: number): number | undefined {
  if (verified.timeoutMs === undefined) return undefined;
  const budget = deadlineBudgetMs(
    verified.timeoutMs,
    performance.now() - receivedAt,
    verified.waitLeftMs,
  );
  if (budget <= 0) {
    throw new Refusal("deadline_exceeded", "the gateway's deadline passed before the call started");
  }
  return budget;
}

/** What the worker's log says of a failure; never returned (a connector error may quote its system). */
function logDetail(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The Refusal for a tool that threw: failed, stopped at the deadline, or of unknown effect. A
 * write is "failed" only when it certainly did not take effect (writeNotApplied); any other
 * failure of a write is tool_outcome_unknown.
 */
function failureOf(call: ToolCall, error: unknown, deadlinePassed: boolean, write: boolean) {
  const refusal = classifyFailure(call, error, deadlinePassed, write);
  if (error instanceof ConnectorError) refusal.connectorCode = error.code;
  return refusal;
}

function classifyFailure(
  call: ToolCall,
  error: unknown,
  deadlinePassed: boolean,
  write: boolean,
): Refusal {
  const detail = logDetail(error);
  const why = error instanceof ConnectorError ? ` (${error.connector}: ${error.code})` : "";
  if (write && (deadlinePassed || !writeNotApplied(error))) {
    return new Refusal(
      "tool_outcome_unknown",
      `tool ${call.tool} ${deadlinePassed ? "was stopped at the gateway's deadline" : "failed after its request may have reached its system"}${why}: whether it took effect is unknown`,
      undefined,
      detail,
    );
  }
  if (deadlinePassed) {
    return new Refusal(
      "deadline_exceeded",
      `tool ${call.tool} did not finish before the gateway's deadline${why}`,
      undefined,
      detail,
    );
  }
  return new Refusal("tool_failed", `tool ${call.tool} failed${why}`, undefined, detail);
}

/** Whether any string (value or key) under `value` holds a secret. */
function holdsSecret(value: unknown): boolean {
  if (typeof value === "string")
    return redactSecrets(value, { keepReferences: true }).redactions > 0;
  if (Array.isArray(value)) return value.some(holdsSecret);
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).some(([key, item]) => holdsSecret(key) || holdsSecret(item));
  }
  return false;
}

/** Runs the call (under the gateway's deadline, when it has one) and passes its output through the guard. */
async function run(
  execute: Execute,
  call: ToolCall,
  verified: VerifiedCall,
  budgetMs: number | undefined,
  write: boolean,
): Promise<WorkerSuccess> {
  // A write's arguments are the agent's own output to a system people read (a comment, a
  // message, a rule's description): validated before it runs (the catalog says which are writes).
  if (write && holdsSecret(call.arguments)) {
    throw new Refusal("output_rejected", `tool ${call.tool}: its text holds a secret; not written`);
  }
  let output: ToolOutput;
  let deadline: AbortSignal | undefined;
  try {
    output =
      budgetMs === undefined
        ? await execute(call, verified)
        : await runWithDeadline(budgetMs, async (signal) => {
            deadline = signal;
            return await execute(call, verified);
          });
  } catch (error) {
    throw failureOf(call, error, deadline?.aborted === true, write);
  }
  let guarded: ReturnType<typeof guardOutput>;
  try {
    guarded = guardOutput({
      result: output.result ?? null,
      ...(output.compensation === undefined ? {} : { compensation: output.compensation }),
    });
  } catch (error) {
    // Nothing unguarded leaves; a write has run all the same, and a person must know.
    const detail = logDetail(error);
    throw write
      ? new Refusal(
          "tool_outcome_unknown",
          `tool ${call.tool} ran, but its result could not pass the output guard: it took effect`,
          undefined,
          detail,
        )
      : new Refusal(
          "tool_failed",
          `tool ${call.tool}: its result could not pass the output guard`,
          undefined,
          detail,
        );
  }
  return {
    ...(guarded.value as Omit<WorkerSuccess, "evidence">),
    evidence: { untrusted: true, redactions: guarded.redactions, injection: guarded.injection },
  };
}

/** Times one call; the tool label is the admitted call's ("unknown" before admission). */
function callMeasure(metrics: WorkerMetrics | undefined) {
  return () => {
    const started = performance.now();
    let tool = "unknown";
    return {
      admitted(name: string) {
        tool = name;
      },
      ended(outcome: string) {
        metrics?.call(tool, outcome, (performance.now() - started) / 1000);
      },
    };
  };
}

/** GET /metrics for the platform's scraper only (its bearer token). */
function mountMetrics(app: Hono, options: { metrics: WorkerMetrics; token: string }): void {
  const check = scraperCheck(options.token);
  app.get("/metrics", async (c) => {
    const verdict = check(c.req.header("authorization"));
    if (verdict !== "ok") {
      const refusal =
        verdict === "missing"
          ? new Refusal("metrics_token_missing", "the metrics scraper's bearer token is required")
          : new Refusal("metrics_token_invalid", "not the metrics scraper's token");
      return problemResponse(c, refusal);
    }
    const { contentType, body } = await options.metrics.render();
    return c.body(body, 200, { "content-type": contentType, "cache-control": "no-store" });
  });
}

export function createWorkerApp(options: WorkerAppOptions): Hono {
  const { verifier, execute, log, tracer } = options;
  const writes = options.writes ?? writeToolNames(loadCatalog());
  const app = new Hono();
  const measure = callMeasure(options.metrics?.metrics);

  function refuse(c: Context, refusal: Refusal, context: CallContext): Response {
    logRefusal(log, refusal, context);
    return problemResponse(c, refusal);
  }

  // Not ready while calls would be refused as signed before this process started.
  app.get("/healthz", (c) =>
    verifier.ready ? c.json({ status: "ok" }) : c.json({ status: "starting" }, 503),
  );

  app.post(
    "/v1/execute/:tool",
    limitRequestBody({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        refuse(c, new Refusal("request_body_too_large", "request body is too large"), {
          tool: c.req.param("tool") ?? "",
        }),
    }),
    async (c) => {
      const receivedAt = performance.now();
      const pathTool = c.req.param("tool");
      const context: CallContext = { tool: pathTool };
      const measured = measure();
      try {
        // Only a body declared application/json is read (the gateway sends nothing else).
        const mediaRefusal = jsonBodyRefusal(c);
        if (mediaRefusal !== undefined) {
          throw new Refusal("request_media_type_unsupported", mediaRefusal);
        }
        const token = bearerToken(c.req.header("Authorization"));
        const body = requestBody(await c.req.text());
        context.decisionId = body.decision_id;
        if (body.trace_id !== undefined) context.traceId = body.trace_id;
        const { call, verified } = await admit(verifier, token, body, pathTool, context);
        const traceparent = c.req.header("traceparent");
        measured.admitted(call.tool);
        const budget = budgetOf(verified, receivedAt);
        const done = await tracedCall(tracer, { tool: call.tool, traceparent }, () =>
          run(execute, call, verified, budget, writes.has(call.tool)),
        );
        measured.ended("executed");
        return c.json(done, 200);
      } catch (error) {
        measured.ended(error instanceof Refusal ? error.code : "internal_error");
        if (error instanceof Refusal) return refuse(c, error, context);
        throw error;
      }
    },
  );

  if (options.admin !== undefined) mountAdmin(app, options.admin, log, refuse);
  if (options.metrics !== undefined) mountMetrics(app, options.metrics);

  app.notFound((c) =>
    refuse(c, new Refusal("route_not_found", `no route ${c.req.method} ${c.req.path}`), {}),
  );

  app.onError((error, c) => {
    const detail = error instanceof Error ? error.message : String(error);
    log("error", "call_failed", { code: "internal_error", detail });
    return problemResponse(c, new Refusal("internal_error", "internal error"));
  });

  return app;
}

/** POST /v1/admin/connectors/:connector/revoke (the kill switch's reach). */
function mountAdmin(
  app: Hono,
  admin: NonNullable<WorkerAppOptions["admin"]>,
  log: Log,
  refuse: (c: Context, refusal: Refusal, context: CallContext) => Response,
): void {
  app.post("/v1/admin/connectors/:connector/revoke", async (c) => {
    const connector = c.req.param("connector");
    try {
      const header = c.req.header("Authorization");
      const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
      const claims = await admin.verifier.verify(token);
      if (claims.connector !== connector) {
        throw new Refusal("call_token_invalid", "admin token is for another connector");
      }
      let live: boolean;
      try {
        live = admin.connectors.revoke(connector);
      } catch {
        throw new Refusal("route_not_found", `no connector ${connector}`);
      }
      log("warn", "connector_revoked", { connector, by: claims.sub, already: !live });
      return c.json({ connector, revoked: true, already: !live }, 200);
    } catch (error) {
      if (error instanceof AdminRefusal)
        return refuse(c, new Refusal(error.code, error.message), {});
      if (error instanceof Refusal) return refuse(c, error, {});
      throw error;
    }
  });
}
