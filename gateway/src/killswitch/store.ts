// The kill switch's state file: one JSON document, replaced atomically on every change.
//
// Format (`format: "zyx-kill-switch/1"`):
//   version      0 until the first change, then +1 per change (never reused)
//   updated_at   ISO 8601 time of the last change (null at version 0)
//   updated_by   who made it; reason: why (null at version 0)
//   state        exactly PolicyState, what the policy reads as data.zyx.state
//   history      the last changes, oldest first, bounded (each: version, at, by, reason, action,
//                scope, value)
//
// Atomic replacement: write a temporary file in the same directory, fsync it, rename it over the
// state file, fsync the directory. A crash at any point leaves either the old or the new file,
// whole. One writer per file: nothing locks the file against another process.
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { PolicyState } from "../policy/decision.ts";
import { describeThrown, KillSwitchError } from "./errors.ts";
import { KILL_SWITCH_SCOPES } from "./scopes.ts";

export const STATE_FILE_FORMAT = "zyx-kill-switch/1";

export const HistoryEntry = z.strictObject({
  version: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  at: z.iso.datetime({ offset: true }),
  by: z.string().min(1),
  reason: z.string(),
  action: z.enum(["set", "clear"]),
  scope: z.enum(KILL_SWITCH_SCOPES),
  value: z.string().nullable(),
});

export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const StateFile = z
  .strictObject({
    format: z.literal(STATE_FILE_FORMAT),
    version: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    updated_at: z.iso.datetime({ offset: true }).nullable(),
    updated_by: z.string().nullable(),
    reason: z.string().nullable(),
    state: PolicyState,
    history: z.array(HistoryEntry),
  })
  .superRefine((file, ctx) => {
    let previous = 0;
    for (const [index, entry] of file.history.entries()) {
      if (entry.version <= previous || entry.version > file.version) {
        ctx.addIssue({
          code: "custom",
          path: ["history", index, "version"],
          message: `history versions must increase and not exceed the file's version ${String(file.version)}`,
        });
      }
      previous = entry.version;
    }
  });

export type StateFile = z.infer<typeof StateFile>;

/** Writes `text` to `path` atomically and durably (see the top of this file). */
export type AtomicWriter = (path: string, text: string) => Promise<void>;

function tempPrefix(path: string): string {
  return `.${basename(path)}.tmp-`;
}

export const writeFileAtomic: AtomicWriter = async (path, text) => {
  const directory = dirname(path);
  const temp = join(
    directory,
    `${tempPrefix(path)}${String(process.pid)}-${randomBytes(6).toString("hex")}`,
  );
  let renamed = false;
  try {
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(text, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    renamed = true;
    const dir = await open(directory, "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } finally {
    if (!renamed) await rm(temp, { force: true });
  }
};

/** Removes temporary files a crashed writer left next to `path` (best effort). */
export async function removeStaleTempFiles(path: string): Promise<void> {
  const prefix = tempPrefix(path);
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  await Promise.all(
    names
      .filter((name) => name.startsWith(prefix))
      .map((name) => rm(join(dirname(path), name), { force: true }).catch(() => undefined)),
  );
}

/**
 * Reads the state file. Undefined when it does not exist; KillSwitchError
 * `kill_switch_state_corrupt` when it is not a valid state file (fail closed: the caller refuses
 * to start rather than guess), `kill_switch_unavailable` when it cannot be read.
 */
export async function readStateFile(path: string): Promise<StateFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new KillSwitchError(
      "kill_switch_unavailable",
      `cannot read the kill-switch state file ${path}: ${describeThrown(error)}`,
      { cause: error },
    );
  }
  const refuse = (why: string, cause?: unknown): KillSwitchError =>
    new KillSwitchError(
      "kill_switch_state_corrupt",
      `the kill-switch state file ${path} is corrupt (${why}); refusing to start: restore it ` +
        "from a backup or rebuild it from the audit log's kill_switch records",
      cause === undefined ? {} : { cause },
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw refuse("not JSON", error);
  }
  const parsed = StateFile.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`);
    throw refuse(issues.join("; "));
  }
  return parsed.data;
}

/** Serializes and writes the state file atomically, creating its directory when needed. */
export async function writeStateFile(
  path: string,
  file: StateFile,
  writer: AtomicWriter = writeFileAtomic,
): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writer(path, `${JSON.stringify(file, null, 2)}\n`);
  } catch (error) {
    throw new KillSwitchError(
      "kill_switch_unavailable",
      `cannot write the kill-switch state file ${path}: ${describeThrown(error)}`,
      { cause: error },
    );
  }
}
