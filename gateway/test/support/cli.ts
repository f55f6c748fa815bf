// The admin commands' tests: a command spawned for real (node, its own process) and the admin
// routes it calls served on a loopback socket by this process.
import { execFile } from "node:child_process";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { serve } from "@hono/node-server";
import type { Context, Hono } from "hono";
import type { AdminPrincipal } from "../../src/lib/admin.ts";
import { GatewayError } from "../../src/lib/errors.ts";

export const REPO = resolve(import.meta.dirname, "../../..");

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cli` with `args` and only PATH plus `env` in its environment; never rejects. */
export function runCli(
  cli: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { cwd: REPO, env: { PATH: process.env["PATH"] ?? "", ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** Serves `app` on 127.0.0.1, a free port: its base URL and how to stop it. */
export async function serveOnLoopback(app: Hono): Promise<{ url: string; close(): Promise<void> }> {
  let server: ReturnType<typeof serve> | undefined;
  await new Promise<void>((ready) => {
    server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => {
      ready();
    });
  });
  if (server === undefined) throw new Error("the server did not start");
  const started = server;
  return {
    url: `http://127.0.0.1:${String((started.address() as AddressInfo).port)}`,
    close: () =>
      new Promise((done) => {
        started.close(() => {
          done();
        });
      }),
  };
}

/** The tokens the fake authentication below knows, as the commands read them from the environment. */
export const ADMIN_ENV = { ZYX_ADMIN_TOKEN: "admin-token", ZYX_ADMIN_POSTURE: "admin-posture" };

/**
 * A stand-in for the app's verified-admin check: "admin-token" with "admin-posture" is a security
 * admin, "engineer-token" an engineer, anything else token_invalid.
 */
export function fakeAdminAuthentication(c: Context): AdminPrincipal {
  const token = c.req.header("authorization")?.replace(/^Bearer /, "");
  if (token === "admin-token" && c.req.header("x-device-posture") === "admin-posture") {
    return { subject: "u-sec-admin", groups: ["grp-ai-security-admins"] };
  }
  if (token === "engineer-token") return { subject: "u-engineer", groups: ["grp-ai-users"] };
  throw new GatewayError("token_invalid", "signature verification failed");
}
