// The scenario's people and calls, for the tests that need many of them at once (fuzzing, the
// chaos run): the seed's engineer, intern, cloud engineer, approver and security administrator,
// and one valid set of arguments per tool of the catalog.
import { readFile } from "node:fs/promises";
import type { ToolName } from "../../common/catalog.ts";

export interface Person {
  user: string;
  groups: string[];
  agent: string;
}

export const ENGINEER: Person = {
  user: "engineer@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-devops-readonly"],
  agent: "change-reviewer",
};
export const INTERN: Person = {
  ...ENGINEER,
  user: "intern@zyxbank.example",
  groups: ["grp-ai-users"],
};
export const REMEDIATOR: Person = {
  user: "cloud@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers", "grp-ai-devops-readonly"],
  agent: "change-remediator",
};
export const APPROVER: Person = {
  user: "approver.one@zyxbank.example",
  groups: ["grp-ai-prod-approvers"],
  agent: "approvals-console",
};
export const ADMIN: Person = {
  user: "secadmin@zyxbank.example",
  groups: ["grp-ai-security-admins"],
  agent: "admin-console",
};

/** The arguments of `npm run token -- access` that mint this person's access token. */
export function tokenArgs(person: Person): string[] {
  return ["--user", person.user, "--groups", person.groups.join(","), "--agent", person.agent];
}

/** The security-group change of the seed: revoke SSH from anywhere on the bastion's group. */
export const SG_CHANGE = {
  account: "111122223333",
  region: "ap-southeast-1",
  group_id: "sg-0a1b2c3d4e5f60718",
  change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
  change_ticket: "CHG-18422",
  rollback_plan: "Re-authorize the rule from the compensation handle.",
};

/** One valid set of arguments per tool. */
export const VALID_ARGUMENTS: Record<ToolName, Record<string, unknown>> = {
  jira_read: { ticket: "CHG-18422" },
  github_read_pr: { repository: "zyx-bank/platform-infra", pull_request: 991 },
  confluence_read: { space: "SEC" },
  aws_dev_read: { account: "111122223333", region: "ap-southeast-1" },
  jira_add_comment: { ticket: "CHG-18422", body: "AI security review: see findings." },
  slack_post_message: { channel: "devsecops-change-review", text: "CHG-18422 review posted" },
  aws_modify_security_group: SG_CHANGE,
  jira_delete_comment: { ticket: "CHG-18422", comment_id: "10001" },
  slack_delete_message: { channel: "C07DEVSECOPS", ts: "1716345600.000100" },
};

/**
 * The policy's input when the engineer reads the change ticket (a call the policy allows), for
 * the tests that evaluate one decision on an engine.
 */
export const ENGINEER_READS = {
  principal: { sub: ENGINEER.user, groups: ENGINEER.groups },
  agent: { id: ENGINEER.agent },
  device: { compliant: true, checked_at: 1_779_242_340 },
  tool: "jira_read",
  arguments: { ticket: "CHG-18422" },
  context: {
    now: 1_779_242_400,
    workflow: "change-review",
    session_tainted: false,
    recent_denials: 0,
  },
};

/** The lines of a JSON Lines file (an audit log, a fixture's writes) as objects; none if absent. */
export async function jsonLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
