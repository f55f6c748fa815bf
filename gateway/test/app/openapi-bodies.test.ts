// The request bodies the generated OpenAPI document allows are the ones the routes take, on the
// point a generated client is built from: which members are required. A body the document calls
// valid must not be refused for a member the document calls optional.
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { ADMIN } from "../../../test/support/fixtures.ts";
import { createHarness } from "../support/harness.ts";

interface Doc {
  paths: Record<
    string,
    Record<string, { requestBody?: { content: Record<string, { schema: object }> } }>
  >;
}

describe("the OpenAPI document's request bodies match what the routes refuse", () => {
  it.each([
    ["put", "/v1/admin/kill-switch/{scope}"],
    ["delete", "/v1/admin/kill-switch/{scope}"],
  ])(
    "%s %s: a change without a reason is refused, and the document says reason is required",
    async (method, path) => {
      const h = await createHarness();
      const doc = (await (await h.app.request("/openapi.json")).json()) as Doc;
      const schema = doc.paths[path]?.[method]?.requestBody?.content["application/json"]?.schema;
      expect(schema).toBeDefined();
      const validates = new Ajv2020({ strict: false }).compile(schema ?? {});
      const response = await h.app.request("/v1/admin/kill-switch/all-writes", {
        method: method.toUpperCase(),
        headers: {
          authorization: `Bearer ${await h.accessToken(ADMIN)}`,
          "x-device-posture": await h.postureToken({ user: ADMIN.user }),
          "content-type": "application/json",
        },
        body: "{}",
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { code: string }).code).toBe("kill_switch_reason_invalid");
      // The document must not call that body valid.
      expect(validates({})).toBe(false);
      expect(validates({ reason: "INC-42" })).toBe(true);
    },
  );
});
