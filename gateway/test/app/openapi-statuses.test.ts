// Every status the people routes answer is one the generated OpenAPI document lists for them:
// a client generated from the document has a branch for each (found by a review).
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/lib/errors.ts";
import { createHarness } from "../support/harness.ts";

interface Doc {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
}

describe("the OpenAPI document lists what the people routes answer", () => {
  it("413 and 503 from approve, deny, the kill switch's GET and the taint list are documented", async () => {
    // An identity provider whose JWKS cannot be fetched: every authenticated route says 503.
    const h = await createHarness({
      ports: () => ({
        accessTokens: {
          verify: () =>
            Promise.reject(new GatewayError("identity_provider_unavailable", "JWKS unreachable")),
        },
      }),
    });
    const doc = (await (await h.app.request("/openapi.json")).json()) as Doc;
    const id = crypto.randomUUID();
    const headers = { authorization: "Bearer x.y.z", "x-device-posture": "p" };
    const cases: [string, string, string, RequestInit][] = [
      [
        "/v1/approvals/{id}/approve",
        "post",
        `/v1/approvals/${id}/approve`,
        { method: "POST", headers, body: "x".repeat(32_768) },
      ],
      [
        "/v1/approvals/{id}/approve",
        "post",
        `/v1/approvals/${id}/approve`,
        { method: "POST", headers },
      ],
      [
        "/v1/approvals/{id}/deny",
        "post",
        `/v1/approvals/${id}/deny`,
        { method: "POST", headers, body: '{"reason":"no"}' },
      ],
      ["/v1/admin/kill-switch", "get", "/v1/admin/kill-switch", { headers }],
      ["/v1/admin/taints", "get", "/v1/admin/taints", { headers }],
    ];
    const undocumented: string[] = [];
    for (const [path, method, url, init] of cases) {
      const response = await h.app.request(url, init);
      const documented = Object.keys(doc.paths[path]?.[method]?.responses ?? {});
      if (!documented.includes(String(response.status))) {
        undocumented.push(`${method.toUpperCase()} ${path} answered ${String(response.status)}`);
      }
    }
    expect(undocumented).toEqual([]);
  });
});
