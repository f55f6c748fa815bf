// Each scope, set through the kill switch and handed to the real WASM policy (apply =
// PolicyEngine.setState), stops exactly the calls it should and no others, from the very next
// evaluation; clearing it lets them through again. Needs the built bundle (`make policy`).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KillSwitchScope } from "../../src/killswitch/scopes.ts";
import type { KillSwitch } from "../../src/killswitch/service.ts";
import type { DecisionInput } from "../../src/policy/decision.ts";
import type { InProcessPolicyEngine } from "../../src/policy/engine.ts";
import { loadPolicyEngine } from "../../src/policy/engine.ts";
import { BUNDLE_PATH } from "../support/paths.ts";
import type { Fixture } from "./support.ts";
import { fixture } from "./support.ts";

const NOW = 1_779_242_400;

const ENGINEER = {
  sub: "u-engineer",
  email: "engineer@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-devops-readonly"],
};
const ANALYST = {
  sub: "u-analyst",
  email: "analyst@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-security-readonly"],
};

const WORKFLOW: Record<string, string> = {
  "change-reviewer": "change-review",
  "change-remediator": "sg-remediation",
};

function call(
  principal: DecisionInput["principal"],
  agent: string,
  tool: string,
  args: Record<string, unknown>,
): DecisionInput {
  return {
    principal,
    agent: { id: agent },
    device: { compliant: true, checked_at: NOW - 60 },
    tool,
    arguments: args,
    context: {
      now: NOW,
      workflow: WORKFLOW[agent] ?? "unassigned",
      session_tainted: false,
      recent_denials: 0,
    },
  };
}

const COMMENT = { ticket: "CHG-18422", body: "AI security review" };
const MESSAGE = { channel: "devsecops-change-review", text: "CHG-18422 needs review" };

const CALLS: Record<string, DecisionInput> = {
  "engineer reviewer jira_read": call(ENGINEER, "change-reviewer", "jira_read", {
    ticket: "CHG-18422",
  }),
  "engineer reviewer jira_add_comment": call(
    ENGINEER,
    "change-reviewer",
    "jira_add_comment",
    COMMENT,
  ),
  "engineer reviewer slack_post_message": call(
    ENGINEER,
    "change-reviewer",
    "slack_post_message",
    MESSAGE,
  ),
  "engineer reviewer github_read_pr": call(ENGINEER, "change-reviewer", "github_read_pr", {
    repository: "zyx-bank/platform-infra",
    pull_request: 991,
  }),
  "analyst reviewer confluence_read": call(ANALYST, "change-reviewer", "confluence_read", {
    space: "SEC",
  }),
  "engineer remediator jira_read": call(ENGINEER, "change-remediator", "jira_read", {
    ticket: "CHG-18422",
  }),
  "engineer remediator slack_post_message": call(
    ENGINEER,
    "change-remediator",
    "slack_post_message",
    MESSAGE,
  ),
};

const ALL = Object.keys(CALLS);

const CASES: {
  scope: KillSwitchScope;
  value: string | undefined;
  reason: string;
  stops: string[];
}[] = [
  {
    scope: "all_writes",
    value: undefined,
    reason: "kill_switch_all_writes",
    stops: [
      "engineer reviewer jira_add_comment",
      "engineer reviewer slack_post_message",
      "engineer remediator slack_post_message",
    ],
  },
  {
    scope: "read_only",
    value: "change-reviewer",
    reason: "read_only_mode",
    stops: ["engineer reviewer jira_add_comment", "engineer reviewer slack_post_message"],
  },
  {
    scope: "connector",
    value: "jira",
    reason: "kill_switch_connector",
    stops: [
      "engineer reviewer jira_read",
      "engineer reviewer jira_add_comment",
      "engineer remediator jira_read",
    ],
  },
  {
    scope: "user",
    value: "u-engineer",
    reason: "kill_switch_user",
    stops: ALL.filter((name) => name.startsWith("engineer")),
  },
  {
    scope: "user",
    value: "analyst@zyxbank.example",
    reason: "kill_switch_user",
    stops: ["analyst reviewer confluence_read"],
  },
  {
    scope: "agent",
    value: "change-remediator",
    reason: "kill_switch_agent",
    stops: ["engineer remediator jira_read", "engineer remediator slack_post_message"],
  },
  {
    scope: "workflow",
    value: "change-review",
    reason: "kill_switch_workflow",
    stops: ALL.filter((name) => name.includes("reviewer")),
  },
];

const KILL_REASONS = new Set([
  "kill_switch_all_writes",
  "kill_switch_connector",
  "kill_switch_user",
  "kill_switch_agent",
  "kill_switch_workflow",
  "read_only_mode",
]);

let f: Fixture;
let engine: InProcessPolicyEngine;
let ks: KillSwitch;

/** For each call: the kill-switch reasons the policy gives now. */
function killReasons(): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(CALLS).map(([name, input]) => {
      const outcome = engine.evaluate(input);
      if (!outcome.ok) throw new Error(`${name}: ${outcome.message}`);
      return [
        name,
        outcome.decision.reasons.map((r) => r.code).filter((code) => KILL_REASONS.has(code)),
      ];
    }),
  );
}

const NONE = Object.fromEntries(ALL.map((name) => [name, [] as string[]]));

beforeAll(async () => {
  f = await fixture();
  engine = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
  expect(engine.loadError).toBeNull();
  ks = await f.open({
    apply: (state) => {
      engine.setState(state);
    },
  });
});

afterAll(async () => {
  await f.cleanup();
});

describe("the kill switch through the real policy", () => {
  it("stops nothing when all clear, and the calls are otherwise allowed", () => {
    expect(killReasons()).toEqual(NONE);
    for (const [name, input] of Object.entries(CALLS)) {
      expect(engine.evaluate(input), name).toMatchObject({ ok: true, decision: { allow: true } });
    }
  });

  it.each(CASES)(
    "$scope $value stops exactly its calls, at once, until cleared",
    async ({ scope, value, reason, stops }) => {
      await ks.set(scope, value, { by: "u-sec-admin", reason: "test" });
      const expected = Object.fromEntries(
        ALL.map((name) => [name, stops.includes(name) ? [reason] : []]),
      );
      expect(killReasons()).toEqual(expected);
      for (const [name, input] of Object.entries(CALLS)) {
        if (!stops.includes(name)) continue;
        expect(engine.evaluate(input), name).toMatchObject({
          ok: true,
          decision: { allow: false },
        });
      }
      await ks.clear(scope, value, { by: "u-sec-admin", reason: "test over" });
      expect(killReasons()).toEqual(NONE);
    },
  );

  it("an automatic suspension stops the agent at the next call", async () => {
    await ks.suspendAgent("change-reviewer", { reason: "10 denials within 300 s" });
    const reasons = killReasons();
    expect(reasons["engineer reviewer jira_read"]).toEqual(["kill_switch_agent"]);
    expect(reasons["engineer remediator jira_read"]).toEqual([]);
    await ks.clear("agent", "change-reviewer", { by: "u-sec-admin", reason: "reviewed" });
    expect(killReasons()).toEqual(NONE);
  });
});
