// GitHub connector: the factory that picks the adapter from the environment.
//
//   GITHUB_TOKEN        a token that may read pull requests (GitHub App installation token or a
//                       fine-grained token with "Pull requests: read"); sent as
//                       "Authorization: token ..." by Octokit
//   GITHUB_TOKEN_FILE   instead of GITHUB_TOKEN: a file that holds it (a mounted secret); surrounding
//                       whitespace is trimmed. Setting both is refused.
//   GITHUB_API_URL      the REST API base URL; default https://api.github.com when a token is set
//                       (GitHub Enterprise Server: https://HOST/api/v3). https only (http only to
//                       localhost, for a local fake).
//
// No token and no URL: the offline fixtures (agent/fixtures/github). A URL without a token throws
// here, naming the missing variable: a half-configured connector never falls back to fixtures.
import type { GitHubPort } from "../port.ts";
import { envValue, readApiToken } from "../env.ts";
import { createGitHubFixtures, type GitHubFixturesOptions } from "./fixtures.ts";
import { checkApiUrl, createGitHubRest, type GitHubRestOptions } from "./rest.ts";

export { createGitHubFixtures, type GitHubFixturesOptions } from "./fixtures.ts";
export { createGitHubRest, type GitHubRestOptions } from "./rest.ts";
export { MAX_FILES, MAX_PATCH_BYTES, PATCH_TRUNCATED_MARKER } from "./shared.ts";

export const DEFAULT_GITHUB_API_URL = "https://api.github.com";

export type GitHubFromEnvOptions = Omit<GitHubRestOptions, "baseUrl" | "token"> &
  Pick<GitHubFixturesOptions, "dir">;

export function createGitHubFromEnv(
  env: NodeJS.ProcessEnv,
  options: GitHubFromEnvOptions = {},
): GitHubPort {
  const url = envValue(env, "GITHUB_API_URL");
  const token = readApiToken(env, "GITHUB_TOKEN", "GITHUB_TOKEN_FILE");

  if (token === undefined) {
    if (url !== undefined)
      throw new Error("GITHUB_API_URL is set but GITHUB_TOKEN (or GITHUB_TOKEN_FILE) is not");
    const { dir, maxFiles, maxPatchBytes } = options;
    return createGitHubFixtures({
      ...(dir === undefined ? {} : { dir }),
      ...(maxFiles === undefined ? {} : { maxFiles }),
      ...(maxPatchBytes === undefined ? {} : { maxPatchBytes }),
    });
  }
  if (url !== undefined) checkApiUrl(url, "GITHUB_API_URL");
  const { dir: _dir, ...restOptions } = options;
  return createGitHubRest({
    ...restOptions,
    baseUrl: url ?? DEFAULT_GITHUB_API_URL,
    token,
  });
}
