// The embedded GitHub data, kept in GitHub's own JSON shapes so that the fixtures adapter and the
// tests' fake GitHub server (agent/test/support/fake-github.ts) read the very same answers
// through the very same mapping.
//
// agent/fixtures/github/<owner>/<repo>/<number>/
//   pull.json    GET /repos/{owner}/{repo}/pulls/{number}, as GitHub answers it (additions,
//                deletions and changed_files are computed here from the diffs)
//   files.json   the files: [{ "filename", "status", "binary"? }], in GitHub's order
//   <filename>.diff  each text file's patch: a unified diff starting at its first "@@" hunk, as
//                GitHub's `patch` field holds it (no "diff --git"/"---"/"+++" header lines)
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

export const DEFAULT_GITHUB_FIXTURES_DIR = fileURLToPath(
  new URL("../../../fixtures/github", import.meta.url),
);

export interface PullFixture {
  /** The repository's canonical owner/name (GitHub's full_name). */
  repository: string;
  /** GitHub's pull request object. */
  pull: Record<string, unknown>;
  /** GitHub's pull request file objects, in order. */
  files: Record<string, unknown>[];
}

const Manifest = z.array(
  z.strictObject({
    filename: z.string().min(1),
    status: z.enum(["added", "removed", "modified", "renamed", "copied", "changed", "unchanged"]),
    binary: z.boolean().optional(),
  }),
);

const PullJson = z.looseObject({
  number: z.number().int(),
  base: z.looseObject({ repo: z.looseObject({ full_name: z.string() }) }),
});

/** Fixture key: GitHub compares owners and repository names case-insensitively. */
export function fixtureKey(repository: string, number: number): string {
  return `${repository.toLowerCase()}#${number}`;
}

/** Lines added and removed by a patch (GitHub's patch has no file header lines). */
export function countChanges(patch: string): { additions: number; deletions: number } {
  let additions = 0;
  let deletions = 0;
  for (const line of patch.split("\n")) {
    if (line.startsWith("+")) additions += 1;
    else if (line.startsWith("-")) deletions += 1;
  }
  return { additions, deletions };
}

async function subdirectories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

async function loadPull(dir: string): Promise<PullFixture> {
  const pull = PullJson.parse(JSON.parse(await readFile(join(dir, "pull.json"), "utf8")));
  const manifest = Manifest.parse(JSON.parse(await readFile(join(dir, "files.json"), "utf8")));
  const repository = pull.base.repo.full_name;
  const files: Record<string, unknown>[] = [];
  for (const entry of manifest) {
    // GitHub's patch field ends without the last newline.
    const patch = entry.binary
      ? undefined
      : (await readFile(join(dir, `${entry.filename}.diff`), "utf8")).replace(/\n$/, "");
    const { additions, deletions } =
      patch === undefined ? { additions: 0, deletions: 0 } : countChanges(patch);
    const sha = createHash("sha1")
      .update(`${repository}#${pull.number}:${entry.filename}:${patch ?? "binary"}`)
      .digest("hex");
    const path = entry.filename.split("/").map(encodeURIComponent).join("/");
    files.push({
      sha,
      filename: entry.filename,
      status: entry.status,
      additions,
      deletions,
      changes: additions + deletions,
      blob_url: `https://github.com/${repository}/blob/${sha}/${path}`,
      raw_url: `https://github.com/${repository}/raw/${sha}/${path}`,
      contents_url: `https://api.github.com/repos/${repository}/contents/${path}?ref=${sha}`,
      ...(patch === undefined ? {} : { patch }),
    });
  }
  const total = (key: "additions" | "deletions"): number =>
    files.reduce((sum, file) => sum + (typeof file[key] === "number" ? file[key] : 0), 0);
  return {
    repository,
    pull: {
      ...pull,
      additions: total("additions"),
      deletions: total("deletions"),
      changed_files: files.length,
    },
    files,
  };
}

/** Every pull request under `dir`, by fixtureKey. */
export async function loadGitHubFixtures(
  dir: string = DEFAULT_GITHUB_FIXTURES_DIR,
): Promise<Map<string, PullFixture>> {
  const fixtures = new Map<string, PullFixture>();
  for (const owner of await subdirectories(dir)) {
    for (const repo of await subdirectories(join(dir, owner))) {
      for (const number of await subdirectories(join(dir, owner, repo))) {
        const fixture = await loadPull(join(dir, owner, repo, number));
        if (String(fixture.pull["number"]) !== number)
          throw new Error(`fixture ${owner}/${repo}/${number}: pull.json has another number`);
        fixtures.set(fixtureKey(fixture.repository, Number(number)), fixture);
      }
    }
  }
  return fixtures;
}
