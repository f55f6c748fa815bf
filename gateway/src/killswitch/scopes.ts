// The kill switch's scopes and values: which member of the policy state each scope changes, what
// a valid value is, and the pure change itself. No I/O here.
//
// The state is exactly PolicyState (gateway/src/policy/decision.ts), which the Rego policy reads
// as data.zyx.state.kill_switch (rego/zyx/gateway/decision.rego):
//   all_writes        every write tool is refused (kill_switch_all_writes)
//   read_only_agents  the agent may still read, every write tool is refused (read_only_mode)
//   connectors        every tool of the connector is refused (kill_switch_connector)
//   users             the user, matched on the token's `sub` exactly OR its `email` in normal form (kill_switch_user)
//   agents            every call by the agent is refused (kill_switch_agent)
//   workflows         every call in the workflow is refused (kill_switch_workflow)
import { normalizeEmail } from "../../../common/identity.ts";
import { isCleanText } from "../../../common/tool-arguments.ts";
import type { PolicyState } from "../policy/decision.ts";
import { KillSwitchError } from "./errors.ts";

/** The scopes the service takes. In URLs and on the command line: `_` becomes `-`. */
export const KILL_SWITCH_SCOPES = [
  "all_writes",
  "read_only",
  "connector",
  "user",
  "agent",
  "workflow",
] as const;

export type KillSwitchScope = (typeof KILL_SWITCH_SCOPES)[number];

/** The scopes that take a value, and the list of PolicyState.kill_switch each one edits. */
export const SCOPE_LISTS = {
  read_only: "read_only_agents",
  connector: "connectors",
  user: "users",
  agent: "agents",
  workflow: "workflows",
} as const satisfies Record<Exclude<KillSwitchScope, "all_writes">, string>;

export type ListScope = keyof typeof SCOPE_LISTS;

export type KillSwitchAction = "set" | "clear";

const SCOPE_SET: ReadonlySet<string> = new Set(KILL_SWITCH_SCOPES);

export function isKillSwitchScope(value: unknown): value is KillSwitchScope {
  return typeof value === "string" && SCOPE_SET.has(value);
}

/** "all-writes" → "all_writes"; undefined for anything else than a scope's slug. */
export function scopeFromSlug(slug: string): KillSwitchScope | undefined {
  if (slug.includes("_")) return undefined;
  const scope = slug.replaceAll("-", "_");
  return isKillSwitchScope(scope) ? scope : undefined;
}

export function scopeSlug(scope: KillSwitchScope): string {
  return scope.replaceAll("_", "-");
}

/** Everything clear. */
export function defaultPolicyState(): PolicyState {
  return {
    kill_switch: {
      all_writes: false,
      read_only_agents: [],
      connectors: [],
      users: [],
      agents: [],
      workflows: [],
    },
  };
}

export const MAX_USER_LENGTH = 320;
export const MAX_NAME_LENGTH = 200;
export const MAX_REASON_LENGTH = 500;
export const MAX_ACTOR_LENGTH = 320;

// Names (agents, workflows, connectors): no whitespace, no control or unassigned characters.
const NAME = /^[^\s\p{C}]+$/u;
// Users (a subject or an email): no control characters, no leading or trailing whitespace
// (the policy matches exactly; a padded value would never match anyone).
const NO_CONTROL = /^[^\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]*$/u;

function invalid(message: string): KillSwitchError {
  return new KillSwitchError("kill_switch_value_invalid", message);
}

export interface ValueContext {
  /** The catalog's connectors: `set connector` accepts only these. */
  connectors: ReadonlySet<string>;
  /** The current state: `clear` also accepts a value it holds (say, a connector since removed). */
  state: PolicyState;
  action: KillSwitchAction;
  /**
   * The catalog's agents and workflows: when given, `set` accepts only these (the policy matches
   * names exactly, and an agent the catalog does not list may use no tool: a misspelt name would
   * be saved and stop nothing). The automatic suspension leaves them out (any agent seen in a
   * token may be suspended).
   */
  names?: { agents: ReadonlySet<string>; workflows: ReadonlySet<string> } | undefined;
}

/**
 * Checks the value of a change and returns it. `all_writes` takes no value; every other scope
 * takes one: a user is a subject or an email (1 to 320 characters); an agent, a workflow or a
 * read-only agent is a name (1 to 200 characters, no whitespace). An administrator's `set` of an
 * agent or a workflow must name one of the catalog's (`context.names`): the policy matches names
 * exactly and an agent the catalog does not list may use no tool, so a misspelt name would be
 * saved and stop nothing. The automatic suspension passes no names: any agent id seen in a
 * verified token can be suspended (it must never fail on that). A connector must be one of the
 * catalog's for the same reason; `clear` also accepts a value the state holds.
 */
export function checkValue(
  scope: KillSwitchScope,
  value: unknown,
  context: ValueContext,
): string | undefined {
  if (scope === "all_writes") {
    if (value !== undefined) throw invalid("the all_writes scope takes no value");
    return undefined;
  }
  if (value === undefined) throw invalid(`the ${scope} scope needs a value`);
  if (typeof value !== "string") throw invalid(`the ${scope} value must be a string`);
  if (scope === "user") {
    if (value.length === 0 || value.length > MAX_USER_LENGTH) {
      throw invalid(`a user must be 1 to ${MAX_USER_LENGTH} characters (a subject or an email)`);
    }
    if (!NO_CONTROL.test(value) || value.trim() !== value) {
      throw invalid("a user must not contain control characters or surrounding whitespace");
    }
    // Subjects are opaque: an IdP may issue `jdoe@zyxbank` or `müller@zyxbank.example`, which
    // no e-mail syntax check accepts, and the kill switch must be able to name whoever the
    // gateway lets in. A value with an @ is also kept in e-mail normal form (see `entriesOf`).
    return value;
  }
  if (value.length === 0 || value.length > MAX_NAME_LENGTH || !NAME.test(value)) {
    const what = scope === "read_only" || scope === "agent" ? "an agent" : `a ${scope}`;
    throw invalid(
      `${what} name must be 1 to ${MAX_NAME_LENGTH} characters without whitespace or control characters`,
    );
  }
  const known =
    scope === "workflow"
      ? context.names?.workflows
      : scope === "connector"
        ? undefined
        : context.names?.agents;
  if (known !== undefined && context.action === "set" && !known.has(value)) {
    const what = scope === "workflow" ? "workflow" : "agent";
    throw invalid(`unknown ${what} ${value}: the catalog has ${[...known].sort().join(", ")}`);
  }
  if (scope === "connector" && !context.connectors.has(value)) {
    const held = context.state.kill_switch.connectors.includes(value);
    if (context.action === "set" || !held) {
      const known = [...context.connectors].sort().join(", ");
      throw invalid(`unknown connector ${value}: the catalog has ${known}`);
    }
  }
  return value;
}

export function checkReason(reason: unknown): string {
  if (typeof reason !== "string" || reason.trim() === "") {
    throw new KillSwitchError("kill_switch_reason_invalid", "a reason is required");
  }
  if (reason.length > MAX_REASON_LENGTH) {
    throw new KillSwitchError(
      "kill_switch_reason_invalid",
      `the reason is longer than ${MAX_REASON_LENGTH} characters`,
    );
  }
  // The shared store (PostgreSQL jsonb) cannot hold a NUL or a lone surrogate: refused here as
  // the administrator's input, not later as a 503 that reads as the store being down.
  if (!isCleanText(reason)) {
    throw new KillSwitchError(
      "kill_switch_reason_invalid",
      "the reason must be well-formed text without control characters other than tab and newlines",
    );
  }
  return reason;
}

export function checkActor(by: unknown): string {
  if (
    typeof by !== "string" ||
    by.trim() === "" ||
    by.length > MAX_ACTOR_LENGTH ||
    !NO_CONTROL.test(by)
  ) {
    throw new KillSwitchError(
      "kill_switch_actor_invalid",
      `who made the change must be 1 to ${MAX_ACTOR_LENGTH} printable characters`,
    );
  }
  return by;
}

/** Is the scope (with this value) on in `state`? */
/**
 * What a value puts in its list. A user named by an e-mail goes in twice when its spelling is not
 * the normal form: as given, which matches a token subject spelled so (subjects are opaque and
 * compared exactly), and in normal form (common/identity.ts), which matches the verified `email`
 * claim. Either alone would leave the other kind of token working.
 */
function entriesOf(scope: KillSwitchScope, value: string): string[] {
  if (scope !== "user" || !value.includes("@")) return [value];
  const normal = normalizeEmail(value);
  return normal === value ? [value] : [value, normal];
}

export function isOn(
  state: PolicyState,
  scope: KillSwitchScope,
  value: string | undefined,
): boolean {
  if (scope === "all_writes") return state.kill_switch.all_writes;
  if (value === undefined) return false;
  const list = state.kill_switch[SCOPE_LISTS[scope]];
  return entriesOf(scope, value).every((entry) => list.includes(entry));
}

/** Nothing of this value is in its list (a lift would change nothing). */
export function isOff(
  state: PolicyState,
  scope: KillSwitchScope,
  value: string | undefined,
): boolean {
  if (scope === "all_writes") return !state.kill_switch.all_writes;
  if (value === undefined) return true;
  const list = state.kill_switch[SCOPE_LISTS[scope]];
  return !entriesOf(scope, value).some((entry) => list.includes(entry));
}

/** A new state with the change made (the input is left as it is). */
export function withChange(
  state: PolicyState,
  scope: KillSwitchScope,
  value: string | undefined,
  action: KillSwitchAction,
): PolicyState {
  const next = structuredClone(state);
  if (scope === "all_writes") {
    next.kill_switch.all_writes = action === "set";
    return next;
  }
  if (value === undefined) throw invalid(`the ${scope} scope needs a value`);
  const key = SCOPE_LISTS[scope];
  const entries = entriesOf(scope, value);
  const list = next.kill_switch[key].filter((item) => !entries.includes(item));
  if (action === "set") list.push(...entries);
  next.kill_switch[key] = list;
  return next;
}
