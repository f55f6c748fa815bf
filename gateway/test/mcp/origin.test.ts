// MCP Streamable HTTP (2025-06-18 and 2025-11-25, "Security Warning"): servers MUST validate
// the Origin header of every request and answer 403 when it is present and invalid (DNS
// rebinding protection). The gateway's own origin, or none, passes.
import { describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../support/harness.ts";
import { postAsEngineer } from "./support.ts";

/** A ping, with this Origin header or none. */
const ping = (h: Harness, origin: string | undefined) =>
  postAsEngineer(
    h,
    { jsonrpc: "2.0", id: 1, method: "ping" },
    origin === undefined ? {} : { origin },
  );

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
