// The HTTP contract, served at /openapi.json. Argument schemas come from the same zod schemas
// that validate the calls (common/tool-arguments.ts): the document cannot drift from the code.
import { z } from "zod";
import { TOOL_NAMES } from "../../common/catalog.ts";
import { TOOL_ARGUMENT_SCHEMAS } from "../../common/tool-arguments.ts";
import { ERROR_CODES } from "./lib/errors.ts";
import { REASON_CODES } from "./policy/decision.ts";

const problem = {
  description: "RFC 9457 problem document",
  content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
};

const approvalResponse = {
  description: "The approval request",
  content: { "application/json": { schema: { $ref: "#/components/schemas/ApprovalRequest" } } },
};

function killSwitchChange(summary: string): Record<string, unknown> {
  return {
    summary: `${summary}: all-writes, connector, user, agent, workflow, read-only (grp-ai-security-admins)`,
    security: [{ bearer: [], devicePosture: [] }],
    parameters: [
      {
        name: "scope",
        in: "path",
        required: true,
        schema: {
          type: "string",
          enum: ["all-writes", "connector", "user", "agent", "workflow", "read-only"],
        },
      },
    ],
    requestBody: {
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            required: ["reason"],
            properties: { value: { type: "string" }, reason: { type: "string", maxLength: 500 } },
          },
        },
      },
    },
    responses: {
      "200": { description: "the new state" },
      "400": problem,
      "401": problem,
      "403": problem,
      "404": problem,
      "503": problem,
    },
  };
}

let cached: Record<string, unknown> | undefined;

export function openApiDocument(): Record<string, unknown> {
  cached ??= build();
  return cached;
}

function build(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const tool of TOOL_NAMES) {
    paths[`/v1/tools/${tool}`] = {
      post: {
        operationId: tool,
        summary: `Ask the gateway to run ${tool}`,
        security: [{ bearer: [], devicePosture: [] }],
        parameters: [
          {
            name: "traceparent",
            in: "header",
            required: false,
            description: "W3C Trace Context; honoured and passed on to the worker",
            schema: { type: "string", pattern: "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$" },
          },
        ],
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: {
                type: "object",
                additionalProperties: false,
                required: ["arguments", "session_id"],
                properties: {
                  arguments: z.toJSONSchema(TOOL_ARGUMENT_SCHEMAS[tool], {
                    io: "input",
                    unrepresentable: "any",
                  }),
                  session_id: { type: "string", pattern: "^[A-Za-z0-9._:-]{1,128}$" },
                  approval_id: {
                    type: "string",
                    format: "uuid",
                    description:
                      "Executes an approved call: the same tool and exactly the approved arguments",
                  },
                  context: {
                    type: "object",
                    additionalProperties: false,
                    description:
                      "Recorded in the audit (bounded, secrets masked); never an input to the decision",
                    properties: {
                      decision_trace: { type: "string", maxLength: 8192 },
                      model: { type: "string", maxLength: 200 },
                    },
                  },
                },
              },
            },
          },
        },
        responses: {
          "200": {
            description: "The tool ran; its result",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["decision_id", "trace_id", "result"],
                  properties: {
                    decision_id: { type: "string" },
                    trace_id: { type: "string" },
                    result: {},
                  },
                },
              },
            },
          },
          "202": {
            description:
              "Nothing ran: the call waits for human approval (Location: its status URL)",
            content: {
              "application/json": { schema: { $ref: "#/components/schemas/ApprovalRequest" } },
            },
          },
          "400": problem,
          "401": { ...problem, headers: { "WWW-Authenticate": { schema: { type: "string" } } } },
          "403": problem,
          "404": problem,
          "409": problem,
          "413": problem,
          "429": { ...problem, headers: { "Retry-After": { schema: { type: "integer" } } } },
          "502": problem,
          "503": problem,
          "504": problem,
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "ZYX agent gateway",
      version: "1",
      description: "One call per tool. The model may ask; the policy decides.",
    },
    paths: {
      ...paths,
      "/v1/approvals/{id}": {
        get: {
          summary:
            "An approval request (requester, its approvers, admins); ?wait=seconds long-polls",
          security: [{ bearer: [], devicePosture: [] }],
          parameters: [
            { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } },
            {
              name: "wait",
              in: "query",
              required: false,
              schema: { type: "integer", minimum: 0, maximum: 60 },
            },
          ],
          responses: { "200": approvalResponse, "401": problem, "403": problem, "404": problem },
        },
      },
      "/v1/approvals/{id}/approve": {
        post: {
          summary: "Approve, as an eligible approver on a compliant device",
          security: [{ bearer: [], devicePosture: [] }],
          parameters: [
            { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } },
          ],
          responses: {
            "200": approvalResponse,
            "401": problem,
            "403": problem,
            "404": problem,
            "409": problem,
          },
        },
      },
      "/v1/approvals/{id}/deny": {
        post: {
          summary: "Deny, with a reason; ends the request",
          security: [{ bearer: [], devicePosture: [] }],
          parameters: [
            { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } },
          ],
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["reason"],
                  properties: { reason: { type: "string", maxLength: 2000 } },
                },
              },
            },
          },
          responses: {
            "200": approvalResponse,
            "401": problem,
            "403": problem,
            "404": problem,
            "409": problem,
          },
        },
      },
      "/v1/admin/kill-switch": {
        get: {
          summary: "The kill switch's state and version (grp-ai-security-admins)",
          security: [{ bearer: [], devicePosture: [] }],
          responses: { "200": { description: "state" }, "401": problem, "403": problem },
        },
      },
      "/v1/admin/kill-switch/{scope}": {
        put: killSwitchChange("Set a scope"),
        delete: killSwitchChange("Clear a scope"),
      },
      "/healthz": {
        get: { summary: "The process is up", responses: { "200": { description: "up" } } },
      },
      "/readyz": {
        get: {
          summary: "Policy loaded, audit writable, worker reachable",
          responses: { "200": { description: "ready" }, "503": { description: "not ready" } },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT (RFC 9068, with RFC 8693 act)",
        },
        devicePosture: {
          type: "apiKey",
          in: "header",
          name: "X-Device-Posture",
          description: "Signed device-posture JWT",
        },
      },
      schemas: {
        ApprovalRequest: {
          type: "object",
          required: [
            "approval_id",
            "status",
            "status_url",
            "tool",
            "arguments_digest",
            "approvers_required",
          ],
          properties: {
            approval_id: { type: "string", format: "uuid" },
            status: {
              type: "string",
              enum: [
                "pending",
                "escalated",
                "approved",
                "denied",
                "expired",
                "executing",
                "executed",
                "failed",
              ],
            },
            status_url: { type: "string" },
            tool: { type: "string" },
            arguments: { type: "object" },
            arguments_digest: { type: "string" },
            approvers_required: { type: "integer", enum: [1, 2] },
            approver_groups: { type: "array", items: { type: "string" } },
            fallback_groups: { type: "array", items: { type: "string" } },
            expires_at: { type: "string", format: "date-time" },
          },
        },
        Problem: {
          type: "object",
          required: ["type", "title", "status", "detail", "code"],
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            detail: { type: "string" },
            code: { type: "string", enum: [...ERROR_CODES] },
            reasons: {
              type: "array",
              items: {
                type: "object",
                required: ["code", "message"],
                properties: {
                  code: { type: "string", enum: [...REASON_CODES] },
                  message: { type: "string" },
                },
              },
            },
            decision_id: { type: "string" },
            trace_id: { type: "string" },
            issues: { type: "array", items: { type: "object" } },
          },
        },
      },
    },
  };
}
