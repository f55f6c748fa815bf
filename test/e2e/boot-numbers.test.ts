// Numeric settings at boot: a blank or oddly written number must stop the gateway and name the
// variable. Number(" ") is 0, and IDP_MAX_TOKEN_AGE_SEC=0 turns the token age check off: a
// setting mangled by a template (a space left where the value was) must not weaken the gateway.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../gateway/src/config.ts";
import { bootGateway as boot } from "../support/processes.ts";

describe("numeric settings", () => {
  it("refuses a blank IDP_MAX_TOKEN_AGE_SEC at boot instead of turning the age check off", async () => {
    const { outcome, output } = await boot({ IDP_MAX_TOKEN_AGE_SEC: " " });
    expect(outcome, output).toBe(1);
    expect(output).toContain("bad configuration: IDP_MAX_TOKEN_AGE_SEC");
  });

  it.each([
    ["IDP_MAX_TOKEN_AGE_SEC", "\t"],
    ["IDP_CLOCK_TOLERANCE_SEC", " "],
    ["IDP_TOKEN_CACHE_MAX", " "],
    ["WORKER_TIMEOUT_MS", "1e4"],
    ["WORKER_TIMEOUT_MS", "0x2710"],
    ["BODY_LIMIT_BYTES", "64k"],
    ["GATEWAY_PORT", "+8080"],
    ["DENIAL_WINDOW_SEC", "900.0"],
  ])("refuses %s=%j, naming it", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
  });

  it("still reads plain digits", () => {
    expect(loadConfig({ IDP_MAX_TOKEN_AGE_SEC: "0" }).accessTokens.maxTokenAgeSec).toBe(0);
    expect(loadConfig({ WORKER_TIMEOUT_MS: "2500" }).worker.timeoutMs).toBe(2_500);
    expect(loadConfig({}).port).toBe(8080);
  });
});
