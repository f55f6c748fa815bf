// The HTTP contract: the zod schemas that validate every request the gateway reads, and the
// OpenAPI 3.1 document generated from those same schemas (zod-to-openapi), served at
// /openapi.json. Handlers import their schemas from here; nothing in the document is written by
// hand twice. `ROUTES` lists every route the app serves: the app's route table is tested against
// it (and the document against the union of error codes), so neither can drift.
import {
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type RouteConfig,
} from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import { TOOL_NAMES } from "../../../common/catalog.ts";
import { TOOL_ARGUMENT_SCHEMAS } from "../../../common/tool-arguments.ts";
import { KILL_SWITCH_SCOPES, scopeSlug } from "../killswitch/scopes.ts";
import { IDENTITY_LIMITS } from "../identity/types.ts";
import { ERROR_CODES } from "../lib/errors.ts";
import { REASON_CODES } from "../policy/decision.ts";

// ---------------------------------------------------------------------------------------------
// Request schemas (used by the handlers to validate)

export const SESSION_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/**
 * A REST caller's session id: not in the MCP door's "mcp:" namespace, whose ids are bound there
 * to the verified caller (a sessionless one is computable from a subject and an agent: a REST
 * caller naming it would share, and taint, another user's MCP session), nor in the gateway's own
 * "post-hoc:" one (a rejected review's compensation runs in post-hoc:<review id>).
 */
const REST_SESSION_ID = /^(?!mcp:|post-hoc:)[A-Za-z0-9._:-]{1,128}$/;

/** What the agent may say about why it calls: recorded (bounded, masked), never decided on. */
export const CallContext = z.strictObject({
  decision_trace: z.string().max(8_192).optional(),
  model: z.string().max(200).optional(),
});

/** `POST /v1/tools/{tool}`: the envelope; `arguments` is checked by the tool's own schema. */
export const ToolCallBody = z.strictObject({
  arguments: z.record(z.string(), z.unknown()),
  session_id: z
    .string()
    .regex(
      REST_SESSION_ID,
      '1 to 128 of A-Z a-z 0-9 . _ : -, not beginning "mcp:" or "post-hoc:" (the gateway\'s own)',
    ),
  /** Executes a call that humans approved: the same tool and exactly the same arguments. */
  approval_id: z.uuid().optional(),
  context: CallContext.optional(),
});
export type ToolCallBody = z.infer<typeof ToolCallBody>;
/** The MCP door's envelope (mcp/call.ts): the same, with the door's own "mcp:" session ids. */
export const McpToolCallBody = ToolCallBody.extend({
  session_id: z.string().regex(SESSION_ID, "1 to 128 of A-Z a-z 0-9 . _ : -"),
});

/** An approval request's id, in a path. */
export const ApprovalPath = z.strictObject({ id: z.uuid() });
/**
 * A query parameter holding a plain decimal number: "0x10", "1e3", "" and " 5" are refused, not
 * read as 16, 1000 or 0 (which `Number()` would do).
 */
const decimal = (pattern: RegExp, what: string) =>
  z.string().regex(pattern, what).transform(Number);

/** `?wait=` seconds to long-poll for a decision (clamped to 60). */
export const ApprovalWait = z.object({
  wait: decimal(/^[0-9]{1,6}(\.[0-9]{1,3})?$/, "seconds, as a decimal number")
    .optional()
    .meta({ type: "number", minimum: 0 }),
});
export const DenyBody = z.strictObject({ reason: z.string().trim().min(1).max(2_000) });

export const KillSwitchPath = z.strictObject({
  scope: z.enum(KILL_SWITCH_SCOPES.map(scopeSlug) as [string, ...string[]]),
});
/**
 * The reason is checked by the kill switch itself (1 to 500 characters; its own code,
 * kill_switch_reason_invalid, when missing), so optional here, but required in the document:
 * the route refuses a change without one.
 */
export const KillSwitchChangeBody = z
  .strictObject({
    value: z.string().optional(),
    reason: z.unknown().optional().meta({ type: "string", minLength: 1, maxLength: 500 }),
  })
  .meta({ required: ["reason"] });

/** Who cleared a taint and why: the audit record keeps both. */
const TaintReason = z.string().trim().min(1).max(500);
/** `DELETE /v1/admin/taints/actors`: a verified user's agent, tainted in every session. */
export const ClearActorTaintBody = z.strictObject({
  user: z.string().min(1).max(IDENTITY_LIMITS.subject),
  agent: z.string().min(1).max(IDENTITY_LIMITS.agent),
  reason: TaintReason,
});
/** `DELETE /v1/admin/taints/sessions`: one session id. */
export const ClearSessionTaintBody = z.strictObject({
  session_id: z.string().regex(SESSION_ID, "1 to 128 of A-Z a-z 0-9 . _ : -"),
  reason: TaintReason,
});
/** `GET /v1/admin/taints?limit=`: how many actors to list (default 100, at most 1000). */
export const TaintListQuery = z.object({
  limit: decimal(/^(0|[1-9][0-9]{0,2}|1000)$/, "a whole number from 0 to 1000")
    .optional()
    .meta({ type: "integer", minimum: 0, maximum: 1_000 }),
});

// Largest bodies of the small administrative routes (deny, kill switch).
export const ADMIN_BODY_LIMIT_BYTES = 16_384;

// ---------------------------------------------------------------------------------------------
// Response schemas (documentation of what the handlers answer)

const Reason = z.object({ code: z.enum(REASON_CODES), message: z.string() });

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(ERROR_CODES),
    reasons: z.array(Reason).optional(),
    decision_id: z.string().optional(),
    trace_id: z.string().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem document" });

export const ApprovalView = z
  .object({
    approval_id: z.uuid(),
    status: z.enum([
      "pending",
      "escalated",
      "approved",
      "denied",
      "expired",
      "executing",
      "executed",
      "failed",
    ]),
    status_url: z.string(),
    tool: z.string(),
    arguments: z.record(z.string(), z.unknown()),
    arguments_digest: z.string(),
    approvers_required: z.union([z.literal(1), z.literal(2)]),
    approver_groups: z.array(z.string()),
    fallback_groups: z.array(z.string()),
    expires_at: z.iso.datetime(),
    /** "post_hoc": the call already ran; this is its review (a denial runs the compensation). */
    mode: z.literal("post_hoc").optional(),
    compensation: z
      .object({ tool: z.string(), arguments: z.record(z.string(), z.unknown()) })
      .optional(),
    compensation_result: z
      .object({
        status: z.enum(["executed", "failed", "unavailable"]),
        decision_id: z.string().optional(),
        code: z.string().optional(),
        http_status: z.number().int().optional(),
        at: z.iso.datetime(),
        /** Tries so far; while one runs, code "compensation_running". */
        attempts: z.number().int().optional(),
        /** A failure that may pass: when the gateway tries again. */
        retry_at: z.iso.datetime().optional(),
      })
      .optional(),
  })
  .meta({ id: "ApprovalRequest" });

const Evidence = z.object({
  untrusted: z.literal(true),
  redactions: z.number().int(),
  injection: z.object({ suspected: z.boolean(), indicators: z.array(z.string()) }),
});

export const ToolCallResult = z
  .object({
    decision_id: z.string(),
    trace_id: z.string(),
    result: z.unknown(),
    evidence: Evidence.optional(),
    compensation: z.record(z.string(), z.unknown()).optional(),
    /** The call ran at once under post-hoc review: the review its approvers now decide. */
    review: z
      .object({ approval_id: z.uuid(), status_url: z.string(), mode: z.literal("post_hoc") })
      .optional(),
  })
  .meta({ id: "ToolCallResult" });

// ---------------------------------------------------------------------------------------------
// The routes

type Status = 200 | 202 | 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 502 | 503 | 504;

const problem = { content: { "application/problem+json": { schema: Problem } } };
function problems(...statuses: Status[]): RouteConfig["responses"] {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: `Problem (${status})`,
        ...problem,
        ...(status === 401
          ? { headers: { "WWW-Authenticate": { schema: { type: "string" as const } } } }
          : {}),
        ...(status === 429
          ? { headers: { "Retry-After": { schema: { type: "integer" as const } } } }
          : {}),
      },
    ]),
  );
}
const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const secured = [{ bearer: [], devicePosture: [] }];

function toolRoute(tool: (typeof TOOL_NAMES)[number]): RouteConfig {
  return {
    method: "post",
    path: `/v1/tools/${tool}`,
    operationId: tool,
    summary: `Ask the gateway to run ${tool}`,
    security: secured,
    request: {
      headers: z.object({
        traceparent: z
          .string()
          .regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
          .optional()
          .meta({ description: "W3C Trace Context; honoured and passed on to the worker" }),
      }),
      body: {
        required: true,
        content: {
          "application/json": {
            schema: ToolCallBody.extend({ arguments: TOOL_ARGUMENT_SCHEMAS[tool] }),
          },
        },
      },
    },
    responses: {
      200: json(ToolCallResult, "The tool ran; its result"),
      202: json(ApprovalView, "Nothing ran: the call waits for human approval (Location)"),
      ...problems(400, 401, 403, 404, 409, 413, 415, 429, 502, 503, 504),
    },
  };
}

function killSwitchChange(method: "put" | "delete", summary: string): RouteConfig {
  return {
    method,
    path: "/v1/admin/kill-switch/{scope}",
    summary: `${summary} (grp-ai-security-admins, on a compliant device)`,
    security: secured,
    request: {
      params: KillSwitchPath,
      body: { required: true, content: { "application/json": { schema: KillSwitchChangeBody } } },
    },
    responses: {
      200: json(z.record(z.string(), z.unknown()), "The new state and its version"),
      ...problems(400, 401, 403, 404, 413, 415, 503),
    },
  };
}

const TaintListing = z
  .object({
    actors: z.array(z.object({ user: z.string(), agent: z.string() })),
    actors_total: z.number().int(),
    sessions_total: z.number().int(),
    max_actors: z.number().int(),
    saturated: z.boolean(),
  })
  .meta({ id: "TaintListing" });

const TaintCleared = z
  .object({
    cleared: z.boolean().meta({ description: "The key was tainted" }),
    still_tainted: z.boolean().meta({
      description: "This replica still reads it as tainted (saturated, or tainted again)",
    }),
  })
  .meta({ id: "TaintCleared" });

function clearTaintRoute(kind: "actors" | "sessions"): RouteConfig {
  return {
    method: "delete",
    path: `/v1/admin/taints/${kind}`,
    summary: `Clear ${kind === "actors" ? "a user's agent's" : "a session's"} taint, with a reason (grp-ai-security-admins, on a compliant device; audited)`,
    security: secured,
    request: {
      body: {
        required: true,
        content: {
          "application/json": {
            schema: kind === "actors" ? ClearActorTaintBody : ClearSessionTaintBody,
          },
        },
      },
    },
    responses: {
      200: json(TaintCleared, "Cleared (or was not tainted)"),
      ...problems(400, 401, 403, 409, 413, 415, 503),
    },
  };
}

const TAINT_ROUTES: readonly RouteConfig[] = [
  {
    method: "get",
    path: "/v1/admin/taints",
    summary: "The tainted actors this replica holds, and counts (grp-ai-security-admins)",
    security: secured,
    request: { query: TaintListQuery },
    responses: { 200: json(TaintListing, "The taints"), ...problems(400, 401, 403, 503) },
  },
  clearTaintRoute("actors"),
  clearTaintRoute("sessions"),
];

/** A JSON-RPC 2.0 message (MCP); the MCP SDK validates each method's params. */
const JsonRpcMessage = z
  .object({ jsonrpc: z.literal("2.0"), method: z.string().optional(), id: z.unknown().optional() })
  .loose()
  .meta({ id: "JsonRpcMessage" });

const ProtectedResourceMetadata = z
  .object({
    resource: z.string(),
    authorization_servers: z.array(z.string()),
    bearer_methods_supported: z.array(z.string()),
    resource_name: z.string(),
    resource_documentation: z.string(),
  })
  .meta({ id: "ProtectedResourceMetadata", description: "RFC 9728" });

function mcpNotAllowed(method: "get" | "delete"): RouteConfig {
  return {
    method,
    path: "/mcp",
    summary: "Not offered: the MCP server is stateless (no standing stream, no session to end)",
    security: secured,
    responses: { 405: { description: "Method not allowed (Allow: POST)" }, ...problems(401) },
  };
}

const MCP_ROUTES: readonly RouteConfig[] = [
  {
    method: "post",
    path: "/mcp",
    summary: "MCP Streamable HTTP (initialize, tools/list filtered by policy, tools/call)",
    security: secured,
    request: {
      body: { required: true, content: { "application/json": { schema: JsonRpcMessage } } },
    },
    responses: {
      200: json(JsonRpcMessage, "The JSON-RPC response (a refused call is a result with isError)"),
      202: { description: "A notification or response was accepted" },
      415: json(JsonRpcMessage, "Not application/json: a JSON-RPC error (-32000), nothing read"),
      ...problems(401, 413, 503),
    },
  },
  mcpNotAllowed("get"),
  mcpNotAllowed("delete"),
  {
    method: "get",
    path: "/.well-known/oauth-protected-resource",
    summary: "RFC 9728 metadata of the gateway (the resource is its origin)",
    responses: { 200: json(ProtectedResourceMetadata, "The metadata") },
  },
  {
    method: "get",
    path: "/.well-known/oauth-protected-resource/mcp",
    summary: "RFC 9728 metadata of the MCP endpoint (named in WWW-Authenticate)",
    responses: { 200: json(ProtectedResourceMetadata, "The metadata") },
  },
];

/** Every route the gateway serves, as documented. */
export const ROUTES: readonly RouteConfig[] = [
  ...TOOL_NAMES.map(toolRoute),
  ...MCP_ROUTES,
  {
    method: "get",
    path: "/v1/approvals/{id}",
    summary: "An approval request (requester, its approvers, admins); ?wait=seconds long-polls",
    security: secured,
    request: { params: ApprovalPath, query: ApprovalWait },
    responses: { 200: json(ApprovalView, "The request"), ...problems(400, 401, 403, 404, 503) },
  },
  {
    method: "post",
    path: "/v1/approvals/{id}/approve",
    summary: "Approve, as an eligible approver on a compliant device",
    security: secured,
    request: { params: ApprovalPath },
    responses: {
      200: json(ApprovalView, "The request"),
      ...problems(400, 401, 403, 404, 409, 413, 415, 503),
    },
  },
  {
    method: "post",
    path: "/v1/approvals/{id}/deny",
    summary: "Deny, with a reason; ends the request",
    security: secured,
    request: {
      params: ApprovalPath,
      body: { required: true, content: { "application/json": { schema: DenyBody } } },
    },
    responses: {
      200: json(ApprovalView, "The request"),
      ...problems(400, 401, 403, 404, 409, 413, 415, 503),
    },
  },
  {
    method: "get",
    path: "/v1/admin/kill-switch",
    summary: "The kill switch's state and version (grp-ai-security-admins)",
    security: secured,
    responses: {
      200: json(z.record(z.string(), z.unknown()), "The state"),
      ...problems(401, 403, 503),
    },
  },
  killSwitchChange("put", "Set a scope"),
  killSwitchChange("delete", "Clear a scope"),
  ...TAINT_ROUTES,
  {
    method: "get",
    path: "/healthz",
    summary: "The process is up",
    responses: { 200: { description: "up" } },
  },
  {
    method: "get",
    path: "/readyz",
    summary: "Policy loaded, audit writable, worker reachable",
    responses: { 200: { description: "ready" }, 503: { description: "not ready" } },
  },
  {
    method: "get",
    path: "/openapi.json",
    summary: "This document",
    responses: { 200: { description: "OpenAPI 3.1" } },
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics, for the platform's scraper only (Bearer METRICS_TOKEN)",
    responses: {
      200: { description: "Prometheus text exposition format" },
      401: { description: "no or another bearer token" },
      404: { description: "metrics are not enabled (no METRICS_TOKEN)" },
    },
  },
];

let cached: ReturnType<OpenApiGeneratorV31["generateDocument"]> | undefined;

/** The OpenAPI 3.1 document, generated once from the schemas above. */
export function openApiDocument(): ReturnType<OpenApiGeneratorV31["generateDocument"]> {
  if (cached !== undefined) return cached;
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT (RFC 9068, with RFC 8693 act)",
  });
  registry.registerComponent("securitySchemes", "devicePosture", {
    type: "apiKey",
    in: "header",
    name: "X-Device-Posture",
    description: "Signed device-posture JWT",
  });
  for (const route of ROUTES) registry.registerPath(route);
  cached = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "ZYX agent gateway",
      version: "1",
      description: "One call per tool. The model may ask; the policy decides.",
    },
  });
  return cached;
}
