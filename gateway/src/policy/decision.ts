// The shapes that cross the boundary with the Rego policy: the input the gateway builds
// from verified facts only, and the decision it accepts back (checked, never trusted).
import { z } from "zod";

export const REASON_CODES = [
  "tool_unknown",
  "user_not_in_group",
  "agent_not_permitted",
  "device_not_compliant",
  "device_posture_stale",
  "kill_switch_user",
  "kill_switch_agent",
  "kill_switch_connector",
  "kill_switch_workflow",
  "kill_switch_all_writes",
  "read_only_mode",
  "channel_not_allowed",
  "account_not_allowed",
  "project_not_allowed",
  "space_not_allowed",
  "repository_not_allowed",
  "ingress_source_not_allowed",
  "production_blocked",
  "change_ticket_required",
  "rollback_plan_required",
  "approval_required",
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

/** One approver of the call, as the policy reads it (the kill switch matches sub or email). */
export interface ApproverInput {
  sub: string;
  email?: string;
  groups: readonly string[];
}

export interface DecisionInput {
  principal: { sub: string; email?: string; groups: readonly string[] };
  agent: { id: string };
  device: { compliant: boolean; checked_at: number };
  tool: string;
  arguments: Readonly<Record<string, unknown>>;
  context: {
    /** Epoch seconds, from the gateway's clock. */
    now: number;
    workflow: string;
    session_tainted: boolean;
    recent_denials: number;
    /** Only on the gateway's own calls (post-hoc compensations); never from a caller. */
    system_call?: true;
  };
  approval?: { approvers: readonly ApproverInput[] };
}

export const Reason = z.strictObject({ code: z.enum(REASON_CODES), message: z.string() });

export const Decision = z
  .strictObject({
    allow: z.boolean(),
    reasons: z.array(Reason),
    approval: z.strictObject({
      required: z.boolean(),
      approvers_required: z.union([z.literal(0), z.literal(1), z.literal(2)]),
      approver_groups: z.array(z.string()),
      fallback_groups: z.array(z.string()),
      /**
       * "before": the call waits for its approvers; "post_hoc": it runs now and they review it
       * afterwards (a rejection runs its compensation); "none": no approver. Absent from a
       * decision that names no tool's approvers.
       */
      mode: z.enum(["none", "before", "post_hoc"]).optional(),
    }),
    risk: z.strictObject({
      score: z.number().int().min(0).max(10),
      band: z.enum(["low", "medium", "high"]),
      factors: z.array(z.strictObject({ factor: z.string(), points: z.number() })),
    }),
    policy_revision: z.string().min(1),
  })
  // Belt and braces: an allow that carries a reason is not an allow.
  .refine((d) => !d.allow || d.reasons.length === 0, "allow with reasons")
  .refine((d) => d.approval.required === d.approval.approvers_required > 0, "approval mismatch")
  // A post-hoc review needs exactly one approver, afterwards: never a way around two.
  .refine(
    (d) => d.approval.mode !== "post_hoc" || d.approval.approvers_required === 1,
    "post-hoc review with other than one approver",
  );

export type Decision = z.infer<typeof Decision>;

/** The runtime state handed to the policy as data.zyx.state (the kill switch). */
export const PolicyState = z.strictObject({
  kill_switch: z.strictObject({
    all_writes: z.boolean(),
    read_only_agents: z.array(z.string()),
    connectors: z.array(z.string()),
    users: z.array(z.string()),
    agents: z.array(z.string()),
    workflows: z.array(z.string()),
  }),
});

export type PolicyState = z.infer<typeof PolicyState>;
