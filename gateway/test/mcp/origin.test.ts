// MCP Streamable HTTP (2025-06-18 and 2025-11-25, "Security Warning"): servers MUST validate
// the Origin header of every request and answer 403 when it is present and invalid (DNS
// rebinding protection). The gateway's own origin, or none, passes.
import { describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../support/harness.ts";

async function ping(h: Harness, origin: string | undefined): Promise<Response> {
  return h.app.request("http://gateway.test/mcp", {
    method: "POST",
    headers: {
      authorization: `Bearer ${await h.accessToken()}`,
      "x-device-posture": await h.postureToken(),
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(origin === undefined ? {} : { origin }),
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
  });
}

describe("the MCP door validates the Origin header", () => {
  it("refuses a foreign Origin with 403 (DNS rebinding), accepts its own or none", async () => {
    const h = await createHarness();
    const foreign = await ping(h, "http://evil.example");
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
    expect((await ping(h, "null")).status).toBe(403);
    expect((await ping(h, "http://gateway.test")).status).toBe(200);
    expect((await ping(h, undefined)).status).toBe(200);
  });
});
