// Bounds on what a caller can send to the routes people use (approvals, administration),
// through the real app: malformed ids and oversized bodies are 4xx problem documents, never a
// 500, and nothing changes.
import { describe, expect, it } from "vitest";
import { createHarness, type Harness, APPROVER, ADMIN } from "../support/harness.ts";

async function headers(h: Harness, who: typeof APPROVER): Promise<Record<string, string>> {
  return {
    authorization: `Bearer ${await h.accessToken(who)}`,
    "x-device-posture": await h.postureToken({ user: who.user }),
    "content-type": "application/json",
  };
}

async function problem(response: Response, status: number, code: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  expect(await response.json()).toMatchObject({ status, code });
}

describe("bounded input on the approval and admin routes", () => {
  it("a 10 KB approval id is 400 request_malformed on every approval route", async () => {
    const h = await createHarness();
    const id = "a".repeat(10_240);
    const auth = await headers(h, APPROVER);
    await problem(
      await h.app.request(`/v1/approvals/${id}`, { headers: auth }),
      400,
      "request_malformed",
    );
    for (const verb of ["approve", "deny"]) {
      const response = await h.app.request(`/v1/approvals/${id}/${verb}`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ reason: "no" }),
      });
      await problem(response, 400, "request_malformed");
    }
  });

  it("an approval id that is no UUID is refused before the store is asked", async () => {
    const h = await createHarness();
    const response = await h.app.request("/v1/approvals/../../etc/passwd/approve", {
      method: "POST",
      headers: await headers(h, APPROVER),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });

  it("a 5 MB deny body is 413 request_body_too_large, before it is parsed", async () => {
    const h = await createHarness();
    const response = await h.app.request(`/v1/approvals/${crypto.randomUUID()}/deny`, {
      method: "POST",
      headers: await headers(h, APPROVER),
      body: JSON.stringify({ reason: "x".repeat(5 * 1024 * 1024) }),
    });
    await problem(response, 413, "request_body_too_large");
  });

  it("a 5 MB approve body is 413 too", async () => {
    const h = await createHarness();
    const response = await h.app.request(`/v1/approvals/${crypto.randomUUID()}/approve`, {
      method: "POST",
      headers: await headers(h, APPROVER),
      body: "x".repeat(5 * 1024 * 1024),
    });
    await problem(response, 413, "request_body_too_large");
  });

  it("a 5 MB kill-switch body is 413 and the kill switch does not change", async () => {
    const h = await createHarness();
    const before = h.controls.killSwitch.state().version;
    const response = await h.app.request("/v1/admin/kill-switch/all-writes", {
      method: "PUT",
      headers: await headers(h, ADMIN),
      body: JSON.stringify({ reason: "x".repeat(5 * 1024 * 1024) }),
    });
    await problem(response, 413, "request_body_too_large");
    expect(h.controls.killSwitch.state().version).toBe(before);
  });

  it.each(["soon", "1e3", "0x10", "", "-1", " 5"])(
    "a wait that is not a plain decimal number (%j) is 400, not read as another number",
    async (wait) => {
      const h = await createHarness();
      const response = await h.app.request(
        `/v1/approvals/${crypto.randomUUID()}?wait=${encodeURIComponent(wait)}`,
        { headers: await headers(h, APPROVER) },
      );
      await problem(response, 400, "request_malformed");
    },
  );

  it("a wait in decimal seconds is taken (the request is then looked up: 404)", async () => {
    const h = await createHarness();
    const response = await h.app.request(`/v1/approvals/${crypto.randomUUID()}?wait=0.5`, {
      headers: await headers(h, APPROVER),
    });
    await problem(response, 404, "approval_not_found");
  });

  it.each(["0x10", "1e2", "", "1001", "-1"])(
    "a taint listing limit that is not a whole number up to 1000 (%j) is 400",
    async (limit) => {
      const h = await createHarness();
      const response = await h.app.request(`/v1/admin/taints?limit=${encodeURIComponent(limit)}`, {
        headers: await headers(h, ADMIN),
      });
      await problem(response, 400, "request_malformed");
    },
  );
});
