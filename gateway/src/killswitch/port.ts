// The kill switch's storage port: where the versioned state lives. Two adapters behind it, one
// contract test (gateway/test/killswitch/store-contract.test.ts):
//   - file (embedded default): the JSON state file of store.ts, one writer per file;
//   - postgres (replicas): a versioned table shared by every gateway (postgres-store.ts).
//
// Invariants: versions start at 0 and grow by exactly 1 per saved change; `save(next)` stores
// `next` only when no version `next.version` exists yet (a compare-and-set on the version), so
// two replicas changing at once never overwrite each other: the loser gets false, re-reads and
// tries again. `load()` returns the newest saved version.
// Failure modes: load and save throw KillSwitchError `kill_switch_unavailable` when the store
// cannot be reached, `kill_switch_state_corrupt` when what it holds is not a valid state.
import type { AtomicWriter, StateFile } from "./store.ts";
import { readStateFile, removeStaleTempFiles, writeFileAtomic, writeStateFile } from "./store.ts";

export interface KillSwitchStore {
  /** "file" or "postgres". */
  readonly kind: "file" | "postgres";
  /** Where the state lives, for messages (a file path, or the table's name). */
  readonly location: string;
  /** True when other processes may change the state (then they are watched and re-read). */
  readonly shared: boolean;
  /** The newest saved state; undefined when nothing was ever saved. */
  load(): Promise<StateFile | undefined>;
  /** Saves `next` unless version `next.version` already exists (false then). */
  save(next: StateFile): Promise<boolean>;
  /**
   * Calls `onChange` when another process may have saved a version (a notification, or a
   * reconnection after which notifications may have been missed). Returns the stop function.
   */
  watch?(onChange: () => void): () => Promise<void>;
  /** Round trip to the store; throws when it cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The embedded adapter: the state file (atomic replacement, one writer per file). */
export async function openFileKillSwitchStore(
  path: string,
  write: AtomicWriter = writeFileAtomic,
): Promise<KillSwitchStore> {
  if (typeof path !== "string" || path === "") throw new TypeError("path is required");
  await removeStaleTempFiles(path);
  return {
    kind: "file",
    location: path,
    shared: false,
    load: () => readStateFile(path),
    save: async (next) => {
      await writeStateFile(path, next, write);
      return true;
    },
    ping: async () => {
      await readStateFile(path);
    },
    close: () => Promise.resolve(),
  };
}
