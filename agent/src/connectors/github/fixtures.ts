// The offline GitHub adapter: answers from agent/fixtures/github (see fixture-data.ts) through
// the same reading and mapping as the real adapter. Read-only: GitHub has no writes here.
import type { GitHubPort, PullRequest } from "../port.ts";
import {
  DEFAULT_GITHUB_FIXTURES_DIR,
  fixtureKey,
  loadGitHubFixtures,
  type PullFixture,
} from "./fixture-data.ts";
import {
  GitHubPull,
  GitHubPullFiles,
  checkLimits,
  checkPullNumber,
  githubError,
  parseRepository,
  pullLabel,
  toPullRequest,
} from "./shared.ts";

export interface GitHubFixturesOptions {
  /** Defaults to agent/fixtures/github. */
  dir?: string;
  /** At most this many files (default and ceiling 3000, as GitHub). */
  maxFiles?: number;
  /** Total patch bytes returned (default 1 MiB); see PatchBudget. */
  maxPatchBytes?: number;
}

export function createGitHubFixtures(options: GitHubFixturesOptions = {}): GitHubPort {
  const limits = checkLimits(options);
  const dir = options.dir ?? DEFAULT_GITHUB_FIXTURES_DIR;
  let loaded: Promise<Map<string, PullFixture>> | undefined;

  return {
    async getPullRequest(repository: string, number: number): Promise<PullRequest> {
      parseRepository(repository);
      checkPullNumber(number);
      loaded ??= loadGitHubFixtures(dir);
      const fixture = (await loaded).get(fixtureKey(repository, number));
      if (fixture === undefined) {
        throw githubError(
          "connector_not_found",
          `GitHub pull request ${pullLabel(repository, number)} was not found`,
          { status: 404 },
        );
      }
      return toPullRequest(
        fixture.repository,
        GitHubPull.parse(fixture.pull),
        GitHubPullFiles.parse(fixture.files),
        limits,
      );
    },
  };
}
