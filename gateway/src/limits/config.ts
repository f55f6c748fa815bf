// The "limits" section of the policy data (rego/zyx/config/data.json), checked once, at
// construction of the limiter and the monitor. Strict on purpose: a misspelt key ("per_agnet")
// would otherwise be read as "no limit", and a tool without a per-tool limit would be unlimited
// per tool, so both stop the process instead.
//
//   window_seconds               the sliding window of the call limits
//   per_agent, per_user          calls per window for one agent id / one user subject
//   per_tool { tool: n }         calls per window of one tool by one agent for one user;
//                                every tool in the catalog (TOOL_NAMES), and no other
//   suspend_agent_after_denials  policy denials of one agent, within
//   denial_window_seconds        this window, that suspend the agent automatically
import { readFileSync } from "node:fs";
import { z } from "zod";
import { CATALOG_PATH, TOOL_NAMES } from "../../../common/catalog.ts";
import { LimitsError } from "./errors.ts";

/** Largest window (a day): a window is about bursts and loops, not quotas. */
export const MAX_WINDOW_SECONDS = 86_400;
/** Largest call limit: each key keeps up to `limit` timestamps, so this bounds a key's memory. */
export const MAX_CALL_LIMIT = 100_000;
/** Largest denial threshold: the monitor keeps up to `threshold` denials per agent. */
export const MAX_DENIAL_THRESHOLD = 10_000;

function integer(max: number) {
  const message = `must be an integer from 1 to ${max}`;
  return z.int({ error: message }).min(1, { error: message }).max(max, { error: message });
}

const TOOLS: ReadonlySet<string> = new Set(TOOL_NAMES);

const LimitsSchema = z
  .strictObject(
    {
      window_seconds: integer(MAX_WINDOW_SECONDS),
      per_agent: integer(MAX_CALL_LIMIT),
      per_user: integer(MAX_CALL_LIMIT),
      per_tool: z.record(z.string(), integer(MAX_CALL_LIMIT), { error: "must be an object" }),
      suspend_agent_after_denials: integer(MAX_DENIAL_THRESHOLD),
      denial_window_seconds: integer(MAX_WINDOW_SECONDS),
    },
    { error: "must be an object" },
  )
  .superRefine((limits, ctx) => {
    for (const tool of Object.keys(limits.per_tool)) {
      if (!TOOLS.has(tool)) {
        ctx.addIssue({
          code: "custom",
          path: ["per_tool", tool],
          message: "not a tool in the catalog",
        });
      }
    }
    for (const tool of TOOL_NAMES) {
      if (!Object.hasOwn(limits.per_tool, tool)) {
        ctx.addIssue({
          code: "custom",
          path: ["per_tool", tool],
          message: "missing: every tool in the catalog needs a limit",
        });
      }
    }
  });

/** The validated "limits" section. */
export type Limits = z.infer<typeof LimitsSchema>;

/**
 * Validates the "limits" section (the value of data.json's `limits` member). Throws
 * `limits_config_invalid` naming every problem, each as `path: message`.
 */
export function parseLimits(value: unknown): Limits {
  const parsed = LimitsSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.flatMap((issue) => {
    const path = ["limits", ...issue.path.map(String)].join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => `${path}.${key}: unknown key`);
    }
    if (issue.code === "invalid_type" && issue.path.length === 1) {
      const key = String(issue.path[0]);
      const present = typeof value === "object" && value !== null && Object.hasOwn(value, key);
      if (!present) return [`${path}: missing`];
    }
    return [`${path}: ${issue.message}`];
  });
  throw new LimitsError("limits_config_invalid", `limits are invalid: ${problems.join("; ")}`);
}

/** Reads the policy data file (default: the catalog) and validates its "limits" section. */
export function readLimits(path: string = CATALOG_PATH): Limits {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new LimitsError("limits_config_invalid", `cannot read the policy data at ${path}`, {
      cause: error,
    });
  }
  const section =
    typeof json === "object" && json !== null
      ? (json as Record<string, unknown>)["limits"]
      : undefined;
  return parseLimits(section);
}

/** The monitor's options from the same section. */
export function denialMonitorSettings(limits: Limits): {
  threshold: number;
  windowSeconds: number;
} {
  return {
    threshold: limits.suspend_agent_after_denials,
    windowSeconds: limits.denial_window_seconds,
  };
}
