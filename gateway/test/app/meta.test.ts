// /healthz, /readyz and /openapi.json through the real app; the contract against the route
// table, the OpenAPI 3.1 schema and the closed union of error codes.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { TOOL_NAMES } from "../../../common/catalog.ts";
import { ERROR_CODES } from "../../src/lib/errors.ts";
import { createHarness } from "../support/harness.ts";

/**
 * The error codes as published: extend, never rename. Written out here (not read from the code)
 * so that a renamed or removed code fails this test.
 */
const PUBLISHED_CODES = [
  "request_body_too_large",
  "request_malformed",
  "request_media_type_unsupported",
  "arguments_invalid",
  "tool_not_found",
  "route_not_found",
  "token_missing",
  "token_invalid",
  "token_expired",
  "token_agent_missing",
  "posture_missing",
  "posture_invalid",
  "posture_subject_mismatch",
  "identity_provider_unavailable",
  "policy_denied",
  "approval_required",
  "policy_unavailable",
  "audit_unavailable",
  "approval_not_found",
  "approval_not_open",
  "approval_not_approved",
  "approval_already_executed",
  "approval_arguments_mismatch",
  "approval_not_yours",
  "approver_not_eligible",
  "approver_is_requester",
  "approver_already_approved",
  "approver_device_not_compliant",
  "approval_conflict",
  "approval_store_unavailable",
  "rate_limited",
  "console_required",
  "admin_forbidden",
  "kill_switch_scope_unknown",
  "kill_switch_value_invalid",
  "kill_switch_reason_invalid",
  "kill_switch_unavailable",
  "kill_switch_apply_failed",
  "worker_failed",
  "worker_unavailable",
  "worker_timeout",
  "internal_error",
];

interface OpenApiDoc {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: {
          content: Record<
            string,
            { schema: { properties: { arguments: { properties?: object } } } }
          >;
        };
      }
    >
  >;
  components: { schemas: { Problem: { properties: { code: { enum: string[] } } } } };
}

async function openApi(): Promise<OpenApiDoc> {
  const h = await createHarness();
  return (await (await h.app.request("/openapi.json")).json()) as OpenApiDoc;
}

describe("operational routes", () => {
  it("/healthz says the process is up", async () => {
    const h = await createHarness();
    const response = await h.app.request("/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("/readyz is ready when policy, audit and worker all are", async () => {
    const h = await createHarness();
    const response = await h.app.request("/readyz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: "ready",
      checks: { policy: true, audit: true, worker: true, kill_switch_store: true },
      policy_revision: h.policy.revision,
    });
  });

  it("/readyz is 503 and says which check failed: no policy, audit closed, worker down", async () => {
    const h = await createHarness({
      bundlePath: "/nonexistent/bundle.tar.gz",
      ports: () => ({
        worker: {
          execute: () => Promise.reject(new Error("x")),
          ready: () => Promise.resolve(false),
          close: () => Promise.resolve(),
        },
      }),
    });
    await h.audit.close();
    const response = await h.app.request("/readyz");
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: "not_ready",
      checks: { policy: false, audit: false, worker: false, kill_switch_store: true },
      policy_revision: null,
    });
  });
});

describe("the HTTP contract, generated from the schemas that validate", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const result = await new Validator().validate({ ...(await openApi()) });
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("documents exactly the routes the app serves, one operation per catalog tool", async () => {
    const h = await createHarness();
    const doc = await openApi();
    const served = new Set(
      h.app.routes
        .filter((r) => r.method !== "ALL")
        .flatMap((r) =>
          r.path === "/v1/tools/:tool"
            ? TOOL_NAMES.map((t) => `POST /v1/tools/${t}`)
            : [`${r.method} ${r.path.replaceAll(/:(\w+)/g, "{$1}")}`],
        ),
    );
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    expect([...documented].sort()).toEqual([...served].sort());
    const jira =
      doc.paths["/v1/tools/jira_read"]?.["post"]?.requestBody?.content["application/json"]?.schema;
    expect(jira?.properties.arguments.properties).toHaveProperty("ticket");
  });

  it("lists every published error code, none renamed or removed, and the README's table agrees", async () => {
    const doc = await openApi();
    const documented = doc.components.schemas.Problem.properties.code.enum;
    expect(documented).toEqual(ERROR_CODES);
    expect(documented).toEqual(expect.arrayContaining(PUBLISHED_CODES));
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
    const table = readme.slice(
      readme.indexOf("| code "),
      readme.indexOf("The audit log is append-only"),
    );
    // The first column of each row: the codes.
    const inReadme = table
      .split("\n")
      .filter((line) => line.startsWith("| `"))
      .flatMap((line) => [...(line.split("|")[1] ?? "").matchAll(/`([a-z_]+)`/g)].map((m) => m[1]));
    expect(inReadme.length).toBeGreaterThan(15);
    expect(documented).toEqual(expect.arrayContaining(inReadme));
  });
});
