// GitHub's rate limits, which @octokit/plugin-retry does not understand (it retries 429 on its
// own quadratic schedule, ignores Retry-After, and never retries 403). @octokit/plugin-throttling
// is not installed, so this small fetch wrapper, given to Octokit as `request.fetch`, does it:
//
//   - a 429, or a 403 that carries rate-limit headers, is a rate limit (any other 403 is a real
//     "forbidden" and is returned as it is);
//   - the wait is `retry-after` (seconds or an HTTP date), else `x-ratelimit-reset` (epoch
//     seconds) when `x-ratelimit-remaining` is 0, else one minute (GitHub's documented minimum
//     for a secondary rate limit without headers);
//   - it waits and asks again at most `rateLimitRetries` times, and never waits longer than
//     `maxRetryAfterMs`: a longer wait returns the rate-limited answer at once, which the adapter
//     reports as connector_rate_limited (429 is in plugin-retry's doNotRetry list, so the two
//     retry layers never multiply);
//   - every attempt has its own timeout (`timeoutMs`), joined to the caller's signal if any;
//   - it sends nothing outside `origin`: Octokit follows the Link header's URLs with the token,
//     so a page link to another host is refused (OffOriginError) instead of leaking the token.
import { deadlineFetch, remainingMs } from "../deadline.ts";
import { setTimeout as sleep } from "node:timers/promises";

type HeaderGetter = (name: string) => string | null | undefined;

const SECONDARY_RATE_LIMIT_WAIT_MS = 60_000;

/** Retry-After: delay-seconds or an HTTP date (RFC 9110 §10.2.3); milliseconds to wait. */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number,
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** Milliseconds GitHub asks us to wait, or undefined when the answer is not a rate limit. */
export function rateLimitWaitMs(
  status: number,
  header: HeaderGetter,
  nowMs: number,
): number | undefined {
  if (status !== 429 && status !== 403) return undefined;
  const retryAfter = parseRetryAfter(header("retry-after"), nowMs);
  if (retryAfter !== undefined) return retryAfter;
  const reset = header("x-ratelimit-reset");
  if (header("x-ratelimit-remaining") === "0" && reset && /^\d+$/.test(reset.trim())) {
    return Math.max(0, Number(reset.trim()) * 1000 - nowMs);
  }
  return status === 429 ? SECONDARY_RATE_LIMIT_WAIT_MS : undefined;
}

export class OffOriginError extends Error {
  constructor(url: string) {
    super(`refused to send a GitHub request outside the API's origin: ${new URL(url).origin}`);
    this.name = "OffOriginError";
  }
}

export interface GitHubFetchOptions {
  /** The API's origin (scheme, host, port); requests elsewhere are refused. */
  origin: string;
  timeoutMs: number;
  rateLimitRetries: number;
  maxRetryAfterMs: number;
  /** The fetch underneath; defaults to the global fetch. */
  fetch?: typeof fetch;
}

export function createGitHubFetch(options: GitHubFetchOptions): typeof fetch {
  const { origin, timeoutMs, rateLimitRetries, maxRetryAfterMs } = options;
  // Every request is also aborted at the gateway's deadline for the call (connectors/deadline.ts).
  const base = deadlineFetch(options.fetch ?? globalThis.fetch);
  const once = async (url: string, init: RequestInit | undefined): Promise<Response> => {
    for (let attempt = 0; ; attempt += 1) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const callerSignal = init?.signal ?? undefined;
      const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
      // Redirects are followed below, each checked against the origin: fetch would follow one
      // to any host and hand its answer back as GitHub's.
      const response = await base(url, { ...init, signal, redirect: "manual" });
      const waitMs = rateLimitWaitMs(
        response.status,
        (name) => response.headers.get(name),
        Date.now(),
      );
      if (
        waitMs === undefined ||
        attempt >= rateLimitRetries ||
        waitMs > Math.min(maxRetryAfterMs, remainingMs())
      ) {
        return response;
      }
      await response.body?.cancel();
      await sleep(waitMs, undefined, callerSignal ? { signal: callerSignal } : {});
    }
  };
  return async (input, init) => {
    let url = input instanceof Request ? input.url : String(input);
    for (let hop = 0; ; hop += 1) {
      if (new URL(url).origin !== origin) throw new OffOriginError(url);
      const response = await once(url, init);
      const location = response.headers.get("location");
      // GitHub redirects a renamed or transferred repository on its own origin (301 to
      // /repositories/{id}/...); a few hops at most, the last answer is Octokit's to judge.
      if (!REDIRECT_STATUSES.has(response.status) || location === null || hop >= MAX_REDIRECTS) {
        return response;
      }
      await response.body?.cancel();
      url = new URL(location, url).href;
    }
  };
}

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 3;
