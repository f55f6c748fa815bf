// The gateway's configuration from the environment (config.ts): empty variables are unset ones
// (compose passes "" for its `${X:-}` defaults), and settings that would fail silently in
// production stop the process at boot with the variable named.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

describe("gateway configuration", () => {
  it("reads an empty variable as unset", () => {
    const config = loadConfig({ IDP_JWKS_URL: "", DECISION_LOG_URL: "", KILL_SWITCH_PAGE_URL: "" });
    expect(config.accessTokens.keys.kind).toBe("file");
    expect(config.decisionLog).toBeUndefined();
    expect(config.reach.pageUrl).toBeUndefined();
  });

  it("refuses a page URL without its routing key outside development keys", () => {
    const production = { KILL_SWITCH_PAGE_URL: "https://events.pagerduty.example/v2/enqueue" };
    expect(() => loadConfig({ ...production, DEV_KEYS: "false" })).toThrow(
      new ConfigError("KILL_SWITCH_PAGE_URL needs KILL_SWITCH_PAGE_ROUTING_KEY"),
    );
    expect(
      loadConfig({ ...production, DEV_KEYS: "false", KILL_SWITCH_PAGE_ROUTING_KEY: "R0UTE" }).reach
        .routingKey,
    ).toBe("R0UTE");
    expect(loadConfig(production).reach.routingKey).toBe("zyx-dev-routing-key");
  });

  it("names the variable whose value is not a URL", () => {
    expect(() => loadConfig({ DECISION_LOG_URL: "not a url" })).toThrow(
      "DECISION_LOG_URL: must be an absolute URL",
    );
  });
});
