// People and requests shared by the approval tests. Groups follow rego/zyx/config/data.json.
import { argumentsDigest } from "../../../common/canonical.ts";
import type { ApprovalRequest } from "../../src/approvals/request.ts";
import type { NewApprovalRequest } from "../../src/approvals/service.ts";

/** The frozen clock's start: 2026-03-02T10:00:00.000Z. */
export const T0 = Date.parse("2026-03-02T10:00:00.000Z");

export const ENGINEER = {
  subject: "u-engineer",
  email: "engineer@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-devops-readonly"],
} as const;

export const ALICE = {
  subject: "u-alice",
  email: "alice@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-change-approvers"],
} as const;

export const BOB = { subject: "u-bob", groups: ["grp-ai-change-approvers"] } as const;

export const ONCALL = { subject: "u-oncall", groups: ["grp-ai-security-oncall"] } as const;

export const INTERN = {
  subject: "u-intern",
  email: "intern@zyxbank.example",
  groups: ["grp-ai-users"],
} as const;

/** UUIDs 00000000-0000-4000-8000-000000000001, ...2, ... in call order. */
export function deterministicIds(): () => string {
  let n = 0;
  return () => {
    n++;
    return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
  };
}

export function requestInput(overrides: Partial<NewApprovalRequest> = {}): NewApprovalRequest {
  return {
    tool: "jira_add_comment",
    arguments: { ticket: "CHG-18422", body: "LGTM: the change matches the standard." },
    requester: ENGINEER,
    agent: "change-reviewer",
    session_id: "sess-1",
    workflow: "change-review",
    policy_revision: "87c76d67ea6c01f0",
    risk_score: 5,
    approvers_required: 1,
    approver_groups: ["grp-ai-change-approvers"],
    fallback_groups: ["grp-ai-security-oncall"],
    decision_id: "dec-1",
    trace_id: "0af7651916cd43dd8448eb211c80319c",
    ...overrides,
  };
}

/** A stored-shape request (version 1, pending), for the store tests. */
export function sampleRequest(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  const args = overrides.arguments ?? { ticket: "CHG-18422", body: "LGTM" };
  return {
    id: "00000000-0000-4000-8000-000000000001",
    status: "pending",
    tool: "jira_add_comment",
    arguments: args,
    arguments_digest: argumentsDigest(args),
    requester: { subject: ENGINEER.subject, email: ENGINEER.email, groups: [...ENGINEER.groups] },
    agent: "change-reviewer",
    session_id: "sess-1",
    workflow: "change-review",
    policy_revision: "87c76d67ea6c01f0",
    risk_score: 5,
    approvers_required: 1,
    approver_groups: ["grp-ai-change-approvers"],
    fallback_groups: ["grp-ai-security-oncall"],
    approvals: [],
    decision_id: "dec-1",
    trace_id: "0af7651916cd43dd8448eb211c80319c",
    created_at: new Date(T0).toISOString(),
    expires_at: new Date(T0 + 300_000).toISOString(),
    version: 1,
    ...overrides,
  };
}
