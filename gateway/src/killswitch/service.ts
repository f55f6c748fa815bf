// The kill switch: security administrators (and the automatic suspension) stop tools, connectors,
// users, agents and workflows at once, without a restart.
//
// The state is PolicyState (gateway/src/policy/decision.ts), handed to the policy as
// data.zyx.state; it lives in a JSON file (see store.ts) that is the source of truth.
//
// A change, one at a time (changes are serialized: no lost update):
//   1. check the scope, the value, who and why;
//   2. nothing to do (already set, already clear): answer the current version, write nothing,
//      audit nothing (the audit trail records changes; an attempt that changes nothing is not
//      one). If an earlier change is saved but was not applied (see 5), apply it again now;
//   3. audit: one record, event "kill_switch", BEFORE anything changes. If it cannot be written,
//      the change is refused (audit_unavailable) and nothing changed, in memory or on disk;
//   4. save: the new version replaces the file atomically. If it cannot be written, the change
//      is refused (kill_switch_unavailable) and nothing changed; a second record with
//      outcome {status: "failed"} says so (best effort). (If only the directory fsync after the
//      rename failed, the file may already hold the new version; the next change rewrites it
//      from memory, and until then a restart would load it: the audit record covers it.)
//   5. apply: `apply(state)` hands the state to the policy, so the very next call is decided with
//      it. If apply throws, the change stays saved: the file is the source of truth and the
//      state loaded from it at the next start or the next change wins. The change is reported as
//      kill_switch_apply_failed (with `version` and `applied_version`), a "failed" audit record
//      follows (best effort), `state().applied_version` stays behind `version`, and the next
//      operation, even a no-op such as repeating the same command, applies it again.
//      Why not roll back: the audit record already says the change was made by an administrator
//      in an emergency; undoing it silently would need a second change (and a second audit record
//      that may fail too), and a restart must never resurrect a state older than the one the
//      administrators last saw confirmed on disk. Stopping is the safe direction for almost every
//      change; the admin retries and sees `applied_version` catch up.
//
// Where the state lives is a port (port.ts): the state file (embedded default) or a versioned
// PostgreSQL table shared by replicas (postgres-store.ts). With a shared store, every change first
// re-reads the newest version, and a save that loses the race to another replica (compare-and-set
// on the version) re-reads and runs the change again (at most 5 times). `sync()` adopts a version
// another replica saved; sync.ts calls it on every notification and periodically. While the store
// is lost (`setStoreLost(true)`, decided by sync.ts after a configured bound) the policy is handed
// the saved state with all_writes on: write tools are refused, fail closed, until it is back.
//
// At start: a missing file is the default (`initial`, all clear unless given), written at once
// so that an unwritable directory stops the start, not the first emergency change; a corrupt file
// refuses to start (kill_switch_state_corrupt); the loaded state is applied, and if the policy
// does not take it the start is refused too (kill_switch_apply_failed).
import type { CallSource } from "../lib/client-address.ts";
import type { AuditRecordInput } from "../audit/record.ts";
import { loadCatalog } from "../../../common/catalog.ts";
import { PolicyState } from "../policy/decision.ts";
import { describeThrown, isKillSwitchError, KillSwitchError } from "./errors.ts";
import type { KillSwitchAction, KillSwitchScope } from "./scopes.ts";
import {
  checkActor,
  checkReason,
  checkValue,
  isOff,
  defaultPolicyState,
  isKillSwitchScope,
  isOn,
  SCOPE_LISTS,
  withChange,
} from "./scopes.ts";
import { openFileKillSwitchStore, type KillSwitchStore } from "./port.ts";
import type { AtomicWriter, HistoryEntry, StateFile } from "./store.ts";
import { STATE_FILE_FORMAT } from "./store.ts";

/** Who makes a change: a subject (an admin's `sub`, or "system:…"), or a subject and email. */
export type KillSwitchActor = string | { subject: string; email?: string | undefined };

export interface ChangeOptions {
  by: KillSwitchActor;
  /** Why: required, 1 to 500 characters. */
  reason: string;
  /**
   * Where the administrator's request came from (lib/client-address.ts), recorded as every call's
   * is: a switch cleared from an unexpected network is evidence. Absent: no socket (CLI, tests).
   */
  source?: CallSource | undefined;
}

export const AUTO_SUSPENSION_ACTOR = "system:auto-suspension";

export interface KillSwitchSnapshot {
  /** 0 until the first change, then +1 per change. */
  version: number;
  /** The newest version the policy took; behind `version` only after a failed apply. */
  applied_version: number;
  updated_at: string | null;
  updated_by: string | null;
  reason: string | null;
  state: PolicyState;
  /** The last changes, oldest first (at most `historyLimit`). */
  history: HistoryEntry[];
}

export interface ChangeResult extends KillSwitchSnapshot {
  /** False when the scope was already as asked (no new version). */
  changed: boolean;
}

export interface KillSwitchStoreStatus {
  kind: KillSwitchStore["kind"];
  shared: boolean;
  /** False while the store is lost beyond the bound: write tools are refused. */
  healthy: boolean;
}

export interface KillSwitch {
  /** Where the state lives (the state file's path, or the shared table). */
  readonly path: string;
  /** Adopts (and applies) a newer version saved by another process; true when there was one. */
  sync(): Promise<boolean>;
  /** Lost: the policy gets the state with all_writes on. Back: the saved state again. */
  setStoreLost(lost: boolean): Promise<void>;
  storeStatus(): KillSwitchStoreStatus;
  /** Closes the store (the shared one's connections). */
  close(): Promise<void>;
  /** The saved state, its version and history (a copy). */
  state(): KillSwitchSnapshot;
  /**
   * Changes whenever a state is being or has been handed to the policy (cheap, synchronous): a
   * call decided at one generation and about to run at another is decided again (handoff.ts).
   */
  appliedGeneration(): number;
  /** Turns a scope on. `value` is undefined for all_writes, required for every other scope. */
  set(
    scope: KillSwitchScope,
    value: string | undefined,
    options: ChangeOptions,
  ): Promise<ChangeResult>;
  /** Turns a scope off. */
  clear(
    scope: KillSwitchScope,
    value: string | undefined,
    options: ChangeOptions,
  ): Promise<ChangeResult>;
  /** Stops one agent (scope "agent"); `by` defaults to "system:auto-suspension". */
  suspendAgent(
    agent: string,
    options: { by?: KillSwitchActor; reason: string },
  ): Promise<ChangeResult>;
}

export interface KillSwitchOptions {
  /** The state file (the embedded store); give this or `store`. */
  path?: string | undefined;
  /** Where the state lives (port.ts); default: the file at `path`. */
  store?: KillSwitchStore | undefined;
  /** The clock, in epoch milliseconds (frozen in tests). Default: Date.now. */
  now?: (() => number) | undefined;
  /** Makes one audit record durable (AuditLog.append); rejects or throws when it cannot. */
  audit: (record: AuditRecordInput) => unknown;
  /** Hands the state to the policy (PolicyEngine.setState); may return a promise. */
  apply: (state: PolicyState) => void | Promise<void>;
  /** The state when the file does not exist yet. Default: everything clear. */
  initial?: PolicyState | undefined;
  /** How many changes the file keeps in `history` (1 to 10000, default 100). */
  historyLimit?: number | undefined;
  /** The connectors a `connector` value may name. Default: the catalog's (loadCatalog()). */
  connectors?: Iterable<string> | undefined;
  /** How the file is replaced (tests inject failures). Default: writeFileAtomic. */
  write?: AtomicWriter | undefined;
}

function connectorsOfCatalog(): Set<string> {
  return new Set(Object.values(loadCatalog().tools).map((tool) => tool.connector));
}

/** The catalog's agents, and the workflows a call can be in (theirs, or "unassigned"). */
function namesOfCatalog(): { agents: ReadonlySet<string>; workflows: ReadonlySet<string> } {
  const agents = loadCatalog().agents;
  const workflows = new Set(["unassigned"]);
  for (const agent of Object.values(agents)) {
    if (agent.workflow !== undefined) workflows.add(agent.workflow);
  }
  return { agents: new Set(Object.keys(agents)), workflows };
}

function checkInitial(initial: unknown, connectors: ReadonlySet<string>): PolicyState {
  const parsed = PolicyState.safeParse(initial);
  if (!parsed.success) {
    throw new TypeError(
      `initial is not a kill-switch state: ${parsed.error.issues[0]?.message ?? ""}`,
    );
  }
  const state = parsed.data;
  for (const [scope, key] of Object.entries(SCOPE_LISTS) as [keyof typeof SCOPE_LISTS, string][]) {
    for (const value of state.kill_switch[SCOPE_LISTS[scope]]) {
      try {
        checkValue(scope, value, { connectors, state: defaultPolicyState(), action: "set" });
      } catch (error) {
        throw new TypeError(`initial.kill_switch.${key}: ${describeThrown(error)}`, {
          cause: error,
        });
      }
    }
  }
  return state;
}

/** The shared store went back behind this replica (adoptNewest); `newest` is what it holds. */
class StoreWentBack extends KillSwitchError {
  readonly newest: StateFile | undefined;
  constructor(message: string, newest: StateFile | undefined) {
    super("kill_switch_unavailable", message);
    this.newest = newest;
  }
}

function actorOf(by: unknown): { subject: string; email?: string } {
  if (typeof by === "object" && by !== null) {
    const { subject, email } = by as { subject?: unknown; email?: unknown };
    const checked = checkActor(subject);
    return email === undefined
      ? { subject: checked }
      : { subject: checked, email: checkActor(email) };
  }
  return { subject: checkActor(by) };
}

export async function createKillSwitch(options: KillSwitchOptions): Promise<KillSwitch> {
  if (options.store === undefined && (typeof options.path !== "string" || options.path === "")) {
    throw new TypeError("path is required (or a store)");
  }
  if (typeof options.audit !== "function") throw new TypeError("audit must be a function");
  if (typeof options.apply !== "function") throw new TypeError("apply must be a function");
  if (options.now !== undefined && typeof options.now !== "function") {
    throw new TypeError("now must be a function");
  }
  const historyLimit = options.historyLimit ?? 100;
  if (!Number.isInteger(historyLimit) || historyLimit < 1 || historyLimit > 10_000) {
    throw new TypeError("historyLimit must be an integer from 1 to 10000");
  }
  const now = options.now ?? Date.now;
  const { audit } = options;
  // Bumped before and after every hand-over, so a call that read the generation while one was
  // under way sees it change whichever side of the hand-over it was decided on.
  let generation = 0;
  const apply = async (state: PolicyState): Promise<void> => {
    generation++;
    try {
      await options.apply(state);
    } finally {
      generation++;
    }
  };
  const connectors: ReadonlySet<string> = new Set(options.connectors ?? connectorsOfCatalog());
  const names = options.connectors === undefined ? namesOfCatalog() : undefined;
  const initial =
    options.initial === undefined
      ? defaultPolicyState()
      : checkInitial(options.initial, connectors);

  const store = options.store ?? (await openFileKillSwitchStore(options.path ?? "", options.write));
  const path = store.location;
  let saved: StateFile = await loadOrCreate(store, initial);
  // Two facts: whether the store is lost now (what /readyz reports, at once), and whether the
  // policy holds the state for that (all_writes on while lost): a failed apply leaves them apart,
  // and the next setStoreLost applies again.
  let storeLost = false;
  let appliedLost = false;
  const effective = (): PolicyState =>
    storeLost
      ? withChange(saved.state, "all_writes", undefined, "set")
      : structuredClone(saved.state);

  try {
    await apply(effective());
  } catch (error) {
    throw new KillSwitchError(
      "kill_switch_apply_failed",
      `the policy did not take the kill-switch state (version ${saved.version}) from ${path}: ` +
        `${describeThrown(error)}; refusing to start`,
      { cause: error },
    );
  }
  let appliedVersion = saved.version;

  function snapshot(): KillSwitchSnapshot {
    return structuredClone({
      version: saved.version,
      applied_version: appliedVersion,
      updated_at: saved.updated_at,
      updated_by: saved.updated_by,
      reason: saved.reason,
      state: saved.state,
      history: saved.history,
    });
  }

  async function applySaved(): Promise<void> {
    const version = saved.version;
    const lost = storeLost;
    try {
      await apply(effective());
      appliedLost = lost;
    } catch (error) {
      throw new KillSwitchError(
        "kill_switch_apply_failed",
        `version ${version} is saved in ${path} but the policy did not take it ` +
          `(${describeThrown(error)}); the policy still runs version ${appliedVersion}: ` +
          "repeat the command to apply it again",
        { cause: error, extensions: { version, applied_version: appliedVersion } },
      );
    }
    appliedVersion = version;
  }

  // One change at a time, in call order. A failed change does not stop the ones behind it.
  let queue: Promise<unknown> = Promise.resolve();
  function serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task);
    queue = run.catch(() => undefined);
    return run;
  }

  /** Adopts the store's newest version when it is newer than ours; true when it was. */
  async function adoptNewest(): Promise<boolean> {
    if (!store.shared) return false;
    const newest = await store.load();
    // The store behind this replica (restored from a backup after the database was lost, or a
    // failover that lost commits): its versions from here on are not ours, and taking none of
    // them would ignore every change saved since until the store passes our version. Refused
    // (the sync loop then marks the store lost after its bound: write tools refused, /readyz
    // 503) until the store holds a version newer than ours, which is adopted as usual.
    if (
      newest === undefined ||
      newest.version < saved.version ||
      (newest.version === saved.version &&
        (newest.updated_at !== saved.updated_at || newest.updated_by !== saved.updated_by))
    ) {
      throw new StoreWentBack(
        `${path} went back: it holds version ${String(newest?.version ?? "none")} (or another ` +
          `version ${String(saved.version)}) where this replica applied version ` +
          `${String(saved.version)}; refusing to decide on either until it is newer`,
        newest,
      );
    }
    if (newest.version <= saved.version) {
      // A version adopted earlier whose apply failed: hand it to the policy again (the sync
      // loop calls this on every tick and notification; nothing else would retry it).
      if (appliedVersion !== saved.version) await applySaved();
      return false;
    }
    saved = newest;
    await applySaved();
    return true;
  }

  function change(
    action: KillSwitchAction,
    scope: unknown,
    rawValue: unknown,
    changeOptions: ChangeOptions,
    anyName = false,
  ): Promise<ChangeResult> {
    return serialized(async () => {
      for (let attempt = 1; ; attempt++) {
        // A store that went back is brought ahead again by this change: it is saved on the
        // store's own state (the source of truth, what a replica started since runs) with a
        // version past this replica's, so every replica adopts it as usual. When every replica
        // kept running through the restore, no other change could ever end the refusal.
        let base: StateFile | undefined;
        try {
          await adoptNewest();
        } catch (error) {
          if (!(error instanceof StoreWentBack)) throw error;
          base = { ...(error.newest ?? saved), version: saved.version };
        }
        const result = await changeOnce(action, scope, rawValue, changeOptions, anyName, base);
        if (result !== "conflict") return result;
        if (attempt >= 5) {
          throw new KillSwitchError(
            "kill_switch_unavailable",
            "other replicas kept changing the kill switch at the same time; nothing changed: retry",
          );
        }
      }
    });
  }

  async function changeOnce(
    action: KillSwitchAction,
    scope: unknown,
    rawValue: unknown,
    changeOptions: ChangeOptions,
    anyName: boolean,
    rebase?: StateFile,
  ): Promise<ChangeResult | "conflict"> {
    const base = rebase ?? saved;
    if (!isKillSwitchScope(scope)) {
      throw new KillSwitchError(
        "kill_switch_scope_unknown",
        `unknown kill-switch scope ${String(scope)}`,
      );
    }
    const actor = actorOf((changeOptions as Partial<ChangeOptions> | undefined)?.by);
    const reason = checkReason((changeOptions as Partial<ChangeOptions> | undefined)?.reason);
    const source = (changeOptions as Partial<ChangeOptions> | undefined)?.source;
    const value = checkValue(scope, rawValue, {
      connectors,
      state: base.state,
      action,
      names: anyName ? undefined : names,
    });

    const unchanged =
      rebase === undefined &&
      (action === "set" ? isOn(saved.state, scope, value) : isOff(saved.state, scope, value));
    if (unchanged) {
      if (appliedVersion !== saved.version) await applySaved();
      return { changed: false, ...snapshot() };
    }

    const at = new Date(now()).toISOString();
    const version = base.version + 1;
    const details = {
      action,
      scope,
      value: value ?? null,
      reason,
      old_version: base.version,
      new_version: version,
    };
    const record: AuditRecordInput = {
      event: "kill_switch",
      timestamp: at,
      user: actor,
      ...(source === undefined ? {} : { source }),
      details,
    };
    const failed = async (code: string): Promise<void> => {
      try {
        const timestamp = new Date(now()).toISOString();
        await audit({ ...record, timestamp, outcome: { status: "failed", code } });
      } catch {
        // Best effort: the change's own record is already durable, the caller gets the error.
      }
    };

    try {
      await audit(record);
    } catch (error) {
      throw new KillSwitchError(
        "audit_unavailable",
        `the audit record of this change could not be written, so nothing changed: ${describeThrown(error)}`,
        { cause: error },
      );
    }

    const next: StateFile = {
      format: STATE_FILE_FORMAT,
      version,
      updated_at: at,
      updated_by: actor.subject,
      reason,
      state: withChange(base.state, scope, value, action),
      history: [
        ...base.history,
        { version, at, by: actor.subject, reason, action, scope, value: value ?? null },
      ].slice(-historyLimit),
    };
    let stored: boolean;
    try {
      stored = await store.save(next);
    } catch (error) {
      await failed("kill_switch_unavailable");
      throw error;
    }
    if (!stored) {
      // Another replica saved this version first: nothing of ours was written.
      await failed("kill_switch_conflict");
      return "conflict";
    }
    saved = next;

    try {
      await applySaved();
    } catch (error) {
      await failed(isKillSwitchError(error) ? error.code : "kill_switch_apply_failed");
      throw error;
    }
    return { changed: true, ...snapshot() };
  }

  return {
    path,
    sync: () => serialized(adoptNewest),
    setStoreLost: (lost) =>
      serialized(async () => {
        storeLost = lost;
        // Done only once the policy has it: after a failed apply the next call tries again (a
        // lost store whose all_writes never reached the policy would leave writes open).
        if (appliedLost === lost) return;
        const at = new Date(now()).toISOString();
        await applySaved();
        // The policy's state changed with no change saved: the audit says so, stamped before
        // any decision made under it, so a forensic replay rebuilds it (best effort: the
        // store is what is failing, the switch must not wait on the log).
        try {
          await audit({
            event: "kill_switch",
            timestamp: at,
            user: { subject: "system:kill-switch-store" },
            details: { action: lost ? "store_lost" : "store_back", scope: "all_writes" },
          });
        } catch {
          // the decision records still carry the refusals' reasons
        }
      }),
    storeStatus: () => ({ kind: store.kind, shared: store.shared, healthy: !storeLost }),
    close: () => store.close(),
    state: snapshot,
    appliedGeneration: () => generation,
    set: (scope, value, changeOptions) => change("set", scope, value, changeOptions),
    clear: (scope, value, changeOptions) => change("clear", scope, value, changeOptions),
    suspendAgent: (agent, suspendOptions) =>
      change(
        "set",
        "agent",
        agent,
        { by: suspendOptions.by ?? AUTO_SUSPENSION_ACTOR, reason: suspendOptions.reason },
        true,
      ),
  };
}

/** The newest saved state; version 0 (`initial`) saved first when there is none. */
async function loadOrCreate(store: KillSwitchStore, initial: PolicyState): Promise<StateFile> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await store.load();
    if (current !== undefined) return current;
    const first: StateFile = {
      format: STATE_FILE_FORMAT,
      version: 0,
      updated_at: null,
      updated_by: null,
      reason: null,
      state: initial,
      history: [],
    };
    // Saved at once, so that an unwritable store stops the start, not the first emergency.
    if (await store.save(first)) return first;
  }
  throw new KillSwitchError(
    "kill_switch_unavailable",
    `${store.location}: version 0 exists but cannot be read back`,
  );
}
