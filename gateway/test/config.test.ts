// The gateway's configuration from the environment (config.ts): empty variables are unset ones
// (compose passes "" for its `${X:-}` defaults), and settings that would fail silently in
// production stop the process at boot with the variable named.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

describe("gateway configuration", () => {
  it("TRUSTED_PROXIES: none by default; CIDRs checked at boot, the variable named", () => {
    expect(loadConfig({}).trustedProxies).toEqual([]);
    expect(
      loadConfig({ TRUSTED_PROXIES: "172.30.80.10/32, 10.0.0.0/8,fd00::/8" }).trustedProxies,
    ).toEqual(["172.30.80.10/32", "10.0.0.0/8", "fd00::/8"]);
    expect(() => loadConfig({ TRUSTED_PROXIES: "10.0.0.0/8,lb.internal" })).toThrow(
      /TRUSTED_PROXIES: lb\.internal: not an IPv4 or IPv6 CIDR/,
    );
    expect(() => loadConfig({ TRUSTED_PROXIES: "0.0.0.0/33" })).toThrow(ConfigError);
  });

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

  it("gives DATABASE_PASSWORD_FILE to every PostgreSQL store", () => {
    const config = loadConfig({
      APPROVAL_STORE: "postgres",
      APPROVAL_DATABASE_URL: "postgresql://zyx@db.internal:5432/zyx",
      KILL_SWITCH_STORE: "postgres",
      LIMITS_STORE: "postgres",
      SESSION_STORE: "postgres",
      SESSION_DATABASE_URL: "postgresql://sessions@db2.internal:5432/zyx",
      DATABASE_PASSWORD_FILE: "/run/secrets/database_password",
    });
    const postgres = { kind: "postgres", passwordFile: "/run/secrets/database_password" };
    expect(config.approvalStore).toMatchObject({
      ...postgres,
      connectionString: "postgresql://zyx@db.internal:5432/zyx",
    });
    expect(config.killSwitchStore).toMatchObject({
      ...postgres,
      connectionString: "postgresql://zyx@db.internal:5432/zyx",
    });
    expect(config.limitsStore).toMatchObject(postgres);
    expect(config.sessionStore).toMatchObject({
      ...postgres,
      connectionString: "postgresql://sessions@db2.internal:5432/zyx",
    });
  });

  it("refuses a database URL with a password beside DATABASE_PASSWORD_FILE, without printing it", () => {
    const attempt = () =>
      loadConfig({
        APPROVAL_STORE: "postgres",
        APPROVAL_DATABASE_URL: "postgresql://zyx@db.internal:5432/zyx",
        LIMITS_DATABASE_URL: "postgresql://zyx:hunter2-secret@db.internal:5432/zyx",
        DATABASE_PASSWORD_FILE: "/run/secrets/database_password",
      });
    expect(attempt).toThrow(
      new ConfigError(
        "LIMITS_DATABASE_URL carries a password and DATABASE_PASSWORD_FILE is set: set one, not both",
      ),
    );
    // Without the file, a URL with its password is still accepted (as before).
    expect(
      loadConfig({
        APPROVAL_STORE: "postgres",
        APPROVAL_DATABASE_URL: "postgresql://zyx:hunter2-secret@db.internal:5432/zyx",
      }).approvalStore,
    ).toMatchObject({ kind: "postgres", passwordFile: undefined });
  });
});
