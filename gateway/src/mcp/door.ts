// The MCP front door: the Streamable HTTP transport of the official SDK at /mcp, stateless (a new
// SDK server and transport per HTTP request: nothing lives between requests, so any replica
// behind a load balancer answers any request), JSON responses rather than SSE streams.
//
//   POST   /mcp   JSON-RPC: initialize, tools/list (listing.ts), tools/call (call.ts), ping;
//                  one message per request (a batch is refused: -32600)
//   GET    /mcp   405: no standing SSE stream (stateless: nothing could be pushed on it)
//   DELETE /mcp   405: a session is a label (session.ts); there is nothing to terminate
//   GET    /.well-known/oauth-protected-resource[/mcp]   RFC 9728 metadata (auth.ts)
//
// Order per request, each failing closed: Origin: when present, the gateway's own public origin
// (403 otherwise: DNS rebinding protection, as MCP's transport requires) → body limit (413) →
// a body only as `Content-Type: application/json`, as the transport requires of clients (415,
// JSON-RPC -32000, the SDK's own answer, given here before identity and before the body is
// read: common/json-media-type.ts) → identity: access token and signed posture, as the REST
// door (401 with `WWW-Authenticate: Bearer resource_metadata=…`) → params of the three methods answered, in
// their SDK schemas (-32602) → the session header, if any, must parse (404) → the MCP layer.
// tools/call then runs the whole pipeline (which verifies the same headers again, from its own
// ports). `notifications/tools/
// list_changed` is not sent: no connection outlives its request, so the server declares
// `tools.listChanged: false`, and every tools/list is evaluated afresh against the live kill
// switch and policy revision: a client that lists again sees the change at once.
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import {
  CallToolRequestSchema,
  ErrorCode,
  InitializeRequestSchema,
  JSONRPCRequestSchema,
  ListToolsRequestSchema,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import type { Context, Hono } from "hono";
import type { Log } from "../../../common/service.ts";
import { jsonBodyRefusal } from "../../../common/json-media-type.ts";
import { issuesOf, limitBody } from "../lib/body.ts";
import { asGatewayError } from "../lib/problem.ts";
import { isGatewayError } from "../lib/errors.ts";
import { verifyCaller, type Caller } from "../pipeline/authenticate.ts";
import type { Credentials, GatewayPorts } from "../pipeline/context.ts";
import type { ToolCallPipeline } from "../pipeline/index.ts";
import type { RefusalRecorder } from "../pipeline/refusals.ts";
import {
  challengeResponse,
  MCP_PATH,
  PRM_MCP_PATH,
  PRM_PATH,
  protectedResourceMetadata,
  publicUris,
  type McpDoorOptions,
} from "./auth.ts";
import { callTool, type McpCallScope } from "./call.ts";
import { listToolsFor } from "./listing.ts";
import { newSession, parseSession, sessionless, type McpSession } from "./session.ts";
import { actorKey } from "../session.ts";
import { createAddressSet, type AddressSet } from "../../../common/net-address.ts";
import { sourceOf } from "../lib/client-address.ts";

export const SERVER_INFO = { name: "zyx-agent-gateway", version: "1.0.0" } as const;
const INSTRUCTIONS =
  "Tools of the ZYX agent gateway. The list is filtered for you by the policy; every call is " +
  "decided again with its arguments and audited. A refused call is a result with isError and " +
  "the reason codes; a call that waits for approval returns an approval id: call again with " +
  '_meta["zyx/approval_id"] once it is approved.';

export interface McpDoorDeps {
  /** Ports whose accessTokens accept both audiences (auth.ts eitherAudience). */
  ports: GatewayPorts;
  pipeline: ToolCallPipeline;
  now: () => number;
  log: Log;
  bodyLimitBytes: number;
  options: McpDoorOptions;
  /** Counts callers refused before identity, as the REST door and the people routes do. */
  refusals: Pick<RefusalRecorder, "unauthenticated">;
  /** The proxies whose X-Forwarded-For is believed (lib/client-address.ts); default none. */
  trustedProxies?: AddressSet;
}

const NO_PROXIES = createAddressSet([]);

interface RequestScope {
  caller: Caller;
  call: McpCallScope;
  /** The request body as sent (the SDK's schemas drop an own "__proto__" member). */
  body: unknown;
}

function credentialsOf(c: Context): Credentials {
  return {
    authorization: c.req.header("authorization"),
    posture: c.req.header("x-device-posture"),
  };
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * A fresh SDK server for one request, its handlers closed over that request's scope. The
 * low-level `Server` on purpose (the SDK's "advanced use"): McpServer would validate arguments
 * with its own copy of the schemas and list one static set of tools; here the pipeline validates
 * and the list is the caller's.
 */
// eslint-disable-next-line @typescript-eslint/no-deprecated -- see above
function serverFor(deps: McpDoorDeps, scope: RequestScope): Server {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- see above
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: { listChanged: false } },
    instructions: INSTRUCTIONS,
  });
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    try {
      return { tools: await listToolsFor(deps.ports, scope.caller, deps.now()) };
    } catch (thrown) {
      const error = asGatewayError(thrown);
      if (!isGatewayError(thrown))
        deps.log("error", "mcp listing failed", { error: String(thrown) });
      throw new McpError(-32603, `${error.code}: ${error.message}`, { code: error.code });
    }
  });
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: parsed, _meta } = request.params;
    // The arguments as sent, for the pipeline to judge as the REST door's (an own "__proto__"
    // is refused there, and the SDK's parse would have dropped it silently).
    const args = sentArguments(scope.body, extra.requestId) ?? parsed;
    return callTool(deps.pipeline, { name, arguments: args, meta: _meta }, scope.call, (thrown) => {
      deps.log("error", "unexpected error", { door: "mcp", error: String(thrown) });
    });
  });
  return server;
}

/** `params.arguments` of the tools/call message `id` (the body: never a batch), if an object. */
function sentArguments(body: unknown, id: unknown): Record<string, unknown> | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const { method, id: messageId, params } = body as Record<string, unknown>;
  if (method !== "tools/call" || messageId !== id) return undefined;
  const args = (params as Record<string, unknown> | undefined)?.["arguments"];
  return typeof args === "object" && args !== null && !Array.isArray(args)
    ? (args as Record<string, unknown>)
    : undefined;
}

/** The requests this server answers, each with the SDK's schema of its params. */
const REQUEST_SCHEMAS = {
  initialize: InitializeRequestSchema,
  "tools/list": ListToolsRequestSchema,
  "tools/call": CallToolRequestSchema,
} as const;

/**
 * -32602 Invalid params for a request whose params do not fit its method's schema (JSON-RPC
 * 2.0), checked before the SDK: its handler wrapper answers them -32603 with zod's dump.
 */
function invalidParams(body: unknown): Response | undefined {
  const request = JSONRPCRequestSchema.safeParse(body);
  if (!request.success || !Object.hasOwn(REQUEST_SCHEMAS, request.data.method)) return undefined;
  const schema = REQUEST_SCHEMAS[request.data.method as keyof typeof REQUEST_SCHEMAS];
  const parsed = schema.safeParse(body);
  if (parsed.success) return undefined;
  const error = {
    code: ErrorCode.InvalidParams,
    message: `Invalid params for ${request.data.method}`,
    data: { issues: issuesOf(parsed.error) },
  };
  return new Response(JSON.stringify({ jsonrpc: "2.0", id: request.data.id, error }), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}

/** The initialize request's clientInfo.name, when the body is one. */
function initializeClient(body: unknown): { initialize: boolean; name: unknown } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { initialize: false, name: undefined };
  }
  const message = body as { method?: unknown; params?: { clientInfo?: { name?: unknown } } };
  return { initialize: message.method === "initialize", name: message.params?.clientInfo?.name };
}

async function readBody(c: Context): Promise<{ ok: true; body: unknown } | { ok: false }> {
  try {
    return { ok: true, body: JSON.parse(await c.req.text()) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Which session this request belongs to; undefined when its header does not parse. */
function sessionOf(c: Context, body: unknown, caller: Caller): McpSession | undefined {
  const actor = actorKey(caller.principal.subject, caller.principal.agent);
  const init = initializeClient(body);
  if (init.initialize) return newSession(init.name, actor);
  const header = c.req.header("mcp-session-id");
  if (header !== undefined) return parseSession(header, actor);
  return sessionless(actor);
}

async function handlePost(deps: McpDoorDeps, c: Context, caller: Caller): Promise<Response> {
  const read = await readBody(c);
  if (!read.ok) return jsonRpcError(400, -32700, "Parse error: the body is not JSON");
  // MCP 2025-06-18 removed JSON-RPC batches, and the SDK's clients send none. Accepted, a batch
  // could cancel its own tools/call (the write ran, its answer never came) or send two calls
  // under one id (one ran with the other's arguments).
  if (Array.isArray(read.body)) {
    return jsonRpcError(400, -32600, "Invalid Request: JSON-RPC batches are not supported");
  }
  const invalid = invalidParams(read.body);
  if (invalid !== undefined) return invalid;
  const session = sessionOf(c, read.body, caller);
  if (session === undefined) return jsonRpcError(404, -32001, "Session not found");
  const uris = publicUris(c.req.url, deps.options);
  const scope: RequestScope = {
    caller,
    body: read.body,
    call: {
      credentials: credentialsOf(c),
      traceparent: c.req.header("traceparent"),
      sessionId: session.pipelineSessionId,
      mcp: { session: session.id === "" ? undefined : session.id, client: session.client },
      origin: uris.origin,
      source: sourceOf(c, deps.trustedProxies ?? NO_PROXIES),
    },
  };
  const server = serverFor(deps, scope);
  // No sessionIdGenerator: the SDK's stateless mode (the door issues its own label, session.ts).
  const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true });
  try {
    await server.connect(transport);
    const response = await transport.handleRequest(c.req.raw, { parsedBody: read.body });
    const headers = new Headers(response.headers);
    if (session.id !== "") headers.set("mcp-session-id", session.id);
    headers.set("cache-control", "no-store");
    return new Response(await response.arrayBuffer(), { status: response.status, headers });
  } finally {
    await server.close();
  }
}

/** Mounts /mcp and the protected-resource metadata on `app`. */
export function mountMcpDoor(app: Hono, deps: McpDoorDeps): void {
  const authenticated =
    (handler: (c: Context, caller: Caller) => Promise<Response> | Response) =>
    async (c: Context) => {
      let caller: Caller;
      try {
        caller = await verifyCaller(deps.ports, credentialsOf(c));
      } catch (thrown) {
        deps.refusals.unauthenticated(thrown);
        if (!isGatewayError(thrown)) throw thrown;
        return challengeResponse(thrown, publicUris(c.req.url, deps.options).metadata);
      }
      return handler(c, caller);
    };
  // MCP Streamable HTTP: an Origin that is present and not ours is refused (403), on every method.
  app.use(MCP_PATH, async (c, next) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== publicUris(c.req.url, deps.options).origin) {
      return jsonRpcError(403, -32000, "Forbidden: Origin not allowed");
    }
    await next();
    return undefined;
  });
  const notAllowed = () =>
    new Response(
      JSON.stringify({
        jsonrpc: "2.0",
        error: { code: -32000, message: "Method not allowed: POST only (stateless server)" },
        id: null,
      }),
      { status: 405, headers: { allow: "POST", "content-type": "application/json" } },
    );
  app.post(
    MCP_PATH,
    limitBody(deps.bodyLimitBytes),
    async (c, next) => {
      if (jsonBodyRefusal(c) !== undefined) {
        return jsonRpcError(
          415,
          -32000,
          "Unsupported Media Type: Content-Type must be application/json",
        );
      }
      await next();
      return undefined;
    },
    authenticated((c, caller) => handlePost(deps, c, caller)),
  );
  app.get(MCP_PATH, authenticated(notAllowed));
  app.delete(MCP_PATH, authenticated(notAllowed));
  app.get(PRM_MCP_PATH, (c) =>
    c.json(protectedResourceMetadata(publicUris(c.req.url, deps.options).resource, deps.options)),
  );
  app.get(PRM_PATH, (c) =>
    c.json(protectedResourceMetadata(publicUris(c.req.url, deps.options).origin, deps.options)),
  );
}
