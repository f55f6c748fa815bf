// The AWS connector (EC2 security groups): the fixture adapter, or the real one, by environment.
//
// Environment:
//   ZYX_AWS_MODE           "real" or "fixtures". Unset: real when an endpoint is configured
//                          (below), else fixtures. Any other value refuses to start.
//   AWS_ENDPOINT_URL_EC2   an EC2-compatible endpoint (a local fake, LocalStack); selects the
//   ZYX_AWS_ENDPOINT       real adapter. Either name; both set and different refuses to start.
//                          Unset in real mode: AWS's regional endpoint for the call's region.
//   ZYX_AWS_ACCOUNT_ID     required for the real adapter: the 12-digit account the credentials
//                          belong to. A call for any other account is refused
//                          (connector_forbidden) without calling AWS.
//   AWS_ACCESS_KEY_ID      static credentials: both or neither (one alone refuses to start);
//   AWS_SECRET_ACCESS_KEY  AWS_SESSION_TOKEN with them for temporary ones. Neither: the SDK's
//   AWS_SESSION_TOKEN      default provider chain (AWS_PROFILE, SSO, web identity, container and
//                          instance roles), which reads the process environment.
//   ZYX_AWS_ROLE_ARN_<12-digit account>
//                          NOT YET SUPPORTED: a role to assume per account needs
//                          @aws-sdk/credential-providers, which is not installed. Setting one
//                          refuses to start (in either mode) rather than being silently ignored.
//   ZYX_FIXTURE_WRITES     where the fixture adapter appends its writes (JSON Lines); default
//                          .state/fixture-writes.jsonl.
//
// Retries, timeouts and the deadline of the real adapter are options (./real.ts): the SDK's
// standard retry strategy with `maxAttempts`, NodeHttpHandler socket timeouts.
import type { AwsPort } from "../port.ts";
import { createAwsFixtures } from "./fixtures.ts";
import { createAwsReal, type AwsRealOptions } from "./real.ts";
import type { Ec2Data } from "./store.ts";

export { createAwsFixtures, type AwsFixtureWrite, type AwsFixturesOptions } from "./fixtures.ts";
export { createAwsReal, type AwsRealOptions } from "./real.ts";

export const DEFAULT_FIXTURE_WRITES = ".state/fixture-writes.jsonl";

export interface AwsFromEnvOptions extends Omit<AwsRealOptions, "accountId" | "endpoint"> {
  /** Fixture writes file; default env ZYX_FIXTURE_WRITES, else DEFAULT_FIXTURE_WRITES. */
  writesPath?: string | undefined;
  /** Fixture data; default agent/fixtures/aws/security-groups.json. */
  fixtures?: Ec2Data | undefined;
}

/** Why the environment cannot start the connector. */
export class AwsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AwsConfigError";
  }
}

const ACCOUNT_ID = /^[0-9]{12}$/;
const ROLE_PREFIX = "ZYX_AWS_ROLE_ARN_";

function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function endpointOf(env: NodeJS.ProcessEnv): string | undefined {
  const standard = nonEmpty(env, "AWS_ENDPOINT_URL_EC2");
  const ours = nonEmpty(env, "ZYX_AWS_ENDPOINT");
  if (standard !== undefined && ours !== undefined && standard !== ours) {
    throw new AwsConfigError(
      "AWS_ENDPOINT_URL_EC2 and ZYX_AWS_ENDPOINT name different endpoints: set one",
    );
  }
  const endpoint = ours ?? standard;
  if (endpoint === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new AwsConfigError("the EC2 endpoint (ZYX_AWS_ENDPOINT) is not a URL");
  }
  // As for every other connector: https, plain http only to this machine (a local fake or
  // LocalStack). Over http elsewhere the signed requests, the session token and EC2's answers
  // (the rules a rollback is built from) would cross the network in clear.
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new AwsConfigError(
      "the EC2 endpoint (ZYX_AWS_ENDPOINT) must be an https URL (http only to 127.0.0.1 or localhost)",
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new AwsConfigError("the EC2 endpoint (ZYX_AWS_ENDPOINT) must not carry credentials");
  }
  return endpoint;
}

/** The AWS port for this environment: real when configured, fixtures otherwise. */
export function createAwsFromEnv(env: NodeJS.ProcessEnv, options: AwsFromEnvOptions = {}): AwsPort {
  const roles = Object.keys(env).filter(
    (name) => name.startsWith(ROLE_PREFIX) && nonEmpty(env, name),
  );
  if (roles.length > 0) {
    throw new AwsConfigError(
      `${roles.join(", ")}: assuming a role per account is not yet supported (it needs @aws-sdk/credential-providers); unset it`,
    );
  }

  const mode = nonEmpty(env, "ZYX_AWS_MODE");
  if (mode !== undefined && mode !== "real" && mode !== "fixtures") {
    throw new AwsConfigError('ZYX_AWS_MODE must be "real" or "fixtures"');
  }
  const endpoint = endpointOf(env);
  const { writesPath, fixtures, ...realOptions } = options;

  if (mode === "fixtures" || (mode === undefined && endpoint === undefined)) {
    return createAwsFixtures({
      writesPath: writesPath ?? nonEmpty(env, "ZYX_FIXTURE_WRITES") ?? DEFAULT_FIXTURE_WRITES,
      ...(fixtures === undefined ? {} : { data: fixtures }),
    });
  }

  const accountId = nonEmpty(env, "ZYX_AWS_ACCOUNT_ID");
  if (accountId === undefined) {
    throw new AwsConfigError(
      "ZYX_AWS_ACCOUNT_ID is required for the real AWS adapter (the account of its credentials)",
    );
  }
  if (!ACCOUNT_ID.test(accountId)) {
    throw new AwsConfigError("ZYX_AWS_ACCOUNT_ID must be a 12-digit AWS account id");
  }

  let credentials = realOptions.credentials;
  if (credentials === undefined) {
    const accessKeyId = nonEmpty(env, "AWS_ACCESS_KEY_ID");
    const secretAccessKey = nonEmpty(env, "AWS_SECRET_ACCESS_KEY");
    const sessionToken = nonEmpty(env, "AWS_SESSION_TOKEN");
    if (accessKeyId !== undefined && secretAccessKey === undefined) {
      throw new AwsConfigError("AWS_SECRET_ACCESS_KEY is required with AWS_ACCESS_KEY_ID");
    }
    if (accessKeyId === undefined && secretAccessKey !== undefined) {
      throw new AwsConfigError("AWS_ACCESS_KEY_ID is required with AWS_SECRET_ACCESS_KEY");
    }
    if (accessKeyId === undefined && sessionToken !== undefined) {
      throw new AwsConfigError("AWS_ACCESS_KEY_ID is required with AWS_SESSION_TOKEN");
    }
    if (accessKeyId !== undefined && secretAccessKey !== undefined) {
      credentials = {
        accessKeyId,
        secretAccessKey,
        ...(sessionToken === undefined ? {} : { sessionToken }),
      };
    }
  }

  return createAwsReal({ ...realOptions, accountId, endpoint, credentials });
}
