// Who may approve a call, and when, as one comparable text: what forensic replay and the shadow
// policy compare besides allow, reasons and the approver count (a candidate policy that lets
// anyone approve a security-group change changes none of those).
//
// Invariant: the same groups in any order or repeated give the same text; an approval without
// approvers, or without both group lists (a record written before they were recorded), gives
// undefined, never a text that would compare equal or unequal by accident.

import { member } from "../audit/records.ts";

/**
 * "approver groups | fallback groups | mode", each list sorted; undefined when no approver is
 * required (the groups decide nothing then) or the groups are absent.
 */
export function approversOf(approval: unknown): string | undefined {
  const required = member(approval, "approvers_required");
  if (typeof required !== "number" || required === 0) return undefined;
  const groups = (key: string): string | undefined => {
    const value = member(approval, key);
    return Array.isArray(value)
      ? [...new Set(value.filter((g): g is string => typeof g === "string"))].sort().join(",")
      : undefined;
  };
  const approverGroups = groups("approver_groups");
  const fallbackGroups = groups("fallback_groups");
  if (approverGroups === undefined || fallbackGroups === undefined) return undefined;
  const mode = member(approval, "mode");
  return `${approverGroups} | ${fallbackGroups} | ${typeof mode === "string" ? mode : "none"}`;
}
