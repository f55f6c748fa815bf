// A security-group change needs a rollback plan (rollback_plan_required): judged on the real
// compiled policy.wasm with arguments the gateway's own schema accepts. A plan made only of
// characters that show nothing (zero-width, joiners, soft hyphen, a lone combining mark, Hangul
// fillers, the braille blank, tag characters) passes the schema's blank check, which trims
// whitespace only: the approver would be shown an empty plan, and the policy must refuse it.
import { describe, expect, it } from "vitest";
import { parseToolArguments } from "../../../common/tool-arguments.ts";
import type { DecisionInput } from "../../src/policy/decision.ts";
import { loadPolicyEngine } from "../../src/policy/engine.ts";
import { BUNDLE_PATH } from "../support/paths.ts";

const NOW = 1_779_242_400; // Wednesday 2026-05-20 10:00 in Singapore

function approvedChange(rollbackPlan: string): DecisionInput {
  const args = {
    account: "111122223333",
    region: "ap-southeast-1",
    group_id: "sg-0a1b2c3d4e5f60718",
    change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
    change_ticket: "CHG-18422",
    rollback_plan: rollbackPlan,
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

async function decide(rollbackPlan: string) {
  const engine = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
  const outcome = engine.evaluate(approvedChange(rollbackPlan));
  if (!outcome.ok) throw new Error(outcome.message);
  return outcome.decision;
}

describe("a security-group change's rollback plan, on the compiled policy", () => {
  it.each([
    ["zero-width space", "\u200b"],
    ["joiners", "\u200d\u200c"],
    ["word joiner", "\u2060"],
    ["soft hyphen", "\u00ad"],
    ["combining grapheme joiner", "\u034f"],
    ["Mongolian vowel separator", "\u180e"],
    ["Hangul filler", "\u3164"],
    ["Hangul choseong and jungseong fillers", "\u115f\u1160"],
    ["halfwidth Hangul filler", "\uffa0"],
    ["braille blank", "\u2800"],
    ["tag space", "\u{e0020}"],
    ["musical null notehead", "\u{1d159}"],
    ["next line (C1 control)", "\u0085"],
    ["whitespace around zero-width characters", " \u200b\n\u2800 "],
  ])("refuses a plan that shows nothing (%s), approved or not", async (_name, plan) => {
    const decision = await decide(plan);
    expect(decision.allow).toBe(false);
    expect(decision.reasons.map((r) => r.code)).toEqual(["rollback_plan_required"]);
  });

  it.each(["Re-authorize the revoked rule.", "撤销该规则", "\u200bRe-authorize", "-"])(
    "takes a plan that shows something (%j)",
    async (plan) => {
      const decision = await decide(plan);
      expect(decision).toMatchObject({ allow: true, reasons: [] });
    },
  );
});
