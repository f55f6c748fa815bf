// The fixture adapters' record of what they "wrote": one JSON object per line, appended to a
// local file so that a demo can show them. Path: the `writesPath` option, else env
// ZYX_FIXTURE_WRITES (relative to the working directory), else .state/fixture-writes.jsonl at
// the repository root.
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

const REPOSITORY_ROOT = join(import.meta.dirname, "..", "..", "..", "..");

export function defaultWritesPath(env: NodeJS.ProcessEnv): string {
  const configured = env["ZYX_FIXTURE_WRITES"];
  return configured === undefined || configured.trim() === ""
    ? join(REPOSITORY_ROOT, ".state", "fixture-writes.jsonl")
    : resolve(configured);
}

export async function appendWrite(path: string, record: Record<string, unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await appendFile(path, `${JSON.stringify(record)}\n`, { encoding: "utf8", mode: 0o600 });
}

/** The records already in the file (none when it does not exist); unreadable lines skipped. */
export async function readWrites(path: string): Promise<Record<string, unknown>[]> {
  let content: string;
  try {
    content = await readFile(path, "utf8");
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "ENOENT") return [];
    throw error;
  }
  const records: Record<string, unknown>[] = [];
  for (const line of content.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        records.push(value as Record<string, unknown>);
      }
    } catch {
      // Another writer's torn or foreign line: not ours to judge.
    }
  }
  return records;
}
