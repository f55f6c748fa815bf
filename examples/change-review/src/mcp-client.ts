// The runtime's MCP mode (GATEWAY_PROTOCOL=mcp): the same ToolGateway as gateway-client.ts, over
// the gateway's MCP door with the official SDK client (Client + StreamableHTTPClientTransport).
// Same credentials (the delegated token, the engineer's posture unchanged), same trace id with a
// new span per HTTP request, the purpose recorded through _meta["zyx/context"].
//
// Mapping back, failing closed: a result with outcome "executed" → executed; "pending_approval"
// → pending; isError → the same ReviewError as the REST door's refusal (the problem document is
// the result's structuredContent); anything else, or a transport failure, → gateway_failed /
// gateway_unavailable. One MCP connection per review session, opened on its first call.
// GATEWAY_PROTOCOL (read here, not in config.ts) chooses the mode: "rest" (default) or "mcp".
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { z } from "zod";
import type { ToolName } from "../../../common/catalog.ts";
import { ConfigError } from "./config.ts";
import { ReviewError } from "./errors.ts";
import { refusal, type GatewayClient, type GatewaySession } from "./gateway-client.ts";
import { Evidence, type ToolOutcome } from "./review.ts";

export interface McpGatewayClientOptions {
  /** The gateway's base URL; the MCP endpoint is <url>/mcp. */
  url: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const Executed = z.looseObject({
  outcome: z.literal("executed"),
  decision_id: z.string(),
  result: z.unknown(),
  evidence: Evidence.optional(),
});
const Pending = z.looseObject({
  outcome: z.literal("pending_approval"),
  decision_id: z.string(),
  approval_id: z.string().min(1),
  status_url: z.string().min(1),
});

function outcomeOf(tool: ToolName, result: Record<string, unknown>): ToolOutcome {
  const content = result["structuredContent"];
  if (result["isError"] === true) {
    const problem = (content ?? {}) as { status?: unknown };
    throw refusal(tool, typeof problem.status === "number" ? problem.status : 500, content, null);
  }
  const executed = Executed.safeParse(content);
  if (executed.success) {
    const { result: value, evidence, decision_id: decisionId } = executed.data;
    return { status: "executed", tool, result: value, evidence, decisionId };
  }
  const pending = Pending.safeParse(content);
  if (pending.success) {
    return {
      status: "pending_approval",
      tool,
      approvalId: pending.data.approval_id,
      statusUrl: pending.data.status_url,
      decisionId: pending.data.decision_id,
    };
  }
  throw new ReviewError(
    "gateway_failed",
    `the gateway's MCP answer to ${tool} is not one we read`,
    {
      extensions: { tool },
    },
  );
}

async function connect(options: McpGatewayClientOptions, session: GatewaySession): Promise<Client> {
  const base = options.fetch ?? fetch;
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", options.url), {
    requestInit: {
      headers: {
        authorization: `Bearer ${session.accessToken}`,
        "x-device-posture": session.posture,
      },
    },
    // A new span of the review's trace for every request.
    fetch: (url, init) => {
      const headers = new Headers(init?.headers);
      headers.set("traceparent", `00-${session.traceId}-${randomBytes(8).toString("hex")}-01`);
      return base(url, { ...init, headers });
    },
  });
  const client = new Client({ name: "zyx-change-review", version: "1.0.0" });
  await client.connect(transport, { timeout: options.timeoutMs ?? 15_000 });
  return client;
}

export function createMcpGatewayClient(options: McpGatewayClientOptions): GatewayClient {
  const timeout = options.timeoutMs ?? 15_000;
  return {
    session(session) {
      let client: Promise<Client> | undefined;
      return {
        async call(tool, args, purpose) {
          let result: Record<string, unknown>;
          try {
            client ??= connect(options, session);
            result = await (
              await client
            ).callTool(
              {
                name: tool,
                arguments: args,
                _meta: { "zyx/context": { decision_trace: purpose.slice(0, 8_192) } },
              },
              undefined,
              { timeout },
            );
          } catch (error) {
            client = undefined;
            throw new ReviewError(
              "gateway_unavailable",
              `the gateway's MCP door could not run ${tool}`,
              { extensions: { tool }, cause: error },
            );
          }
          return outcomeOf(tool, result);
        },
      };
    },
  };
}

/** GATEWAY_PROTOCOL: "rest" (default) or "mcp"; anything else stops the runtime at start-up. */
export function gatewayProtocol(env: NodeJS.ProcessEnv): "rest" | "mcp" {
  const value = env["GATEWAY_PROTOCOL"] ?? "";
  if (value === "" || value === "rest") return "rest";
  if (value === "mcp") return "mcp";
  throw new ConfigError('GATEWAY_PROTOCOL: must be "rest" or "mcp"');
}
