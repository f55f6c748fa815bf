// Slack connector: the factory that picks the adapter from the environment.
//
//   SLACK_BOT_TOKEN        the bot token (xoxb-...) with the chat:write scope; the bot must be a
//                          member of the channels it posts to
//   SLACK_BOT_TOKEN_FILE   instead of SLACK_BOT_TOKEN: a file that holds it (a mounted secret);
//                          surrounding whitespace is trimmed. Setting both is refused.
//   SLACK_API_URL          the Web API base URL; default https://slack.com/api/ when a token is
//                          set. https only (http only to localhost, for a local fake).
//   ZYX_FIXTURE_WRITES     fixtures only: the JSON Lines file that records posted messages
//                          (default .state/fixture-writes.jsonl; options.writesPath wins)
//
// No token and no URL: the offline fixtures (agent/fixtures/slack). A URL without a token throws
// here, naming the missing variable: a half-configured connector never falls back to fixtures.
import type { SlackPort } from "../port.ts";
import { envValue, readApiToken } from "../env.ts";
import { createSlackFixtures, type SlackFixturesOptions } from "./fixtures.ts";
import { checkSlackApiUrl, createSlackWebApi, type SlackWebApiOptions } from "./web-api.ts";

export { createSlackFixtures, type SlackFixturesOptions } from "./fixtures.ts";
export { createSlackWebApi, type SlackWebApiOptions } from "./web-api.ts";

export const DEFAULT_SLACK_API_URL = "https://slack.com/api/";
export const DEFAULT_FIXTURE_WRITES = ".state/fixture-writes.jsonl";

export type SlackFromEnvOptions = Omit<SlackWebApiOptions, "apiUrl" | "token"> &
  Partial<SlackFixturesOptions>;

export function createSlackFromEnv(
  env: NodeJS.ProcessEnv,
  options: SlackFromEnvOptions = {},
): SlackPort {
  const url = envValue(env, "SLACK_API_URL");
  const token = readApiToken(env, "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_FILE");
  const { writesPath, workspacePath, now, ...apiOptions } = options;

  if (token === undefined) {
    if (url !== undefined)
      throw new Error("SLACK_API_URL is set but SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE) is not");
    return createSlackFixtures({
      writesPath: writesPath ?? envValue(env, "ZYX_FIXTURE_WRITES") ?? DEFAULT_FIXTURE_WRITES,
      ...(workspacePath === undefined ? {} : { workspacePath }),
      ...(now === undefined ? {} : { now }),
    });
  }
  return createSlackWebApi({
    ...apiOptions,
    apiUrl: url === undefined ? DEFAULT_SLACK_API_URL : checkSlackApiUrl(url, "SLACK_API_URL"),
    token,
  });
}
