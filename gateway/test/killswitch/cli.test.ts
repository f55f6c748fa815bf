// The command, spawned for real against the admin routes served on a loopback socket.
import { join } from "node:path";
import type { Context } from "hono";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminPrincipal } from "../../src/killswitch/routes.ts";
import { createKillSwitchRoutes } from "../../src/killswitch/routes.ts";
import { problemHandler } from "../../src/lib/problem.ts";
import type { KillSwitch } from "../../src/killswitch/service.ts";
import type { Fixture } from "./support.ts";
import { fixture } from "./support.ts";
import {
  ADMIN_ENV,
  fakeAdminAuthentication,
  REPO,
  runCli,
  serveOnLoopback,
} from "../support/cli.ts";

const CLI = join(REPO, "gateway/src/cli/killswitch.ts");

let f: Fixture;
let ks: KillSwitch;
let server: { url: string; close(): Promise<void> };
let gateway: string;
const seen: { authorization?: string | undefined; posture?: string | undefined }[] = [];

function authenticate(c: Context): AdminPrincipal {
  seen.push({
    authorization: c.req.header("authorization"),
    posture: c.req.header("x-device-posture"),
  });
  return fakeAdminAuthentication(c);
}

beforeAll(async () => {
  f = await fixture();
  ks = await f.open();
  const app = new Hono();
  app.onError(problemHandler(() => undefined));
  app.route("/v1/admin", createKillSwitchRoutes({ killSwitch: ks, authenticate }));
  server = await serveOnLoopback(app);
  gateway = server.url;
});

afterAll(async () => {
  await server.close();
  await f.cleanup();
});

/** Runs the command asynchronously (the server answers from this same process). */
const run = (args: string[], env: Record<string, string> = {}) => runCli(CLI, args, env);

describe("npm run killswitch", () => {
  it("sets, shows and clears a scope through the admin API", async () => {
    const set = await run(
      ["set", "connector", "slack", "--reason", "INC-9 slack token leaked", "--gateway", gateway],
      ADMIN_ENV,
    );
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(set.stdout).toMatch(
      /^set: now version 1\nkill switch version 1, last change 2026-11-21T03:00:00\.000Z by u-sec-admin: INC-9 slack token leaked\n {2}all-writes {2}off\n {2}read-only {3}-\n {2}connector {3}slack\n/,
    );
    expect(ks.state().state.kill_switch.connectors).toEqual(["slack"]);
    expect(seen.at(-1)).toEqual({ authorization: "Bearer admin-token", posture: "admin-posture" });

    const again = await run(
      ["set", "connector", "slack", "--reason", "again", "--gateway", gateway],
      ADMIN_ENV,
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^no change: connector slack was already set\n/);

    const status = await run([
      "status",
      "--gateway",
      gateway,
      "--token",
      "admin-token",
      "--posture",
      "admin-posture",
    ]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("  connector   slack\n");

    const json = await run(["status", "--json", "--gateway", gateway], ADMIN_ENV);
    expect(JSON.parse(json.stdout)).toMatchObject({ version: 1, state: ks.state().state });

    const clear = await run(
      ["clear", "connector", "slack", "--reason", "rotated", "--gateway", gateway],
      ADMIN_ENV,
    );
    expect(clear.code).toBe(0);
    expect(clear.stdout).toMatch(/^cleared: now version 2\n/);
    expect(ks.state().state.kill_switch.connectors).toEqual([]);

    const all = await run(
      ["set", "all-writes", "--reason", "freeze", "--gateway", gateway],
      ADMIN_ENV,
    );
    expect(all.code).toBe(0);
    expect(all.stdout).toContain("  all-writes  ON\n");
    expect(ks.state().state.kill_switch.all_writes).toBe(true);
  });

  it("exits 1 with the problem's code and detail when refused, changing nothing", async () => {
    const version = ks.state().version;
    const denied = await run(
      ["set", "agent", "change-reviewer", "--reason", "mine", "--gateway", gateway],
      {
        ZYX_ADMIN_TOKEN: "engineer-token",
      },
    );
    expect(denied).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "refused (403): admin_forbidden: u-engineer is not in a security-admin group (grp-ai-security-admins)\n",
    });
    const bad = await run(
      ["set", "connector", "jora", "--reason", "x", "--gateway", gateway],
      ADMIN_ENV,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      "refused (400): kill_switch_value_invalid: unknown connector jora: the catalog has aws, confluence, github, jira, slack\n",
    );
    expect(ks.state().version).toBe(version);
  });

  it("exits 1 when the gateway cannot be reached", async () => {
    const result = await run(["status", "--gateway", "http://127.0.0.1:9"], ADMIN_ENV);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^cannot reach the gateway at http:\/\/127\.0\.0\.1:9: fetch failed/,
    );
  });

  it.each([
    [["set", "connector", "jira"], ADMIN_ENV, 'set needs --reason "why"'],
    [
      ["set", "everything", "--reason", "x"],
      ADMIN_ENV,
      "unknown scope everything: one of all-writes, read-only, connector, user, agent, workflow",
    ],
    [["set", "all-writes", "jira", "--reason", "x"], ADMIN_ENV, "all-writes takes no value"],
    [["clear", "user", "--reason", "x"], ADMIN_ENV, "user needs a value"],
    [["status"], {}, "no admin access token: pass --token or set ZYX_ADMIN_TOKEN"],
    [["flip"], ADMIN_ENV, "unknown command flip"],
    [["status", "--gateway", "ftp://x"], ADMIN_ENV, "--gateway must be an http or https URL"],
  ])("exits 2 on bad usage: %j", async (args, env, message) => {
    const before = seen.length;
    const result = await run(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr.split("\n")[0]).toBe(message);
    expect(result.stderr).toContain("usage: npm run -s killswitch --");
    expect(seen.length).toBe(before);
  });
});
