// Hot reload of the signed policy bundle: an in-process engine that watches its bundle file
// (fs.watch on the folder, so an atomic rename is seen) with a poll as the safety net, and
// swaps in a new revision without a restart.
//
// Invariants:
// - A candidate is fully read, signature-verified and compiled, and the current kill-switch
//   state is applied to it, before it replaces the serving engine in a single assignment;
//   evaluation is synchronous, so every call is decided wholly by one revision, never dropped.
// - A refused or broken candidate never replaces a good revision: the last good one keeps
//   serving, the refusal is logged, counted and shown by status() (for /readyz and metrics).
// - With no good revision yet (none at boot), every evaluation denies (policy_unavailable);
//   a good bundle appearing later is loaded.
// - Checks run one at a time; the same bytes are never loaded (or refused) twice in a row
//   (except after policy_rollback_state_unavailable, retried at the next poll).
// - Anti-rollback (rollback.ts), at boot and on every reload: a candidate without a build serial,
//   or below the highest serial accepted (or equal to it with another revision), is refused
//   (policy_bundle_serial_missing, policy_bundle_rollback), and the mark is durably raised before
//   a candidate serves. Default store: this process's memory; main.ts persists it.
//
// Failure modes: a watch that cannot be set up (the folder is absent, the platform has none)
// leaves the poll; a read or load error is a refusal like any other.
import { createHash } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Log } from "../../../common/service.ts";
import type { DecisionInput, PolicyState } from "./decision.ts";
import {
  failedEngine,
  loadPolicyEngine,
  type InProcessPolicyEngine,
  type LoadOptions,
  type PolicyOutcome,
} from "./engine.ts";
import { PolicyError, describeThrown, type PolicyErrorCode } from "./errors.ts";
import { RollbackGuard, memoryHighWaterStore, type HighWaterStore } from "./rollback.ts";

export interface ReloadEvent {
  readonly outcome: "loaded" | "refused";
  /** The revision serving after this event (undefined: none). */
  readonly revision: string | undefined;
  readonly previousRevision: string | undefined;
  readonly code?: PolicyErrorCode;
  readonly message?: string;
  readonly at: string;
}

export interface BundleStatus {
  readonly path: string;
  readonly revision: string | undefined;
  /** When the serving revision was loaded. */
  readonly loadedAt: string | undefined;
  readonly reloads: number;
  readonly failures: number;
  /** The newest refusal, when it came after the newest load. */
  readonly refused: { code: PolicyErrorCode; message: string; at: string } | undefined;
}

export interface ReloadingPolicyEngine extends InProcessPolicyEngine {
  status(): BundleStatus;
  /** Checks the file now (what the watch and the poll call); resolves when done. */
  check(): Promise<void>;
  close(): void;
}

export interface ReloadOptions extends Omit<LoadOptions, "bundleBytes"> {
  /** Poll interval (ms), the safety net under the watch. */
  pollMs?: number;
  log?: Log;
  onEvent?: (event: ReloadEvent) => void;
  now?: () => number;
  /**
   * Where the anti-rollback high-water mark persists (default: memory, this process only);
   * false turns the check off (the shadow policy only, which never decides).
   */
  highWater?: HighWaterStore | false;
}

interface Candidate {
  digest: string;
  engine: InProcessPolicyEngine | PolicyError;
}

class Reloader implements ReloadingPolicyEngine {
  #current: InProcessPolicyEngine;
  #state: PolicyState | undefined;
  #digest: string | undefined;
  #stamp = "";
  #loadedAt: string | undefined;
  #refused: BundleStatus["refused"];
  #counts = { reloads: 0, failures: 0 };
  #running: Promise<void> | undefined;
  #again = false;
  readonly #options: ReloadOptions;
  readonly #guard: RollbackGuard | undefined;
  readonly #closers: (() => void)[] = [];

  constructor(
    initial: InProcessPolicyEngine,
    digest: string | undefined,
    options: ReloadOptions,
    guard: RollbackGuard | undefined,
  ) {
    this.#current = initial;
    this.#options = options;
    this.#digest = digest;
    this.#guard = guard;
    if (initial.loadError === null) {
      this.#loadedAt = this.#isoNow();
      this.#options.log?.("info", "policy bundle loaded", {
        revision: initial.revision,
        previous_revision: null,
      });
      this.#emit({
        outcome: "loaded",
        revision: initial.revision,
        previousRevision: undefined,
        at: this.#loadedAt,
      });
    } else {
      this.#refuse(initial.loadError);
    }
  }

  get revision(): string | undefined {
    return this.#current.revision;
  }
  get loadError(): PolicyError | null {
    return this.#current.loadError;
  }
  get data(): InProcessPolicyEngine["data"] {
    return this.#current.data;
  }
  evaluate(input: DecisionInput): PolicyOutcome {
    return this.#current.evaluate(input);
  }
  setState(state: PolicyState): void {
    this.#current.setState(state);
    this.#state = state;
  }

  status(): BundleStatus {
    return {
      path: this.#options.bundlePath,
      revision: this.#current.revision,
      loadedAt: this.#loadedAt,
      ...this.#counts,
      refused: this.#refused,
    };
  }

  /** Serialized: a check asked for while one runs runs once more after it. */
  check(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#checkOnce().catch((thrown: unknown) => {
          this.#options.log?.("error", "policy bundle check failed", {
            error: describeThrown(thrown),
          });
        });
      } while (this.#askedAgain());
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Set by a check() asked for while one ran (read through a call: it changes across awaits). */
  #askedAgain(): boolean {
    return this.#again;
  }

  async #checkOnce(): Promise<void> {
    const path = this.#options.bundlePath;
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) return; // gone for now: keep serving what we have
    const stamp = `${String(info.ino)}:${String(info.size)}:${String(info.mtimeMs)}`;
    if (stamp === this.#stamp) return;
    this.#stamp = stamp;
    const candidate = await readCandidate(path, this.#options);
    if (candidate.digest === this.#digest) return;
    this.#digest = candidate.digest;
    if (candidate.engine instanceof PolicyError) this.#refuse(candidate.engine);
    else await this.#swap(candidate.engine);
  }

  async #swap(next: InProcessPolicyEngine): Promise<void> {
    const applied = this.#state;
    try {
      if (applied !== undefined) next.setState(applied);
    } catch (thrown) {
      this.#refuse(
        new PolicyError(
          "policy_bundle_corrupt",
          `the kill-switch state does not apply: ${describeThrown(thrown)}`,
        ),
      );
      return;
    }
    const refusal = await admit(this.#guard, next);
    if (refusal !== undefined) {
      if (refusal.code === "policy_rollback_state_unavailable") this.#retryLater();
      this.#refuse(refusal);
      return;
    }
    // A kill-switch state handed over while the check awaited went to the engine serving then,
    // not to `next`: hand it over now, in the same synchronous step as the swap.
    if (this.#state !== applied && this.#state !== undefined) {
      try {
        next.setState(this.#state);
      } catch (thrown) {
        this.#refuse(
          new PolicyError(
            "policy_evaluation_failed",
            `the new revision cannot take the kill-switch state: ${describeThrown(thrown)}`,
          ),
        );
        return;
      }
    }
    const previousRevision = this.#current.revision;
    this.#current = next; // the swap: one assignment between two synchronous evaluations
    this.#loadedAt = this.#isoNow();
    this.#refused = undefined;
    this.#counts.reloads++;
    this.#options.log?.("info", "policy bundle loaded", {
      revision: next.revision,
      previous_revision: previousRevision ?? null,
    });
    this.#emit({
      outcome: "loaded",
      revision: next.revision,
      previousRevision,
      at: this.#loadedAt,
    });
  }

  /** The same file is checked again at the next poll (the store may be back by then). */
  #retryLater(): void {
    this.#stamp = "";
    this.#digest = undefined;
  }

  #refuse(error: PolicyError): void {
    const at = this.#isoNow();
    this.#refused = { code: error.code, message: error.message, at };
    this.#counts.failures++;
    const serving = this.#current.revision;
    this.#options.log?.(
      "error",
      `policy bundle refused: ${serving === undefined ? "no policy, every call is denied" : `revision ${serving} keeps serving`}`,
      {
        code: error.code,
        detail: error.message,
        path: this.#options.bundlePath,
        serving_revision: serving ?? null,
        ...(this.#guard?.mark === undefined
          ? {}
          : {
              accepted_serial: this.#guard.mark.serial,
              accepted_revision: this.#guard.mark.revision,
            }),
      },
    );
    this.#emit({
      outcome: "refused",
      revision: serving,
      previousRevision: serving,
      code: error.code,
      message: error.message,
      at,
    });
  }

  #emit(event: ReloadEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // an observer's failure must not change which policy serves
    }
  }

  #isoNow(): string {
    return new Date((this.#options.now ?? Date.now)()).toISOString();
  }

  startWatching(): void {
    const pollMs = this.#options.pollMs ?? 2_000;
    const poll = setInterval(() => void this.check(), pollMs);
    poll.unref();
    this.#closers.push(() => {
      clearInterval(poll);
    });
    const name = basename(this.#options.bundlePath);
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(dirname(this.#options.bundlePath), { persistent: false }, (_event, file) => {
        if (file === null || file === name) void this.check();
      });
      watcher.on("error", () => watcher?.close());
    } catch (thrown) {
      this.#options.log?.("warn", "cannot watch the policy bundle; polling only", {
        error: describeThrown(thrown),
        poll_ms: pollMs,
      });
    }
    this.#closers.push(() => watcher?.close());
  }

  close(): void {
    for (const close of this.#closers.splice(0)) close();
  }
}

async function readCandidate(path: string, options: ReloadOptions): Promise<Candidate> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (thrown) {
    return {
      digest: `unreadable:${describeThrown(thrown)}`,
      engine: new PolicyError(
        "policy_bundle_missing",
        `cannot read ${path}: ${describeThrown(thrown)}`,
      ),
    };
  }
  const digest = createHash("sha256").update(bytes).digest("hex");
  const { pollMs: _p, log: _l, onEvent: _e, now: _n, highWater: _h, ...load } = options;
  const engine = await loadPolicyEngine({ ...load, bundleBytes: bytes });
  return { digest, engine: engine.loadError ?? engine };
}

/** The anti-rollback check of a loaded candidate (none without a guard). */
async function admit(
  guard: RollbackGuard | undefined,
  engine: InProcessPolicyEngine,
): Promise<PolicyError | undefined> {
  if (guard === undefined) return undefined;
  return guard.admit({ serial: engine.data?.zyx.bundle.serial, revision: engine.revision ?? "" });
}

/**
 * Loads the bundle (a failure, or a refusal by the anti-rollback check, gives an engine that
 * denies everything and says why), then keeps it current. Never throws.
 */
export async function createReloadingPolicyEngine(
  options: ReloadOptions,
): Promise<ReloadingPolicyEngine> {
  const guard =
    options.highWater === false
      ? undefined
      : new RollbackGuard(options.highWater ?? memoryHighWaterStore());
  const first = await readCandidate(options.bundlePath, options);
  let initial = first.engine instanceof PolicyError ? failedEngine(first.engine) : first.engine;
  let digest: string | undefined = first.digest;
  if (initial.loadError === null) {
    const refusal = await admit(guard, initial);
    if (refusal !== undefined) initial = failedEngine(refusal);
    if (refusal?.code === "policy_rollback_state_unavailable") digest = undefined;
  }
  const reloader = new Reloader(initial, digest, options, guard);
  reloader.startWatching();
  await reloader.check(); // records the file's stamp
  return reloader;
}
