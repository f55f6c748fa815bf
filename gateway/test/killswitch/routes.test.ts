import { readFile } from "node:fs/promises";
import type { Context } from "hono";
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AdminPrincipal } from "../../src/killswitch/routes.ts";
import { createKillSwitchRoutes } from "../../src/killswitch/routes.ts";
import type { KillSwitch } from "../../src/killswitch/service.ts";
import { GatewayError } from "../../src/lib/errors.ts";
import { problemHandler } from "../../src/lib/problem.ts";

const logged: unknown[] = [];
const log = (...entry: unknown[]): void => {
  logged.push(entry);
};
import type { PolicyState } from "../../src/policy/decision.ts";
import type { Fixture } from "./support.ts";
import { clearState, fixture } from "./support.ts";

const PRINCIPALS: Record<string, AdminPrincipal> = {
  "admin-token": {
    subject: "u-sec-admin",
    email: "sec.admin@zyxbank.example",
    groups: ["grp-ai-users", "grp-ai-security-admins"],
  },
  "engineer-token": {
    subject: "u-engineer",
    email: "engineer@zyxbank.example",
    groups: ["grp-ai-users", "grp-ai-devops-readonly", "grp-ai-security-readonly"],
  },
  "oncall-token": { subject: "u-oncall", groups: ["grp-ai-security-oncall"] },
};

/** A stand-in for the gateway's access-token + posture verification. */
function authenticate(c: Context): AdminPrincipal {
  const header = c.req.header("authorization");
  if (header === undefined) throw new GatewayError("token_missing", "no bearer token");
  const principal = PRINCIPALS[header.replace(/^Bearer /, "")];
  if (principal === undefined) {
    throw new GatewayError("token_invalid", "signature verification failed");
  }
  return principal;
}

let f: Fixture;
let ks: KillSwitch;
let app: Hono;

function mount(options: Partial<Parameters<typeof createKillSwitchRoutes>[0]> = {}): Hono {
  // Mounted as the gateway mounts it: under the app's one error handler.
  const root = new Hono();
  root.onError(problemHandler(log));
  root.route("/v1/admin", createKillSwitchRoutes({ killSwitch: ks, authenticate, ...options }));
  return root;
}

beforeEach(async () => {
  f = await fixture();
  ks = await f.open();
  app = mount();
  f.events.length = 0;
});

afterEach(async () => {
  await f.cleanup();
});

function call(
  method: "GET" | "PUT" | "DELETE",
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers["authorization"] = `Bearer ${token}`;
  return Promise.resolve(
    app.request(`/v1/admin${path}`, {
      method,
      headers,
      ...(body === undefined
        ? {}
        : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    }),
  );
}

async function problem(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return (await response.json()) as Record<string, unknown>;
}

const URL_SCOPES: {
  slug: string;
  value: string | undefined;
  key: keyof PolicyState["kill_switch"];
}[] = [
  { slug: "all-writes", value: undefined, key: "all_writes" },
  { slug: "read-only", value: "change-reviewer", key: "read_only_agents" },
  { slug: "connector", value: "slack", key: "connectors" },
  { slug: "user", value: "intern@zyxbank.example", key: "users" },
  { slug: "agent", value: "change-remediator", key: "agents" },
  { slug: "workflow", value: "change-review", key: "workflows" },
];

function on(key: keyof PolicyState["kill_switch"], value: string | undefined): PolicyState {
  const state = clearState();
  if (key === "all_writes") state.kill_switch.all_writes = true;
  else state.kill_switch[key] = [value ?? ""];
  return state;
}

function bodyOf(value: string | undefined, reason: string): Record<string, string> {
  return value === undefined ? { reason } : { value, reason };
}

describe("GET /v1/admin/kill-switch", () => {
  it("gives an admin the state, its version and its history", async () => {
    await ks.set("connector", "aws", { by: "u-sec-admin", reason: "INC-1" });
    const response = await call("GET", "/kill-switch", "admin-token");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({
      version: 1,
      applied_version: 1,
      updated_at: "2026-11-21T03:00:00.000Z",
      updated_by: "u-sec-admin",
      reason: "INC-1",
      state: on("connectors", "aws"),
      history: [
        {
          version: 1,
          at: "2026-11-21T03:00:00.000Z",
          by: "u-sec-admin",
          reason: "INC-1",
          action: "set",
          scope: "connector",
          value: "aws",
        },
      ],
    });
  });

  it("refuses a non-admin with 403 admin_forbidden", async () => {
    const response = await call("GET", "/kill-switch", "engineer-token");
    expect(response.status).toBe(403);
    expect(await problem(response)).toEqual({
      type: "https://gateway.zyxbank.example/problems/admin_forbidden",
      title: "Not a security administrator",
      status: 403,
      detail: "u-engineer is not in a security-admin group (grp-ai-security-admins)",
      code: "admin_forbidden",
    });
  });

  it("refuses an invalid token with the gateway's 401 problem and challenge", async () => {
    const response = await call("GET", "/kill-switch", "forged-token");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      'Bearer realm="zyx-agent-gateway", error="invalid_token", error_description="signature verification failed"',
    );
    expect(await problem(response)).toEqual({
      type: "https://gateway.zyxbank.example/problems/token_invalid",
      title: "Access token invalid",
      status: 401,
      detail: "signature verification failed",
      code: "token_invalid",
    });
  });
});

describe.each(URL_SCOPES)("PUT and DELETE /v1/admin/kill-switch/$slug", ({ slug, value, key }) => {
  it("an admin sets it: visible to the next state() and handed to apply", async () => {
    const response = await call(
      "PUT",
      `/kill-switch/${slug}`,
      "admin-token",
      bodyOf(value, "INC-7"),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      changed: true,
      version: 1,
      applied_version: 1,
      updated_by: "u-sec-admin",
      reason: "INC-7",
      state: on(key, value),
    });
    expect(ks.state().state).toEqual(on(key, value));
    expect(f.applied.at(-1)).toEqual(on(key, value));
    expect(f.events).toEqual(["audit", "write", "apply"]);
    expect(f.audits.at(-1)).toMatchObject({
      event: "kill_switch",
      user: { subject: "u-sec-admin", email: "sec.admin@zyxbank.example" },
      details: { action: "set", value: value ?? null, reason: "INC-7", new_version: 1 },
    });

    const cleared = await call(
      "DELETE",
      `/kill-switch/${slug}`,
      "admin-token",
      bodyOf(value, "over"),
    );
    expect(cleared.status).toBe(200);
    expect(await cleared.json()).toMatchObject({ changed: true, version: 2, state: clearState() });
    expect(ks.state().state).toEqual(clearState());
    expect(f.applied.at(-1)).toEqual(clearState());
  });

  it.each([
    ["a non-admin", "engineer-token", 403, "admin_forbidden"],
    ["the on-call group", "oncall-token", 403, "admin_forbidden"],
    ["an invalid token", "forged-token", 401, "token_invalid"],
    ["no token", undefined, 401, "token_missing"],
  ])("%s never changes it", async (_name, token, status, code) => {
    await ks.set("user", "u-somebody", { by: "u-sec-admin", reason: "setup" });
    const before = ks.state();
    const bytes = await readFile(f.path, "utf8");
    f.events.length = 0;
    for (const method of ["PUT", "DELETE"] as const) {
      const response = await call(method, `/kill-switch/${slug}`, token, bodyOf(value, "mine"));
      expect(response.status).toBe(status);
      expect((await problem(response))["code"]).toBe(code);
    }
    // Clearing what is set is refused too.
    const response = await call("DELETE", "/kill-switch/user", token, {
      value: "u-somebody",
      reason: "let me in",
    });
    expect(response.status).toBe(status);
    expect(ks.state()).toEqual(before);
    expect(await readFile(f.path, "utf8")).toBe(bytes);
    expect(f.events).toEqual([]);
  });
});

describe("PUT and DELETE: refusals", () => {
  it("refuses an unknown scope with 404, after checking the caller", async () => {
    const response = await call("PUT", "/kill-switch/everything", "admin-token", { reason: "x" });
    expect(response.status).toBe(404);
    expect(await problem(response)).toEqual({
      type: "https://gateway.zyxbank.example/problems/kill_switch_scope_unknown",
      title: "Unknown kill-switch scope",
      status: 404,
      detail:
        "unknown kill-switch scope everything: one of all-writes, read-only, connector, user, agent, workflow",
      code: "kill_switch_scope_unknown",
    });
    const underscore = await call("PUT", "/kill-switch/all_writes", "admin-token", { reason: "x" });
    expect(underscore.status).toBe(404);
    const stranger = await call("PUT", "/kill-switch/everything", "engineer-token", {
      reason: "x",
    });
    expect(stranger.status).toBe(403);
  });

  it.each([
    ["no body", undefined, 400, "kill_switch_reason_invalid", "a reason is required"],
    ["an empty reason", { reason: "" }, 400, "kill_switch_reason_invalid", "a reason is required"],
    [
      "a reason that is not a string",
      { reason: 42 },
      400,
      "kill_switch_reason_invalid",
      "a reason is required",
    ],
    [
      "a reason of 501 characters",
      { reason: "r".repeat(501) },
      400,
      "kill_switch_reason_invalid",
      "the reason is longer than 500 characters",
    ],
    [
      "a body that is not JSON",
      "{reason:",
      400,
      "request_malformed",
      "the request body is not JSON",
    ],
    [
      "an unknown member",
      { reason: "x", force: true },
      400,
      "request_malformed",
      'the request body must be {"value"?: string, "reason": string}',
    ],
    [
      "a value that is not a string",
      { value: 7, reason: "x" },
      400,
      "request_malformed",
      'the request body must be {"value"?: string, "reason": string}',
    ],
  ])("refuses %s", async (_name, body, status, code, detail) => {
    const response = await call("PUT", "/kill-switch/agent", "admin-token", body);
    expect(response.status).toBe(status);
    expect(await problem(response)).toMatchObject({ status, code, detail });
    expect(ks.state().version).toBe(0);
    expect(f.events).toEqual([]);
  });

  it("lists each problem of a malformed body", async () => {
    const response = await call("PUT", "/kill-switch/agent", "admin-token", {
      value: 7,
      reason: "x",
    });
    expect((await problem(response))["issues"]).toEqual([
      { path: "value", message: "Invalid input: expected string, received number" },
    ]);
  });

  it.each([
    ["all-writes", { value: "jira", reason: "x" }, "the all_writes scope takes no value"],
    ["connector", { reason: "x" }, "the connector scope needs a value"],
    [
      "connector",
      { value: "jora", reason: "x" },
      "unknown connector jora: the catalog has aws, confluence, github, jira, slack",
    ],
    [
      "user",
      { value: "", reason: "x" },
      "a user must be 1 to 320 characters (a subject or an email)",
    ],
  ])(
    "refuses a bad value for %s with 400 kill_switch_value_invalid",
    async (slug, body, detail) => {
      const response = await call("PUT", `/kill-switch/${slug}`, "admin-token", body);
      expect(response.status).toBe(400);
      expect(await problem(response)).toEqual({
        type: "https://gateway.zyxbank.example/problems/kill_switch_value_invalid",
        title: "Invalid kill-switch value",
        status: 400,
        detail,
        code: "kill_switch_value_invalid",
      });
    },
  );

  it("refuses a body over the limit with 413 before anything else", async () => {
    const big = mount({ bodyLimitBytes: 256 });
    const response = await big.request("/v1/admin/kill-switch/user", {
      method: "PUT",
      headers: { authorization: "Bearer engineer-token", "content-type": "application/json" },
      body: JSON.stringify({ value: "u-x", reason: "r".repeat(400) }),
    });
    expect(response.status).toBe(413);
    expect(await problem(response)).toMatchObject({
      code: "request_body_too_large",
      detail: "the request body exceeds 256 bytes",
    });
  });

  it("answers 503 audit_unavailable when the audit cannot be written: nothing changed", async () => {
    f.fail.audit = true;
    const response = await call("PUT", "/kill-switch/all-writes", "admin-token", { reason: "x" });
    expect(response.status).toBe(503);
    expect(await problem(response)).toMatchObject({
      code: "audit_unavailable",
      title: "Audit log unavailable",
      detail:
        "the audit record of this change could not be written, so nothing changed: EIO: i/o error, fdatasync",
    });
    expect(ks.state().state).toEqual(clearState());
    expect(f.events).toEqual(["audit"]);
  });

  it("answers 503 kill_switch_apply_failed with the versions when the policy did not take it", async () => {
    f.fail.apply = true;
    const response = await call("PUT", "/kill-switch/all-writes", "admin-token", { reason: "x" });
    expect(response.status).toBe(503);
    expect(await problem(response)).toMatchObject({
      code: "kill_switch_apply_failed",
      version: 1,
      applied_version: 0,
    });
    f.fail.apply = false;
    const retry = await call("PUT", "/kill-switch/all-writes", "admin-token", { reason: "x" });
    expect(await retry.json()).toMatchObject({ changed: false, version: 1, applied_version: 1 });
  });

  it("answers 500 internal_error when authenticate fails unexpectedly", async () => {
    logged.length = 0;
    const broken = mount({
      authenticate: () => {
        throw new Error("boom");
      },
    });
    const response = await broken.request("/v1/admin/kill-switch");
    expect(response.status).toBe(500);
    expect(await problem(response)).toMatchObject({
      code: "internal_error",
      detail: "the gateway failed; nothing was executed or changed",
    });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toEqual([
      "error",
      "unexpected error",
      { error: expect.stringContaining("Error: boom") as unknown },
    ]);
  });

  it("honours the adminGroups option", async () => {
    const oncall = mount({ adminGroups: ["grp-ai-security-oncall"] });
    const ok = await oncall.request("/v1/admin/kill-switch", {
      headers: { authorization: "Bearer oncall-token" },
    });
    expect(ok.status).toBe(200);
    const admin = await oncall.request("/v1/admin/kill-switch", {
      headers: { authorization: "Bearer admin-token" },
    });
    expect(admin.status).toBe(403);
  });

  it("checks its options", () => {
    expect(() => createKillSwitchRoutes({ killSwitch: ks, authenticate, adminGroups: [] })).toThrow(
      "adminGroups must be a non-empty list of group names",
    );
    expect(() =>
      createKillSwitchRoutes({
        killSwitch: ks,
        authenticate: undefined as unknown as typeof authenticate,
      }),
    ).toThrow("authenticate must be a function");
  });
});
