// The kill switch's admin API, a Hono sub-app to mount under /v1/admin:
//
//   GET    /kill-switch            the state, its version and its recent history
//   PUT    /kill-switch/{scope}    {"value"?: string, "reason": string}: turn the scope on
//   DELETE /kill-switch/{scope}    {"value"?: string, "reason": string}: turn it off
//
// {scope}: all-writes (no value), read-only (value: the agent), connector, user, agent, workflow.
// Each request, in order, failing closed: body limit (413) → a body only as application/json
// (415 request_media_type_unsupported) → `authenticate(c)`, the verified principal (its
// GatewayError: 401 with WWW-Authenticate, or 503) → one of `adminGroups` (403 admin_forbidden)
// → scope (404) → body (400) → the change (see service.ts). Errors are thrown; the app's one
// onError renders every problem document (lib/problem.ts).
import type { Context } from "hono";
import { Hono } from "hono";
import { ADMIN_BODY_LIMIT_BYTES, KillSwitchChangeBody } from "../http/contract.ts";
import {
  checkAdminGroups,
  DEFAULT_ADMIN_GROUPS,
  noStore,
  requireAdminGroup,
  type AdminPrincipal,
} from "../lib/admin.ts";
import { limitJsonBody, parseJson, parseWith } from "../lib/body.ts";
import { checkSourceOf, type SourceOf } from "../lib/client-address.ts";
import { KillSwitchError } from "./errors.ts";
import { checkReason, KILL_SWITCH_SCOPES, scopeFromSlug, scopeSlug } from "./scopes.ts";
import type { KillSwitch } from "./service.ts";

export type { AdminPrincipal };

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
  /** Where a request came from (lib/client-address.ts sourceOf), recorded with each change. */
  sourceOf?: SourceOf | undefined;
}

export { DEFAULT_ADMIN_GROUPS };

function checkOptions(options: KillSwitchRoutesOptions): ReadonlySet<string> {
  if (typeof options.killSwitch !== "object") throw new TypeError("killSwitch is required");
  if (typeof options.authenticate !== "function") {
    throw new TypeError("authenticate must be a function");
  }
  checkSourceOf(options.sourceOf);
  return checkAdminGroups(options.adminGroups);
}

export function createKillSwitchRoutes(options: KillSwitchRoutesOptions): Hono {
  const admins = checkOptions(options);
  const { killSwitch, authenticate } = options;
  const maxBody = options.bodyLimitBytes ?? ADMIN_BODY_LIMIT_BYTES;

  async function admin(c: Context): Promise<AdminPrincipal> {
    return requireAdminGroup(await authenticate(c), admins);
  }

  const app = new Hono();
  app.get("/kill-switch", async (c) => {
    await admin(c);
    return noStore(c, killSwitch.state());
  });

  const limit = limitJsonBody(maxBody);
  for (const action of ["set", "clear"] as const) {
    const route = action === "set" ? app.put.bind(app) : app.delete.bind(app);
    route("/kill-switch/:scope", limit, async (c) => {
      const principal = await admin(c);
      const slug = c.req.param("scope");
      const scope = scopeFromSlug(slug);
      if (scope === undefined) {
        throw new KillSwitchError(
          "kill_switch_scope_unknown",
          `unknown kill-switch scope ${slug}: one of ${KILL_SWITCH_SCOPES.map(scopeSlug).join(", ")}`,
        );
      }
      const body = parseWith(
        KillSwitchChangeBody,
        parseJson(await c.req.text(), {}),
        'the request body must be {"value"?: string, "reason": string}',
      );
      const by =
        principal.email === undefined
          ? principal.subject
          : { subject: principal.subject, email: principal.email };
      const source = options.sourceOf?.(c);
      const changeOptions = {
        by,
        reason: checkReason(body.reason),
        ...(source === undefined ? {} : { source }),
      };
      const result =
        action === "set"
          ? await killSwitch.set(scope, body.value, changeOptions)
          : await killSwitch.clear(scope, body.value, changeOptions);
      return noStore(c, result);
    });
  }
  return app;
}
