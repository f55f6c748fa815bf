// The Confluence connector: createConfluenceFromEnv chooses the adapter.
//
// Real adapter (Confluence Cloud REST, content search), when CONFLUENCE_BASE_URL is set:
//   CONFLUENCE_BASE_URL        the site, such as https://zyx-bank.atlassian.net (a trailing /wiki
//                              is accepted and dropped; https, plain http only for loopback)
//   CONFLUENCE_EMAIL           the Atlassian account the API token belongs to
//   CONFLUENCE_API_TOKEN       its API token, or
//   CONFLUENCE_API_TOKEN_FILE  a file that holds it (one of the two, not both)
//   CONFLUENCE_TIMEOUT_MS      per attempt, default 10000
//   CONFLUENCE_RETRIES         retries after the first attempt (429, 5xx), default 3
// Shared credentials: when CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN(_FILE) are both unset AND
// CONFLUENCE_BASE_URL is the same site (origin) as JIRA_BASE_URL, the Jira credentials are used:
// an Atlassian API token belongs to an account, not to a product, so one service account
// normally reads both. Credentials are never sent to another origin than the one they were
// configured for, and setting only one of CONFLUENCE_EMAIL / CONFLUENCE_API_TOKEN is an error
// (no mixing). Half a configuration throws at construction, naming the missing variable: it
// never falls back to the fixtures.
//
// Fixture adapter otherwise (fixtures.ts): pages from agent/fixtures/confluence.
import {
  envValue,
  integerFromEnv,
  isSet,
  normalizeBaseUrl,
  readApiToken,
  type AtlassianSite,
} from "../atlassian/config.ts";
import { HTTP_DEFAULTS } from "../atlassian/http.ts";
import { jiraSiteFromEnv } from "../jira/index.ts";
import type { ConfluencePort } from "../port.ts";
import { createConfluenceFixtures } from "./fixtures.ts";
import { createConfluenceRest, type ConfluenceRestOptions } from "./rest.ts";

export {
  createConfluenceFixtures,
  loadConfluenceFixturePages,
  type ConfluenceFixturePage,
  type ConfluenceFixturesOptions,
} from "./fixtures.ts";
export { createConfluenceRest, type ConfluenceRestOptions } from "./rest.ts";

export interface ConfluenceFactoryOptions {
  /** Accepted for symmetry with the other connectors; Confluence is only read. */
  writesPath?: string;
  /** Real: overrides of the environment's settings, and a fetch for tests. */
  timeoutMs?: number;
  retries?: number;
  minBackoffMs?: number;
  maxRetryAfterMs?: number;
  fetch?: typeof fetch;
}

/**
 * The Confluence site configured by CONFLUENCE_* (or sharing JIRA_* credentials, see above);
 * undefined when none is set; throws when the configuration is partial.
 */
export function confluenceSiteFromEnv(env: NodeJS.ProcessEnv): AtlassianSite | undefined {
  const rawUrl = envValue(env, "CONFLUENCE_BASE_URL");
  const ownCredentials = isSet(
    env,
    "CONFLUENCE_EMAIL",
    "CONFLUENCE_API_TOKEN",
    "CONFLUENCE_API_TOKEN_FILE",
  );
  if (rawUrl === undefined) {
    if (ownCredentials) {
      throw new Error(
        "CONFLUENCE_BASE_URL is missing: CONFLUENCE_EMAIL or CONFLUENCE_API_TOKEN(_FILE) is set",
      );
    }
    return undefined;
  }
  const baseUrl = normalizeBaseUrl(rawUrl, "CONFLUENCE_BASE_URL", "/wiki");

  if (!ownCredentials) {
    const jira = envValue(env, "JIRA_BASE_URL") === undefined ? undefined : jiraSiteFromEnv(env);
    if (jira !== undefined && new URL(jira.baseUrl).origin === new URL(baseUrl).origin) {
      return { baseUrl, email: jira.email, apiToken: jira.apiToken };
    }
    throw new Error(
      "CONFLUENCE_EMAIL is missing: CONFLUENCE_BASE_URL is set (the Jira credentials are shared only when JIRA_BASE_URL is the same site)",
    );
  }
  const email = envValue(env, "CONFLUENCE_EMAIL");
  if (email === undefined)
    throw new Error("CONFLUENCE_EMAIL is missing: CONFLUENCE_BASE_URL is set");
  const apiToken = readApiToken(env, "CONFLUENCE_API_TOKEN", "CONFLUENCE_API_TOKEN_FILE");
  if (apiToken === undefined) {
    throw new Error(
      "CONFLUENCE_API_TOKEN (or CONFLUENCE_API_TOKEN_FILE) is missing: CONFLUENCE_BASE_URL is set",
    );
  }
  return { baseUrl, email, apiToken };
}

export function createConfluenceFromEnv(
  env: NodeJS.ProcessEnv,
  options: ConfluenceFactoryOptions = {},
): ConfluencePort {
  const site = confluenceSiteFromEnv(env);
  if (site === undefined) return createConfluenceFixtures();
  const rest: ConfluenceRestOptions = {
    ...site,
    timeoutMs:
      options.timeoutMs ??
      integerFromEnv(env, "CONFLUENCE_TIMEOUT_MS", HTTP_DEFAULTS.timeoutMs, 100, 120_000),
    retries:
      options.retries ?? integerFromEnv(env, "CONFLUENCE_RETRIES", HTTP_DEFAULTS.retries, 0, 10),
  };
  if (options.minBackoffMs !== undefined) rest.minBackoffMs = options.minBackoffMs;
  if (options.maxRetryAfterMs !== undefined) rest.maxRetryAfterMs = options.maxRetryAfterMs;
  if (options.fetch !== undefined) rest.fetch = options.fetch;
  return createConfluenceRest(rest);
}
