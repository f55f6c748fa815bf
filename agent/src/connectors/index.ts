// All five connectors, each chosen by environment: the real API when configured (a half
// configuration refuses to start), the offline fixtures otherwise. Fixture writes go to one file.
import { createAwsFromEnv } from "./aws/index.ts";
import { createConfluenceFromEnv } from "./confluence/index.ts";
import { createGitHubFromEnv } from "./github/index.ts";
import { createJiraFromEnv } from "./jira/index.ts";
import type { Connectors } from "./port.ts";
import { createSlackFromEnv } from "./slack/index.ts";

export interface ConnectorsOptions {
  /** Where fixture adapters record writes (default: env ZYX_FIXTURE_WRITES, else .state/…). */
  writesPath?: string;
}

export function createConnectorsFromEnv(
  env: NodeJS.ProcessEnv,
  options: ConnectorsOptions = {},
): Connectors {
  const shared = options.writesPath === undefined ? {} : { writesPath: options.writesPath };
  return {
    jira: createJiraFromEnv(env, shared),
    confluence: createConfluenceFromEnv(env, shared),
    github: createGitHubFromEnv(env), // reads only: no writes file
    slack: createSlackFromEnv(env, shared),
    aws: createAwsFromEnv(env, shared),
  };
}

/** The embedded default, whatever the environment says: every connector on its fixtures. */
export function createFixtureConnectors(writesPath: string): Connectors {
  return createConnectorsFromEnv({}, { writesPath });
}
