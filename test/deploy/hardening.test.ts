// Deployment hardening the README and the compose file promise, checked on the shipped files:
// the runtime sees only its own client secret, the load balancer holds clients to the gateway's
// limits, and the kill-switch page's routing key reaches the gateways.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "../support/processes.ts";
import { externalAgentIds, loadCatalog } from "../../common/catalog.ts";
import { loadConfig as loadGatewayConfig } from "../../gateway/src/config.ts";

interface Service {
  environment?: Record<string, string>;
  volumes?: (
    string | { type: string; source: string; target: string; volume?: { subpath?: string } }
  )[];
  secrets?: string[];
}
const compose = parse(readFileSync(join(REPO_ROOT, "docker-compose.yml"), "utf8")) as {
  services: Record<string, Service>;
};
const services = compose.services;

describe("deployment hardening", () => {
  it("mounts only the change-review runtime's own client secret, not every client's", () => {
    // The dev IdP writes <state>/clients/<client>.secret for every catalog agent and for the
    // approver console (idp/src/main.ts -> ensureDevClients). Whatever the runtime mounts from
    // the state volume may expose change-reviewer.secret and nothing else.
    const written = [...externalAgentIds(loadCatalog()), "approvals-console"].map(
      (client) => `clients/${client}.secret`,
    );
    const exposed = new Set<string>();
    for (const volume of services["agent-runtime"]?.volumes ?? []) {
      if (typeof volume === "string" || volume.source !== "state") continue;
      const subpath = volume.volume?.subpath ?? "";
      for (const file of written)
        if (subpath === "" || file === subpath || file.startsWith(`${subpath}/`)) exposed.add(file);
    }
    expect([...exposed].filter((file) => file !== "clients/change-reviewer.secret")).toEqual([]);
  });

  it("lb enforces the gateway's body limit and drops stalled clients, as the replicas do", () => {
    const nginx = readFileSync(join(REPO_ROOT, "deploy/nginx.conf"), "utf8");
    const directive = (name: string) =>
      new RegExp(`^\\s*${name}\\s+([^;]+);`, "m").exec(nginx)?.[1]?.trim();
    const bytes = (v: string | undefined) => {
      const m = /^(\d+)([kKmM]?)$/.exec(v ?? "");
      if (m === null) return Number.POSITIVE_INFINITY;
      return Number(m[1]) * ({ "": 1, k: 1024, m: 1024 * 1024 }[(m[2] ?? "").toLowerCase()] ?? 1);
    };
    const seconds = (v: string | undefined) => {
      const m = /^(\d+)s?$/.exec(v ?? "");
      return m === null ? Number.POSITIVE_INFINITY : Number(m[1]);
    };
    // BODY_LIMIT_BYTES is not set in compose: the gateway's default, 64 KiB.
    const gatewayLimit = loadGatewayConfig({}).bodyLimitBytes;
    expect(bytes(directive("client_max_body_size")), "client_max_body_size").toBeLessThanOrEqual(
      gatewayLimit,
    );
    // The replicas drop a client whose headers take > 10 s or whose request takes > 30 s
    // (common/service.ts); nginx's defaults (60 s, and the body timeout only between two
    // reads) let a client trickle a body for ever while holding one of 1024 connections.
    expect(
      seconds(directive("client_header_timeout")),
      "client_header_timeout",
    ).toBeLessThanOrEqual(10);
    expect(seconds(directive("client_body_timeout")), "client_body_timeout").toBeLessThanOrEqual(
      10,
    );
    expect(directive("limit_conn"), "limit_conn per client address").toBeDefined();
  });

  it("passes the kill-switch page's routing key with its URL (required with DEV_KEYS=false)", () => {
    // README: KILL_SWITCH_PAGE_URL is passed through; KILL_SWITCH_PAGE_ROUTING_KEY is required
    // with DEV_KEYS=false. Production sets both (and DEV_KEYS=false) in the environment of
    // `docker compose up`: the gateway must still start.
    const operator: Record<string, string> = {
      ZYX_DATABASE_URL: "postgresql://zyx@db.internal:5432/zyx",
      DEV_KEYS: "false",
      KILL_SWITCH_PAGE_URL: "https://events.pagerduty.com/v2/enqueue",
      KILL_SWITCH_PAGE_ROUTING_KEY: "R0UT1NGKEY",
    };
    const interpolate = (value: string) =>
      value.replace(
        /\$\{([A-Z0-9_]+)(?::[-?]([^}]*))?\}/g,
        (_, name: string, fallback?: string) => operator[name] ?? fallback ?? "",
      );
    const environment = Object.fromEntries(
      Object.entries(services["gateway"]?.environment ?? {}).map(([k, v]) => [k, interpolate(v)]),
    );
    expect(() => loadGatewayConfig(environment)).not.toThrow();
    expect(loadGatewayConfig(environment).reach.routingKey).toBe("R0UT1NGKEY");
  });
});
