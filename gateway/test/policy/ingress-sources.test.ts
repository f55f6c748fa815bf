// A security-group change may open ingress only from the catalog's ranges (allowed_ingress_sources),
// judged on the real compiled policy.wasm with arguments the gateway's own schema accepts: before,
// opening a group to the whole Internet was decided exactly like closing it (one approver).
import { describe, expect, it } from "vitest";
import { parseToolArguments } from "../../../common/tool-arguments.ts";
import type { DecisionInput } from "../../src/policy/decision.ts";
import { loadPolicyEngine } from "../../src/policy/engine.ts";
import { BUNDLE_PATH } from "../support/paths.ts";

const NOW = 1_779_242_400; // Wednesday 2026-05-20 10:00 in Singapore

function approvedChange(change: Record<string, string>): DecisionInput {
  const args = {
    account: "111122223333",
    region: "ap-southeast-1",
    group_id: "sg-0a1b2c3d4e5f60718",
    change,
    change_ticket: "CHG-18422",
    rollback_plan: "Revoke the rule from the compensation handle.",
  };
  const parsed = parseToolArguments("aws_modify_security_group", args);
  expect(parsed.ok, JSON.stringify(parsed)).toBe(true); // what the gateway hands the policy
  return {
    principal: { sub: "u-cloud", groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers"] },
    agent: { id: "change-remediator" },
    device: { compliant: true, checked_at: NOW - 60 },
    tool: "aws_modify_security_group",
    arguments: args,
    context: { now: NOW, workflow: "sg-remediation", session_tainted: false, recent_denials: 0 },
    approval: { approvers: [{ sub: "u-approver-1", groups: ["grp-ai-prod-approvers"] }] },
  };
}

async function decide(change: Record<string, string>) {
  const engine = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
  const outcome = engine.evaluate(approvedChange(change));
  if (!outcome.ok) throw new Error(outcome.message);
  return outcome.decision;
}

describe("security-group ingress sources, on the compiled policy", () => {
  it.each([
    { protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
    { protocol: "tcp", port_range: "22", cidr: "::/0" },
    { protocol: "tcp", port_range: "22", cidr: "0.0.0.0/1" },
    { protocol: "tcp", port_range: "3389", cidr: "128.0.0.0/1" },
    { protocol: "tcp", port_range: "0-65535", cidr: "203.0.113.0/24" },
    { protocol: "-1", port_range: "0-65535", cidr: "::/0" },
  ])("refuses to open $protocol $port_range from $cidr, approved or not", async (rule) => {
    const decision = await decide({ action: "authorize_ingress", ...rule });
    expect(decision.allow).toBe(false);
    expect(decision.reasons.map((r) => r.code)).toEqual(["ingress_source_not_allowed"]);
  });

  it.each(["10.20.0.0/16", "172.31.255.0/24", "192.168.0.0/16", "fd00:1234::/32"])(
    "opens ingress from %s with its approver",
    async (cidr) => {
      const decision = await decide({
        action: "authorize_ingress",
        protocol: "tcp",
        port_range: "22",
        cidr,
      });
      expect(decision).toMatchObject({ allow: true, reasons: [] });
    },
  );

  it("revokes a rule open to the Internet (the seed's remediation) with its approver", async () => {
    const decision = await decide({
      action: "revoke_ingress",
      protocol: "tcp",
      port_range: "22",
      cidr: "0.0.0.0/0",
    });
    expect(decision).toMatchObject({ allow: true, reasons: [] });
  });
});
