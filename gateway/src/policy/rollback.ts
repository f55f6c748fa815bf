// Anti-rollback for the policy bundle: a bundle's revision is a content digest with no order, so
// the build stamps a signed, monotonic serial (data.json zyx.bundle.serial, scripts/
// bundle-policy.sh) and the gateway keeps a high-water mark, the (serial, revision) of the newest
// bundle it accepted. A validly signed but older bundle (a bundle server replaying one, an old
// file copied back, a stale download cache at boot) is refused like a badly signed one.
//
// Invariants (RollbackGuard.admit):
// - A bundle without a serial is refused (policy_bundle_serial_missing): fail closed.
// - serial < mark.serial is refused; serial == mark.serial with another revision is refused
//   (policy_bundle_rollback): one serial names one content. The same (serial, revision) is
//   admitted again (a re-deployed or re-downloaded copy of what serves, a restart).
// - The mark compared against is the higher of this process's and the store's (read afresh at
//   each admission: another replica may have raised a shared one).
// - The mark is raised in the store BEFORE the bundle is admitted: a bundle never serves whose
//   mark is not durable. A mark is never lowered.
//
// Failure modes: a store that cannot be read or written (a corrupt mark file, PostgreSQL away)
// refuses the candidate (policy_rollback_state_unavailable): the serving revision keeps serving,
// with none every call is denied; the reloader retries at its next poll.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { PolicyError, describeThrown } from "./errors.ts";

/** The newest bundle accepted: its serial and the revision (content digest) it carried. */
export interface HighWaterMark {
  readonly serial: number;
  readonly revision: string;
}

export const HighWaterMark = z.strictObject({
  serial: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  revision: z.string().min(1),
});

/** Where the mark persists across restarts (memory: this process only). */
export interface HighWaterStore {
  /** For logs: where the mark is kept. */
  readonly location: string;
  /** The stored mark (undefined: none yet). Throws when it cannot be read. */
  load(): Promise<HighWaterMark | undefined>;
  /** Stores `mark` unless a higher serial is stored; answers the mark stored after. */
  raise(mark: HighWaterMark): Promise<HighWaterMark>;
  close?(): Promise<void>;
}

/** The higher of two marks (by serial; the first on a tie). */
export function higherMark(
  a: HighWaterMark | undefined,
  b: HighWaterMark | undefined,
): HighWaterMark | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.serial > a.serial ? b : a;
}

/** Why `candidate` may not serve under `mark`, or undefined when it may. */
export function rollbackRefusal(
  mark: HighWaterMark | undefined,
  candidate: { serial: number | undefined; revision: string },
): PolicyError | undefined {
  const { serial, revision } = candidate;
  if (serial === undefined) {
    return new PolicyError(
      "policy_bundle_serial_missing",
      `revision ${revision} has no build serial (data.json zyx.bundle.serial): rebuild it with scripts/bundle-policy.sh`,
    );
  }
  if (mark === undefined) return undefined;
  if (serial < mark.serial || (serial === mark.serial && revision !== mark.revision)) {
    return new PolicyError(
      "policy_bundle_rollback",
      `revision ${revision} serial ${String(serial)} is not newer than the accepted ` +
        `revision ${mark.revision} serial ${String(mark.serial)}: to roll policy back, rebuild the older Rego (it gets a new serial)`,
    );
  }
  return undefined;
}

function unavailable(store: HighWaterStore, what: string, cause: unknown): PolicyError {
  return new PolicyError(
    "policy_rollback_state_unavailable",
    `the policy high-water mark (${store.location}) cannot be ${what}: ${describeThrown(cause)}`,
    { cause },
  );
}

/** Admits bundles in serial order against a store; one admission at a time (the reloader's). */
export class RollbackGuard {
  #mark: HighWaterMark | undefined;
  readonly store: HighWaterStore;

  constructor(store: HighWaterStore) {
    this.store = store;
  }

  /** The highest mark this process knows of. */
  get mark(): HighWaterMark | undefined {
    return this.#mark;
  }

  /** Undefined when the candidate may serve (the mark then durably raised to it); else why not. */
  async admit(candidate: {
    serial: number | undefined;
    revision: string;
  }): Promise<PolicyError | undefined> {
    const missing = rollbackRefusal(undefined, candidate);
    if (missing !== undefined) return missing;
    let stored: HighWaterMark | undefined;
    try {
      stored = await this.store.load();
    } catch (thrown) {
      return unavailable(this.store, "read", thrown);
    }
    this.#mark = higherMark(this.#mark, stored);
    const refusal = rollbackRefusal(this.#mark, candidate);
    if (refusal !== undefined) return refusal;
    const next = HighWaterMark.parse(candidate);
    if (stored?.serial !== next.serial) {
      let after: HighWaterMark;
      try {
        after = await this.store.raise(next);
      } catch (thrown) {
        return unavailable(this.store, "raised", thrown);
      }
      // Another replica raised a shared mark meanwhile: its bundle is the newer one.
      const raced = rollbackRefusal(after, candidate);
      this.#mark = higherMark(next, after);
      if (raced !== undefined) return raced;
    }
    this.#mark = higherMark(next, this.#mark);
    return undefined;
  }
}

/** This process only: a restart forgets the mark. */
export function memoryHighWaterStore(): HighWaterStore {
  let mark: HighWaterMark | undefined;
  return {
    location: "memory",
    load: () => Promise.resolve(mark),
    raise: (next) => {
      mark = higherMark(mark, next);
      return Promise.resolve(mark ?? next);
    },
  };
}

const MarkFile = HighWaterMark.extend({ accepted_at: z.string() });

/**
 * A JSON file (in ZYX_STATE_DIR), written atomically (temp file, then rename). A missing file is
 * no mark (a first boot); an unreadable or malformed one throws (fail closed: an operator looks).
 * Processes sharing one file may race (last write wins); replicas share PostgreSQL instead.
 */
export function fileHighWaterStore(path: string): HighWaterStore {
  const load = async (): Promise<HighWaterMark | undefined> => {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (thrown) {
      if ((thrown as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw thrown;
    }
    const { serial, revision } = MarkFile.parse(JSON.parse(text));
    return { serial, revision };
  };
  return {
    location: path,
    load,
    raise: async (next) => {
      const stored = await load();
      if (stored !== undefined && stored.serial >= next.serial) return stored;
      await mkdir(dirname(path), { recursive: true });
      const aside = `${path}.${String(process.pid)}.tmp`;
      const body = { ...next, accepted_at: new Date().toISOString() };
      await writeFile(aside, `${JSON.stringify(body)}\n`, { mode: 0o600, flush: true });
      await rename(aside, path);
      return next;
    },
  };
}
