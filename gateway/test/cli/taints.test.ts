// The taints command, spawned for real against the admin routes served on a loopback socket over
// an in-memory store, with an audit sink that records what the routes wrote.
import { join } from "node:path";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import { problemHandler } from "../../src/lib/problem.ts";
import { actorKey, createSessionSignals } from "../../src/session.ts";
import { createTaintRoutes } from "../../src/taints/routes.ts";
import {
  ADMIN_ENV,
  fakeAdminAuthentication,
  REPO,
  runCli,
  serveOnLoopback,
} from "../support/cli.ts";

const CLI = join(REPO, "gateway/src/cli/taints.ts");
const ACTOR = actorKey("engineer@zyxbank.example", "change-reviewer");

const sessions = createSessionSignals({ denialWindowMs: 60_000 });
const audited: AuditRecordInput[] = [];
let server: { url: string; close(): Promise<void> };

beforeAll(async () => {
  const app = new Hono();
  app.onError(problemHandler(() => undefined));
  app.route(
    "/v1/admin",
    createTaintRoutes({
      taints: sessions,
      authenticate: fakeAdminAuthentication,
      audit: (record) => {
        audited.push(record);
        return Promise.resolve();
      },
      now: () => Date.UTC(2026, 11, 6, 9, 0, 0),
    }),
  );
  server = await serveOnLoopback(app);
});

afterAll(async () => {
  await server.close();
});

const run = (args: string[], env: Record<string, string> = {}) =>
  runCli(CLI, [...args, "--gateway", server.url], env);

describe("npm run taints", () => {
  it("lists the tainted agents, clears one (audited), and says when there was nothing to clear", async () => {
    sessions.taint(ACTOR);
    sessions.taint("s-injected");
    const listed = await run(["list"], ADMIN_ENV);
    expect(listed).toEqual({
      code: 0,
      stdout:
        "1 tainted agent(s), 1 tainted session(s), bound 100000 agents\n" +
        "  engineer@zyxbank.example  change-reviewer\n",
      stderr: "",
    });
    const cleared = await run(
      ["clear-actor", "engineer@zyxbank.example", "change-reviewer", "--reason", "INC-77"],
      ADMIN_ENV,
    );
    expect(cleared).toEqual({ code: 0, stdout: "cleared\n", stderr: "" });
    expect(sessions.isTainted(ACTOR)).toBe(false);
    expect(audited.at(-1)).toMatchObject({
      event: "taint_cleared",
      user: { subject: "u-sec-admin" },
      details: {
        target: { kind: "actor", user: "engineer@zyxbank.example", agent: "change-reviewer" },
        reason: "INC-77",
      },
    });
    const session = await run(
      ["clear-session", "s-injected", "--reason", "x", "--json"],
      ADMIN_ENV,
    );
    expect(JSON.parse(session.stdout)).toEqual({ cleared: true, still_tainted: false });
    const nothing = await run(["clear-session", "s-injected", "--reason", "x"], ADMIN_ENV);
    expect(nothing.stdout).toBe("was not tainted (nothing to clear)\n");
  });

  it("exits 1 with the problem's code when refused, clearing nothing", async () => {
    sessions.taint(ACTOR);
    const denied = await run(
      ["clear-actor", "engineer@zyxbank.example", "change-reviewer", "--reason", "mine"],
      { ZYX_ADMIN_TOKEN: "engineer-token" },
    );
    expect(denied).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "refused (403): admin_forbidden: u-engineer is not in a security-admin group (grp-ai-security-admins)\n",
    });
    expect(sessions.isTainted(ACTOR)).toBe(true);
  });

  it("exits 1 on a 2xx answer it does not understand, with --json too", async () => {
    const other = new Hono();
    other.all("*", (c) => c.json({ hello: "world" }));
    const elsewhere = await serveOnLoopback(other);
    for (const cli of [CLI, join(REPO, "gateway/src/cli/killswitch.ts")]) {
      const args = cli === CLI ? ["list"] : ["status"];
      const result = await runCli(cli, [...args, "--json", "--gateway", elsewhere.url], ADMIN_ENV);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(
        /^unexpected answer from http:\/\/127\.0\.0\.1:\d+\/v1\/admin\//,
      );
    }
    await elsewhere.close();
  });

  it.each([
    [["clear-actor", "engineer@zyxbank.example"], ADMIN_ENV, "clear-actor needs <user> <agent>"],
    [["clear-session", "s-1"], ADMIN_ENV, 'clear-session needs --reason "why"'],
    [["list", "extra"], ADMIN_ENV, "list takes no arguments"],
    [["list", "--limit", "ten"], ADMIN_ENV, "--limit is a number"],
    [["list"], {}, "no admin access token: pass --token or set ZYX_ADMIN_TOKEN"],
    [["wash"], ADMIN_ENV, "unknown command wash"],
  ])("exits 2 on bad usage: %j", async (args, env, message) => {
    const before = audited.length;
    const result = await run(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr.split("\n")[0]).toBe(message);
    expect(result.stderr).toContain("usage: npm run -s taints --");
    expect(audited.length).toBe(before);
  });
});
