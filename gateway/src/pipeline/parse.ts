// Step 2: the call's body and the tool's arguments, each against its strict schema.
//
// Failure modes: request_malformed (not JSON, or not {arguments, session_id, approval_id?,
// context?}; `issues` lists each), tool_not_found, arguments_invalid (`issues` lists each).
// Nothing is recorded here; a refusal of a catalog tool's call is counted by the limits (index.ts).
import { argumentsDigest } from "../../../common/canonical.ts";
import { parseToolArguments, protoKeyPaths } from "../../../common/tool-arguments.ts";
import { McpToolCallBody, ToolCallBody } from "../http/contract.ts";
import { issuesOf } from "../lib/body.ts";
import { GatewayError } from "../lib/errors.ts";
import { actorKey } from "../session.ts";
import type { Authenticated, GatewayPorts, Parsed } from "./context.ts";

/**
 * Zod drops an own "__proto__" member silently (records and objects alike): what was sent and
 * what would be decided on would differ. Refused before any schema sees the body.
 */
function refuseProtoKeys(json: unknown): void {
  const paths = protoKeyPaths(json);
  if (paths.length === 0) return;
  const issues = paths.map((path) => ({
    path: path.map(String).join("."),
    message: "unknown key",
  }));
  if (paths.every((path) => path[0] === "arguments" && path.length > 1)) {
    throw new GatewayError("arguments_invalid", "the arguments carry a __proto__ key", {
      extensions: {
        issues: paths.map((path) => ({
          path: `/${path.slice(1).map(String).join("/")}`,
          message: "unknown argument",
        })),
      },
    });
  }
  throw new GatewayError("request_malformed", "the request body carries a __proto__ key", {
    extensions: { issues },
  });
}

export async function parseCall(
  ports: Pick<GatewayPorts, "policy">,
  ctx: Authenticated,
): Promise<Parsed> {
  let json: unknown;
  try {
    json = await ctx.request.readBody();
  } catch {
    throw new GatewayError("request_malformed", "the request body is not JSON");
  }
  refuseProtoKeys(json);
  // A REST caller may not name the MCP door's "mcp:" sessions (contract.ts).
  const body = (ctx.request.door === "rest" ? ToolCallBody : McpToolCallBody).safeParse(json);
  if (!body.success) {
    throw new GatewayError("request_malformed", "the request body does not match the contract", {
      extensions: { issues: issuesOf(body.error) },
    });
  }
  const tool = ctx.request.tool;
  const parsed = parseToolArguments(tool, body.data.arguments);
  if (!parsed.ok) {
    if (parsed.reason === "tool_not_found") {
      throw new GatewayError("tool_not_found", `no tool named ${tool.slice(0, 64)}`);
    }
    throw new GatewayError(
      "arguments_invalid",
      `${String(parsed.issues.length)} problem(s) with the arguments of ${tool}`,
      { extensions: { issues: parsed.issues } },
    );
  }
  const { principal } = ctx;
  const agents = ports.policy.data?.zyx.config["agents"] as
    Record<string, { workflow?: string }> | undefined;
  return {
    ...ctx,
    body: body.data,
    tool: parsed.tool,
    args: parsed.arguments,
    digest: argumentsDigest(parsed.arguments),
    sessionId: body.data.session_id,
    actorKey: actorKey(principal.subject, principal.agent),
    workflow: agents?.[principal.agent]?.workflow ?? "unassigned",
  };
}
