// The Jira connector: createJiraFromEnv chooses the adapter.
//
// Real adapter (Jira Cloud REST v3), when JIRA_BASE_URL is set:
//   JIRA_BASE_URL            the site, such as https://zyx-bank.atlassian.net (https; plain http
//                            only for 127.0.0.1/localhost)
//   JIRA_EMAIL               the Atlassian account the API token belongs to
//   JIRA_API_TOKEN           its API token, or
//   JIRA_API_TOKEN_FILE      a file that holds it (one of the two, not both)
//   JIRA_FIELD_ENVIRONMENT   the Environment custom field, default customfield_10050
//   JIRA_FIELD_ROLLBACK_PLAN the Rollback plan custom field, default customfield_10051
//   JIRA_TIMEOUT_MS          per attempt, default 10000
//   JIRA_RETRIES             retries after the first attempt (429, 503; 5xx for reads), default 3
// Basic auth: base64(email:api_token). Half a configuration (a URL without an email or a token,
// or credentials without a URL) throws at construction, naming the missing variable: it never
// falls back to the fixtures.
//
// Fixture adapter otherwise (fixtures.ts): tickets from agent/fixtures/jira; comments appended to
// the `writesPath` option, else env ZYX_FIXTURE_WRITES, else .state/fixture-writes.jsonl.
import {
  envValue,
  integerFromEnv,
  isSet,
  normalizeBaseUrl,
  readApiToken,
  type AtlassianSite,
} from "../atlassian/config.ts";
import { HTTP_DEFAULTS } from "../atlassian/http.ts";
import { defaultWritesPath } from "../atlassian/writes.ts";
import type { JiraPort } from "../port.ts";
import { createJiraFixtures } from "./fixtures.ts";
import {
  createJiraRest,
  DEFAULT_ENVIRONMENT_FIELD,
  DEFAULT_ROLLBACK_PLAN_FIELD,
  FIELD_ID,
  type JiraRestOptions,
} from "./rest.ts";

export {
  createJiraFixtures,
  FIXTURE_SITE_URL,
  loadJiraFixtureIssues,
  type JiraFixtureIssue,
  type JiraFixturesOptions,
} from "./fixtures.ts";
export { createJiraRest, type JiraRestOptions } from "./rest.ts";

export interface JiraFactoryOptions {
  /** Fixtures: the writes file (default env ZYX_FIXTURE_WRITES, else .state/...). */
  writesPath?: string;
  /** Real: overrides of the environment's settings, and a fetch for tests. */
  timeoutMs?: number;
  retries?: number;
  minBackoffMs?: number;
  maxRetryAfterMs?: number;
  fetch?: typeof fetch;
}

/**
 * The Jira site configured by JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN(_FILE); undefined when
 * none of them is set; throws when some but not all are.
 */
export function jiraSiteFromEnv(env: NodeJS.ProcessEnv): AtlassianSite | undefined {
  const rawUrl = envValue(env, "JIRA_BASE_URL");
  if (rawUrl === undefined) {
    if (isSet(env, "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_API_TOKEN_FILE")) {
      throw new Error(
        "JIRA_BASE_URL is missing: JIRA_EMAIL or JIRA_API_TOKEN(_FILE) is set, so a real Jira was meant",
      );
    }
    return undefined;
  }
  const baseUrl = normalizeBaseUrl(rawUrl, "JIRA_BASE_URL");
  const email = envValue(env, "JIRA_EMAIL");
  if (email === undefined) throw new Error("JIRA_EMAIL is missing: JIRA_BASE_URL is set");
  const apiToken = readApiToken(env, "JIRA_API_TOKEN", "JIRA_API_TOKEN_FILE");
  if (apiToken === undefined) {
    throw new Error("JIRA_API_TOKEN (or JIRA_API_TOKEN_FILE) is missing: JIRA_BASE_URL is set");
  }
  return { baseUrl, email, apiToken };
}

export function createJiraFromEnv(
  env: NodeJS.ProcessEnv,
  options: JiraFactoryOptions = {},
): JiraPort {
  const site = jiraSiteFromEnv(env);
  if (site === undefined) {
    return createJiraFixtures({ writesPath: options.writesPath ?? defaultWritesPath(env) });
  }
  const rest: JiraRestOptions = {
    ...site,
    environmentField: fieldFromEnv(env, "JIRA_FIELD_ENVIRONMENT", DEFAULT_ENVIRONMENT_FIELD),
    rollbackPlanField: fieldFromEnv(env, "JIRA_FIELD_ROLLBACK_PLAN", DEFAULT_ROLLBACK_PLAN_FIELD),
    timeoutMs:
      options.timeoutMs ??
      integerFromEnv(env, "JIRA_TIMEOUT_MS", HTTP_DEFAULTS.timeoutMs, 100, 120_000),
    retries: options.retries ?? integerFromEnv(env, "JIRA_RETRIES", HTTP_DEFAULTS.retries, 0, 10),
  };
  if (options.minBackoffMs !== undefined) rest.minBackoffMs = options.minBackoffMs;
  if (options.maxRetryAfterMs !== undefined) rest.maxRetryAfterMs = options.maxRetryAfterMs;
  if (options.fetch !== undefined) rest.fetch = options.fetch;
  return createJiraRest(rest);
}

function fieldFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = envValue(env, name) ?? fallback;
  if (!FIELD_ID.test(value)) {
    throw new Error(`${name} must be a Jira field id such as customfield_10050`);
  }
  return value;
}
