// /healthz, /readyz and /openapi.json through the real app.
import { describe, expect, it } from "vitest";
import { TOOL_NAMES } from "../../../common/catalog.ts";
import { ERROR_CODES } from "../../src/lib/errors.ts";
import { createHarness } from "../support/harness.ts";

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
      checks: { policy: true, audit: true, worker: true },
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
      checks: { policy: false, audit: false, worker: false },
      policy_revision: null,
    });
  });

  it("/openapi.json describes one operation per catalog tool with its argument schema", async () => {
    const h = await createHarness();
    const doc = (await (await h.app.request("/openapi.json")).json()) as {
      openapi: string;
      paths: Record<
        string,
        {
          post?: {
            requestBody: {
              content: Record<
                string,
                { schema: { properties: { arguments: { properties?: object } } } }
              >;
            };
          };
        }
      >;
      components: { schemas: { Problem: { properties: { code: { enum: string[] } } } } };
    };
    expect(doc.openapi).toBe("3.1.0");
    const toolPaths = Object.keys(doc.paths).filter((p) => p.startsWith("/v1/tools/"));
    expect(toolPaths.sort()).toEqual(TOOL_NAMES.map((t) => `/v1/tools/${t}`).sort());
    const jira =
      doc.paths["/v1/tools/jira_read"]?.post?.requestBody.content["application/json"]?.schema;
    expect(jira?.properties.arguments.properties).toHaveProperty("ticket");
    expect(doc.components.schemas.Problem.properties.code.enum).toEqual(ERROR_CODES);
  });
});
