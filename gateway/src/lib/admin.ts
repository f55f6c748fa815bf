// Who may administer (the kill switch, session taints): a verified person in one of the admin
// groups. The routes authenticate first (console, device, posture age, kill switch: app.ts);
// this is the group check they share, and the option check their factories run at construction.
import type { Context } from "hono";
import { GatewayError } from "./errors.ts";

/** What the admin routes need of the verified caller (VerifiedPrincipal fits). */
export interface AdminPrincipal {
  subject: string;
  email?: string | undefined;
  groups: readonly string[];
}

export const DEFAULT_ADMIN_GROUPS: readonly string[] = ["grp-ai-security-admins"];

/** The admin groups as a set; throws TypeError unless a non-empty list of names. */
export function checkAdminGroups(groups: readonly string[] | undefined): ReadonlySet<string> {
  const adminGroups = groups ?? DEFAULT_ADMIN_GROUPS;
  if (
    !Array.isArray(adminGroups) ||
    adminGroups.length === 0 ||
    !adminGroups.every((group) => typeof group === "string" && group !== "")
  ) {
    throw new TypeError("adminGroups must be a non-empty list of group names");
  }
  return new Set(adminGroups);
}

/** The principal, when in one of `admins`; admin_forbidden otherwise. */
export function requireAdminGroup<P extends AdminPrincipal>(
  principal: P,
  admins: ReadonlySet<string>,
): P {
  if (!principal.groups.some((group) => admins.has(group))) {
    throw new GatewayError(
      "admin_forbidden",
      `${principal.subject} is not in a security-admin group (${[...admins].join(", ")})`,
    );
  }
  return principal;
}

/** An admin answer: JSON, never cached (state that changes under an incident). */
export function noStore(c: Context, body: unknown): Response {
  c.header("cache-control", "no-store");
  return c.json(body);
}
