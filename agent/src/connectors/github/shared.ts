// What both GitHub adapters share: the argument checks, the shape of GitHub's answers (read with
// zod, so an unexpected answer is `connector_bad_response`, never a crash further on), the
// mapping to the port's PullRequest, and the bounds on how much of a pull request is returned.
import { z } from "zod";
import {
  ConnectorError,
  type PullRequest,
  type PullRequestFile,
  type ConnectorErrorCode,
} from "../port.ts";

/** GitHub lists at most 3000 files of a pull request; we never read more. */
export const MAX_FILES = 3000;
/** Total bytes of patch text returned for one pull request (UTF-8). */
export const MAX_PATCH_BYTES = 1024 * 1024;
/**
 * Ends a patch cut at the byte budget. It starts with "\" like git's "\ No newline at end of
 * file", a line that diff readers skip; the hunk it ends is incomplete (its header counts more).
 */
export const PATCH_TRUNCATED_MARKER = "\\ patch truncated: the pull request's diff is over";

export interface Limits {
  maxFiles: number;
  maxPatchBytes: number;
}

export function checkLimits(options: { maxFiles?: number; maxPatchBytes?: number }): Limits {
  const maxFiles = options.maxFiles ?? MAX_FILES;
  const maxPatchBytes = options.maxPatchBytes ?? MAX_PATCH_BYTES;
  if (!Number.isInteger(maxFiles) || maxFiles < 1 || maxFiles > MAX_FILES)
    throw new TypeError(`maxFiles must be an integer from 1 to ${MAX_FILES}`);
  if (!Number.isInteger(maxPatchBytes) || maxPatchBytes < 1)
    throw new TypeError("maxPatchBytes must be a positive integer");
  return { maxFiles, maxPatchBytes };
}

export function githubError(
  code: ConnectorErrorCode,
  message: string,
  options: { status?: number; cause?: unknown } = {},
): ConnectorError {
  return new ConnectorError("github", code, message, options);
}

const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
const NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** "owner/name" → its parts; anything else is refused before a request is made. */
export function parseRepository(repository: string): { owner: string; repo: string } {
  const parts = repository.split("/");
  const [owner, repo] = parts;
  if (
    parts.length !== 2 ||
    owner === undefined ||
    repo === undefined ||
    !OWNER.test(owner) ||
    !NAME.test(repo) ||
    repo === "." ||
    repo === ".."
  ) {
    throw githubError(
      "connector_rejected",
      "the repository must be given as owner/name, such as zyx-bank/platform-infra",
    );
  }
  return { owner, repo };
}

export function checkPullNumber(number: number): void {
  if (!Number.isSafeInteger(number) || number < 1) {
    throw githubError("connector_rejected", "the pull request number must be a positive integer");
  }
}

export function pullLabel(repository: string, number: number): string {
  return `${repository}#${number}`;
}

// --- GitHub's JSON (only the fields we read; GitHub sends many more) ------------------------

export const GitHubPull = z.object({
  number: z.number().int(),
  title: z.string(),
  state: z.enum(["open", "closed"]),
  user: z.object({ login: z.string() }).nullable(),
  body: z.string().nullable().optional(),
  merged: z.boolean().optional(),
  merged_at: z.string().nullable().optional(),
  base: z.object({
    ref: z.string(),
    repo: z.object({ full_name: z.string() }).nullable().optional(),
  }),
  head: z.object({ ref: z.string() }),
});
export type GitHubPull = z.infer<typeof GitHubPull>;

export const GitHubPullFile = z.object({
  filename: z.string(),
  status: z.enum(["added", "removed", "modified", "renamed", "copied", "changed", "unchanged"]),
  additions: z.number().int().min(0),
  deletions: z.number().int().min(0),
  patch: z.string().optional(),
});
export type GitHubPullFile = z.infer<typeof GitHubPullFile>;

export const GitHubPullFiles = z.array(GitHubPullFile);

/** zod's verdict as a short, credential-free message. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
}

// --- Mapping and bounds ---------------------------------------------------------------------

/**
 * Keeps patches while their total stays within `maxPatchBytes`. The patch that crosses the
 * budget is cut at its last whole line and ends with PATCH_TRUNCATED_MARKER; the patches of the
 * files after it become null (as GitHub does for a diff too large to show).
 */
export class PatchBudget {
  #left: number;
  readonly #max: number;

  constructor(maxPatchBytes: number) {
    this.#left = maxPatchBytes;
    this.#max = maxPatchBytes;
  }

  take(patch: string | undefined): string | null {
    if (patch === undefined) return null;
    if (this.#left <= 0) return null;
    const bytes = Buffer.from(patch, "utf8");
    if (bytes.length <= this.#left) {
      this.#left -= bytes.length;
      return patch;
    }
    // Cut at a line end: "\n" is one byte in UTF-8, so the cut never splits a character.
    const newline = bytes.subarray(0, this.#left).lastIndexOf(0x0a);
    this.#left = 0;
    const kept = newline < 0 ? "" : bytes.subarray(0, newline + 1).toString("utf8");
    return `${kept}${PATCH_TRUNCATED_MARKER} ${this.#max} bytes`;
  }
}

export function toPullRequest(
  repository: string,
  pull: GitHubPull,
  files: readonly GitHubPullFile[],
  limits: Limits,
): PullRequest {
  const budget = new PatchBudget(limits.maxPatchBytes);
  const mapped: PullRequestFile[] = files.slice(0, limits.maxFiles).map((file) => ({
    path: file.filename,
    status: file.status,
    additions: file.additions,
    deletions: file.deletions,
    patch: budget.take(file.patch),
  }));
  return {
    repository: pull.base.repo?.full_name ?? repository,
    number: pull.number,
    title: pull.title,
    // GitHub shows a deleted account as "ghost".
    author: pull.user?.login ?? "ghost",
    state: pull.state,
    merged: pull.merged ?? (pull.merged_at !== null && pull.merged_at !== undefined),
    base: pull.base.ref,
    head: pull.head.ref,
    body: pull.body ?? "",
    files: mapped,
  };
}
