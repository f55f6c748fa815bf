// Every URL the gateway is configured with is an HTTP endpoint it calls. One with another scheme
// (ftp://, file:, a typo such as htps://) used to be accepted: the gateway started, and the
// kill-switch page, the worker or the OPA server then failed at every use. The kill-switch page
// is the worst of them: security is never paged, and nothing says so until a stop is set. A
// blank routing key with production keys pages nowhere just the same.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../gateway/src/config.ts";
import { bootGateway as boot } from "../support/processes.ts";

describe("HTTP endpoint settings", () => {
  it("refuses a kill-switch page URL that is not http(s) at boot, naming it", async () => {
    const { outcome, output } = await boot({ KILL_SWITCH_PAGE_URL: "ftp://events.pagerduty.com/" });
    expect(outcome, output).toBe(1);
    expect(output).toContain("bad configuration: KILL_SWITCH_PAGE_URL");
  });

  it.each([
    ["KILL_SWITCH_PAGE_URL", "htps://events.pagerduty.com/v2/enqueue"],
    ["WORKER_URL", "ftp://worker:8081/"],
    ["POLICY_OPA_URL", "file:///var/run/opa"],
    ["DECISION_LOG_URL", "ftp://siem.zyxbank.example/"],
    ["POLICY_BUNDLE_URL", "s3://bundles/zyx.tar.gz"],
  ])("refuses %s=%s, naming it", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
  });

  it("refuses a plain-http bundle server off this host: its token and a replayed bundle", () => {
    // The bundle is signed, but the server's bearer token is not, and a path anyone can answer on
    // could serve an older signed bundle (a rollback); loopback and https are accepted.
    expect(() => loadConfig({ POLICY_BUNDLE_URL: "http://bundles.zyxbank.example/zyx" })).toThrow(
      /^POLICY_BUNDLE_URL: must use https/,
    );
    for (const ok of ["https://bundles.zyxbank.example/zyx", "http://127.0.0.1:8181/zyx"]) {
      expect(() => loadConfig({ POLICY_BUNDLE_URL: ok })).not.toThrow();
    }
  });

  it("refuses a blank routing key with production keys", () => {
    expect(() =>
      loadConfig({
        DEV_KEYS: "false",
        KILL_SWITCH_PAGE_URL: "https://events.pagerduty.com/v2/enqueue",
        KILL_SWITCH_PAGE_ROUTING_KEY: "   ",
      }),
    ).toThrow(/^KILL_SWITCH_PAGE_ROUTING_KEY: /);
  });
});
