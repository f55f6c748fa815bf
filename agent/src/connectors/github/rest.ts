// The real GitHub adapter: GitHub's REST API through @octokit/rest.
//
//   GET {baseUrl}/repos/{owner}/{repo}/pulls/{pull_number}
//   GET {baseUrl}/repos/{owner}/{repo}/pulls/{pull_number}/files?per_page=100  (paginated)
//
// Retries: @octokit/plugin-retry retries 5xx and network failures (`retries` times, waiting
// retryBaseDelayMs × 1, 4, 9...); rate limits (429, or 403 with rate-limit headers) are waited out
// by rate-limit.ts, honouring Retry-After / x-ratelimit-reset up to a cap. Every attempt has its
// own timeout. At most maxFiles files (GitHub itself lists at most 3000) and maxPatchBytes of
// patch text are returned (shared.ts).
import { retry } from "@octokit/plugin-retry";
import { Octokit } from "@octokit/rest";
import type { GitHubPort, PullRequest } from "../port.ts";
import { ConnectorError } from "../port.ts";
import { createGitHubFetch, rateLimitWaitMs } from "./rate-limit.ts";
import {
  GitHubPull,
  GitHubPullFiles,
  checkLimits,
  checkPullNumber,
  describeIssues,
  githubError,
  parseRepository,
  pullLabel,
  toPullRequest,
  type GitHubPullFile,
} from "./shared.ts";

export interface GitHubRestOptions {
  /** e.g. https://api.github.com, or https://github.example.com/api/v3 (GitHub Enterprise). */
  baseUrl: string;
  /** A GitHub App installation token or a fine-grained token with pull requests: read. */
  token: string;
  /** Per attempt (default 5000 ms). */
  timeoutMs?: number;
  /** Retries after a 5xx or a network failure (default 2). */
  retries?: number;
  /** plugin-retry's base wait: the n-th retry waits base × n² (default 250 ms). */
  retryBaseDelayMs?: number;
  /** How many rate-limit waits per request (default 2). */
  rateLimitRetries?: number;
  /** The longest rate-limit wait honoured; a longer one fails at once (default 5000 ms). */
  maxRetryAfterMs?: number;
  /** Files per page, 1-100 (default 100, GitHub's maximum). */
  filesPerPage?: number;
  maxFiles?: number;
  maxPatchBytes?: number;
  /** The fetch underneath (default: the global fetch). */
  fetch?: typeof fetch;
}

const GITHUB_API_VERSION = "2022-11-28";
// plugin-retry's defaults plus 429: rate limits are rate-limit.ts's job alone.
const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 429, 451];

const RetryingOctokit = Octokit.plugin(retry);

function nonNegativeInteger(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw new TypeError(`${name} must be an integer from 0 to ${max}`);
  return value;
}

/** https, or http to this machine only (a fake server in tests): never a token in clear text. */
export function checkApiUrl(value: string, variable: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${variable} is not a valid URL`);
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback))
    throw new TypeError(`${variable} must be an https URL (http only to localhost)`);
  if (url.username || url.password || url.search || url.hash)
    throw new TypeError(`${variable} must not carry credentials, a query or a fragment`);
  return url;
}

export function checkToken(token: string, what: string): string {
  if (token === "" || /\s/.test(token)) throw new TypeError(`${what} is empty or has whitespace`);
  return token;
}

export function createGitHubRest(options: GitHubRestOptions): GitHubPort {
  const limits = checkLimits(options);
  const token = checkToken(options.token, "the GitHub token");
  const apiUrl = checkApiUrl(options.baseUrl, "the GitHub API URL");
  const baseUrl = apiUrl.href.replace(/\/+$/, "");
  const timeoutMs = nonNegativeInteger("timeoutMs", options.timeoutMs ?? 5_000, 600_000);
  if (timeoutMs === 0) throw new TypeError("timeoutMs must be positive");
  const retries = nonNegativeInteger("retries", options.retries ?? 2, 10);
  const retryBaseDelayMs = nonNegativeInteger(
    "retryBaseDelayMs",
    options.retryBaseDelayMs ?? 250,
    60_000,
  );
  const rateLimitRetries = nonNegativeInteger(
    "rateLimitRetries",
    options.rateLimitRetries ?? 2,
    10,
  );
  const maxRetryAfterMs = nonNegativeInteger(
    "maxRetryAfterMs",
    options.maxRetryAfterMs ?? 5_000,
    3_600_000,
  );
  const perPage = options.filesPerPage ?? 100;
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100)
    throw new TypeError("filesPerPage must be an integer from 1 to 100");
  // Bounds the page loop even if a server kept sending rel="next" with empty pages.
  const maxPages = Math.ceil(limits.maxFiles / perPage) + 1;

  const noop = (): void => undefined;
  const octokit = new RetryingOctokit({
    auth: token,
    baseUrl,
    userAgent: "zyx-agent-worker",
    request: {
      fetch: createGitHubFetch({
        origin: apiUrl.origin,
        timeoutMs,
        rateLimitRetries,
        maxRetryAfterMs,
        ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      }),
    },
    retry: { retries, retryAfterBaseValue: retryBaseDelayMs, doNotRetry: DO_NOT_RETRY },
    // Failures are mapped to ConnectorError and reported by the worker; no console noise.
    log: { debug: noop, info: noop, warn: noop, error: noop },
  });
  octokit.hook.before("request", (request) => {
    request.headers["x-github-api-version"] = GITHUB_API_VERSION;
  });

  return {
    async getPullRequest(repository: string, number: number): Promise<PullRequest> {
      const { owner, repo } = parseRepository(repository);
      checkPullNumber(number);
      const label = pullLabel(repository, number);
      try {
        const response = await octokit.rest.pulls.get({ owner, repo, pull_number: number });
        const pull = GitHubPull.safeParse(response.data);
        if (!pull.success) throw badResponse(label, describeIssues(pull.error));

        const files: GitHubPullFile[] = [];
        let pages = 0;
        const iterator = octokit.paginate.iterator(octokit.rest.pulls.listFiles, {
          owner,
          repo,
          pull_number: number,
          per_page: perPage,
        });
        for await (const page of iterator) {
          const parsed = GitHubPullFiles.safeParse(page.data);
          if (!parsed.success) throw badResponse(label, describeIssues(parsed.error));
          files.push(...parsed.data);
          pages += 1;
          if (files.length >= limits.maxFiles || pages >= maxPages) break;
        }
        return toPullRequest(`${owner}/${repo}`, pull.data, files, limits);
      } catch (error) {
        throw toConnectorError(error, label, token);
      }
    },
  };
}

function badResponse(label: string, detail: string): ConnectorError {
  return githubError(
    "connector_bad_response",
    `GitHub's answer for ${label} could not be read: ${detail}`,
  );
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

function causeChainHas(error: unknown, name: string): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth += 1) {
    if (field(current, "name") === name) return true;
    current = field(current, "cause");
  }
  return false;
}

/** An Octokit RequestError (or anything else thrown) as a ConnectorError without the token. */
export function toConnectorError(error: unknown, label: string, token: string): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const redact = (text: string): string => text.split(token).join("[redacted]");
  const status = field(error, "status");
  const response = field(error, "response");

  if (typeof status !== "number" || response === undefined) {
    // No answer: a timeout, an abort or a network failure (Octokit reports them as status 500).
    if (causeChainHas(error, "TimeoutError") || causeChainHas(error, "AbortError")) {
      return githubError("connector_timeout", `GitHub did not answer in time for ${label}`, {
        cause: error,
      });
    }
    if (causeChainHas(error, "OffOriginError")) {
      return badResponse(label, "GitHub pointed to a page on another host");
    }
    if (typeof status === "number") {
      const message = field(error, "message");
      return githubError(
        "connector_unavailable",
        `GitHub could not be reached for ${label}: ${redact(typeof message === "string" ? message : "network error")}`,
        { cause: error },
      );
    }
    // Not an HTTP failure at all: Octokit could not read what came back.
    const message = error instanceof Error ? error.message : String(error);
    return badResponse(label, redact(message));
  }

  const data = field(response, "data");
  const githubMessage = field(data, "message");
  const detail =
    typeof githubMessage === "string" ? `: ${redact(githubMessage).slice(0, 200)}` : "";
  const headers = field(response, "headers");
  const header = (name: string): string | undefined => {
    const value = field(headers, name);
    return typeof value === "string" ? value : undefined;
  };
  const wait = rateLimitWaitMs(status, header, Date.now());
  const options = { status, cause: error };

  if (wait !== undefined) {
    return githubError(
      "connector_rate_limited",
      `GitHub rate limit reached for ${label} (${status}${detail}); retry after ${Math.ceil(wait / 1000)} s`,
      options,
    );
  }
  switch (status) {
    case 401:
      return githubError(
        "connector_unauthorized",
        `GitHub refused the token (401${detail})`,
        options,
      );
    case 403:
      return githubError(
        "connector_forbidden",
        `the GitHub token may not read ${label} (403${detail})`,
        options,
      );
    case 404:
    case 410:
      return githubError(
        "connector_not_found",
        `GitHub pull request ${label} was not found, or the token may not see it (${status}${detail})`,
        options,
      );
    default:
      if (status >= 500) {
        return githubError(
          "connector_unavailable",
          `GitHub failed for ${label} (${status}${detail})`,
          options,
        );
      }
      return githubError(
        "connector_rejected",
        `GitHub refused the request for ${label} (${status}${detail})`,
        options,
      );
  }
}
