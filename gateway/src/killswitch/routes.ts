// The kill switch's admin API, a Hono sub-app to mount under /v1/admin:
//
//   GET    /kill-switch            the state, its version and its recent history
//   PUT    /kill-switch/{scope}    {"value"?: string, "reason": string}: turn the scope on
//   DELETE /kill-switch/{scope}    {"value"?: string, "reason": string}: turn it off
//
// {scope}: all-writes (no value), read-only (value: the agent), connector, user, agent, workflow.
// Each request, in order, failing closed: body limit (413) → `authenticate(c)`, the verified
// principal (its GatewayError: 401 with WWW-Authenticate, or 503) → one of `adminGroups` (403
// admin_forbidden) → scope (404) → body (400) → the change (see service.ts). Every failure is an
// RFC 9457 problem document of the gateway's shape (type, title, status, detail, code).
import type { Context } from "hono";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { GatewayError, isGatewayError } from "../lib/errors.ts";
import { PROBLEM_CONTENT_TYPE, problemOf, wwwAuthenticate } from "../lib/problem.ts";
import { isKillSwitchError, KILL_SWITCH_ERROR_TITLES, KillSwitchError } from "./errors.ts";
import { checkReason, KILL_SWITCH_SCOPES, scopeFromSlug, scopeSlug } from "./scopes.ts";
import type { KillSwitch } from "./service.ts";

/** What the routes need of the verified caller (VerifiedPrincipal fits). */
export interface AdminPrincipal {
  subject: string;
  email?: string | undefined;
  groups: readonly string[];
}

export interface KillSwitchRoutesOptions {
  killSwitch: KillSwitch;
  /**
   * The verified caller (access token and device posture). Throws a GatewayError (token_*,
   * posture_*: 401; identity_provider_unavailable: 503) when the caller cannot be verified.
   */
  authenticate: (c: Context) => AdminPrincipal | Promise<AdminPrincipal>;
  /** Groups whose members may read and change the kill switch. Default ["grp-ai-security-admins"]. */
  adminGroups?: readonly string[] | undefined;
  /** Largest accepted request body (default 16384 bytes). */
  bodyLimitBytes?: number | undefined;
}

export const DEFAULT_ADMIN_GROUPS: readonly string[] = ["grp-ai-security-admins"];

const TYPE_BASE = "https://gateway.zyxbank.example/problems/";

const ChangeBody = z.strictObject({ value: z.string().optional(), reason: z.unknown().optional() });

function killSwitchProblem(error: KillSwitchError): Record<string, unknown> {
  return {
    type: `${TYPE_BASE}${error.code}`,
    title: KILL_SWITCH_ERROR_TITLES[error.code],
    status: error.status,
    detail: error.message,
    ...error.extensions,
    code: error.code,
  };
}

function problemResponse(error: unknown): Response {
  const headers = new Headers({
    "content-type": PROBLEM_CONTENT_TYPE,
    "cache-control": "no-store",
  });
  if (isKillSwitchError(error)) {
    return new Response(JSON.stringify(killSwitchProblem(error)), {
      status: error.status,
      headers,
    });
  }
  const gatewayError = isGatewayError(error)
    ? error
    : new GatewayError("internal_error", "the kill switch failed; nothing was changed");
  if (!isGatewayError(error)) console.error("kill switch: unexpected error", error);
  if (gatewayError.status === 401) headers.set("www-authenticate", wwwAuthenticate(gatewayError));
  return new Response(JSON.stringify(problemOf(gatewayError)), {
    status: gatewayError.status,
    headers,
  });
}

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

export function createKillSwitchRoutes(options: KillSwitchRoutesOptions): Hono {
  const { killSwitch, authenticate } = options;
  if (typeof killSwitch !== "object") throw new TypeError("killSwitch is required");
  if (typeof authenticate !== "function") throw new TypeError("authenticate must be a function");
  const adminGroups = options.adminGroups ?? DEFAULT_ADMIN_GROUPS;
  if (
    !Array.isArray(adminGroups) ||
    adminGroups.length === 0 ||
    !adminGroups.every((group) => typeof group === "string" && group !== "")
  ) {
    throw new TypeError("adminGroups must be a non-empty list of group names");
  }
  const admins: ReadonlySet<string> = new Set(adminGroups);
  const maxBody = options.bodyLimitBytes ?? 16_384;
  if (!Number.isInteger(maxBody) || maxBody < 256) {
    throw new TypeError("bodyLimitBytes must be an integer of at least 256");
  }

  async function admin(c: Context): Promise<AdminPrincipal> {
    const principal = await authenticate(c);
    if (!principal.groups.some((group) => admins.has(group))) {
      throw new KillSwitchError(
        "admin_forbidden",
        `${principal.subject} is not in a security-admin group (${[...admins].join(", ")})`,
      );
    }
    return principal;
  }

  const app = new Hono();
  // A safety net: every handler answers its own failures.
  app.onError((error) => problemResponse(error));

  app.get("/kill-switch", async (c) => {
    try {
      await admin(c);
      return json(killSwitch.state());
    } catch (error) {
      return problemResponse(error);
    }
  });

  const limit = bodyLimit({
    maxSize: maxBody,
    onError: () =>
      problemResponse(
        new GatewayError("request_body_too_large", `the request body exceeds ${maxBody} bytes`),
      ),
  });

  for (const action of ["set", "clear"] as const) {
    const route = action === "set" ? app.put.bind(app) : app.delete.bind(app);
    route("/kill-switch/:scope", limit, async (c) => {
      try {
        const principal = await admin(c);
        const slug = c.req.param("scope");
        const scope = scopeFromSlug(slug);
        if (scope === undefined) {
          throw new KillSwitchError(
            "kill_switch_scope_unknown",
            `unknown kill-switch scope ${slug}: one of ${KILL_SWITCH_SCOPES.map(scopeSlug).join(", ")}`,
          );
        }
        const text = await c.req.text();
        let body: unknown = {};
        if (text.trim() !== "") {
          try {
            body = JSON.parse(text);
          } catch {
            throw new GatewayError("request_malformed", "the request body is not JSON");
          }
        }
        const parsed = ChangeBody.safeParse(body);
        if (!parsed.success) {
          throw new GatewayError(
            "request_malformed",
            'the request body must be {"value"?: string, "reason": string}',
            {
              extensions: {
                issues: parsed.error.issues.map((issue) => ({
                  path: issue.path.map(String).join("."),
                  message: issue.message,
                })),
              },
            },
          );
        }
        const by =
          principal.email === undefined
            ? principal.subject
            : { subject: principal.subject, email: principal.email };
        const changeOptions = { by, reason: checkReason(parsed.data.reason) };
        const result =
          action === "set"
            ? await killSwitch.set(scope, parsed.data.value, changeOptions)
            : await killSwitch.clear(scope, parsed.data.value, changeOptions);
        return json(result);
      } catch (error) {
        return problemResponse(error);
      }
    });
  }

  return app;
}
