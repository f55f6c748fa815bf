// tools/call as a second front door over the SAME pipeline as POST /v1/tools/{tool}: this
// module only translates. It builds the pipeline's CallRequest (door "mcp") from the MCP call and
// the HTTP request's credentials, and renders the pipeline's answer or error as an MCP result:
//
//   200 → { content: [text], structuredContent: { outcome: "executed", decision_id, trace_id,
//           result, evidence? } }
//   202 → { content: [text], structuredContent: { outcome: "pending_approval", approval_id,
//           status ("pending"), status_url (absolute), ... } }: nothing ran; the same call with
//           _meta["zyx/approval_id"] executes it once approved (exactly once: the pipeline
//           claims the request).
//   any GatewayError → { isError: true, content: [text with the code and every reason code],
//           structuredContent: the RFC 9457 problem document }, except tool_not_found, which is
//           a JSON-RPC error (InvalidParams), as MCP asks for an unknown tool.
//
// Invariants: the pipeline verifies identity again from the same headers (never from anything
// the MCP layer asserts); `_meta` carries only the approval id and the recorded context, which
// the pipeline's own body schema checks (a malformed one is request_malformed).
import { ErrorCode, McpError, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { isGatewayError } from "../lib/errors.ts";
import { asGatewayError, problemOf } from "../lib/problem.ts";
import type { CallAnswer, Credentials, McpCallMetadata } from "../pipeline/context.ts";
import type { ToolCallPipeline } from "../pipeline/index.ts";
import { META } from "./listing.ts";
import type { CallSource } from "../lib/client-address.ts";

export interface McpCall {
  name: string;
  arguments: Record<string, unknown> | undefined;
  meta: Record<string, unknown> | undefined;
}

export interface McpCallScope {
  credentials: Credentials;
  traceparent: string | undefined;
  /** The session id the pipeline records and keys taint on (1 to 128 of [A-Za-z0-9._:-]). */
  sessionId: string;
  mcp: McpCallMetadata;
  /** The gateway's public origin, to make the approval status URL absolute. */
  origin: string;
  /** Where the request came from (lib/client-address.ts), for the audit records. */
  source?: CallSource | undefined;
}

/** The REST body the pipeline reads, built from the MCP call. */
function bodyOf(call: McpCall, scope: McpCallScope): Record<string, unknown> {
  const approvalId = call.meta?.[META.approvalId];
  const context = call.meta?.[META.context];
  return {
    arguments: call.arguments ?? {},
    session_id: scope.sessionId,
    ...(approvalId === undefined ? {} : { approval_id: approvalId }),
    ...(context === undefined ? {} : { context }),
  };
}

function answerResult(answer: CallAnswer, origin: string): CallToolResult {
  if (answer.status === 202) {
    const statusUrl = new URL(answer.location, origin).toString();
    const body = { ...answer.body, status_url: statusUrl };
    const id = String(answer.body["approval_id"]);
    return {
      content: [
        {
          type: "text",
          text:
            `pending_approval: nothing ran. Approval ${id} waits for a human (status: ${statusUrl}). ` +
            `Once approved, send the same call with _meta["${META.approvalId}"] = "${id}".`,
        },
      ],
      structuredContent: { outcome: "pending_approval", ...body },
    };
  }
  return {
    content: [{ type: "text", text: JSON.stringify(answer.body) }],
    structuredContent: { outcome: "executed", ...answer.body },
  };
}

/** A refusal or failure as a tool result the model can read: code, reasons, the problem. */
export function errorResult(thrown: unknown): CallToolResult {
  const error = asGatewayError(thrown);
  if (error.code === "tool_not_found") {
    throw new McpError(ErrorCode.InvalidParams, error.message);
  }
  const problem = problemOf(error);
  const reasons = Array.isArray(problem["reasons"])
    ? (problem["reasons"] as { code: string }[]).map((r) => r.code)
    : [];
  const text = [
    `${problem.code} (${String(problem.status)}): ${problem.detail}`,
    ...(reasons.length === 0 ? [] : [`reasons: ${reasons.join(", ")}`]),
  ].join("\n");
  return { isError: true, content: [{ type: "text", text }], structuredContent: { ...problem } };
}

/** Runs one MCP tools/call through the pipeline and renders the outcome. */
export async function callTool(
  pipeline: ToolCallPipeline,
  call: McpCall,
  scope: McpCallScope,
  onUnexpected: (thrown: unknown) => void,
): Promise<CallToolResult> {
  try {
    const answer = await pipeline({
      door: "mcp",
      tool: call.name,
      credentials: scope.credentials,
      traceparent: scope.traceparent,
      readBody: () => Promise.resolve(bodyOf(call, scope)),
      mcp: scope.mcp,
      source: scope.source,
    });
    return answerResult(answer, scope.origin);
  } catch (thrown) {
    if (!isGatewayError(thrown)) onUnexpected(thrown);
    return errorResult(thrown);
  }
}
