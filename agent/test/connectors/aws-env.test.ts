// createAwsFromEnv: which adapter the environment selects, and the configurations it refuses.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startFakeEc2, type FakeEc2 } from "../support/fake-ec2.ts";
import { AwsConfigError, createAwsFromEnv } from "../../src/connectors/aws/index.ts";

const DEV = "111122223333";
const REGION = "ap-southeast-1";
const KEY = {
  accessKeyId: "AKIAZYXDEVFAKE000001",
  secretAccessKey: "fake/dev/secret/0000000000000000000000000",
  account: DEV,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fake(): Promise<FakeEc2> {
  const server = await startFakeEc2({ keys: [KEY] });
  cleanups.push(() => server.close());
  return server;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "zyx-aws-env-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("createAwsFromEnv", () => {
  it("uses the fixtures when nothing selects the real adapter", async () => {
    const dir = await tempDir();
    const writes = join(dir, "writes.jsonl");
    const aws = createAwsFromEnv({
      ZYX_FIXTURE_WRITES: writes,
      // Credentials alone do not select the real adapter: ZYX_AWS_MODE or an endpoint does.
      AWS_ACCESS_KEY_ID: KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
    });
    expect(await aws.describeSecurityGroups(DEV, REGION)).toHaveLength(2);
    await aws.modifySecurityGroup(DEV, REGION, "sg-0a1b2c3d4e5f60718", {
      action: "revoke_ingress",
      protocol: "tcp",
      port_range: "22",
      cidr: "0.0.0.0/0",
    });
    expect(await readFile(writes, "utf8")).toContain('"connector":"aws"');
  });

  it("uses the fixtures when ZYX_AWS_MODE=fixtures, even with an endpoint", async () => {
    const aws = createAwsFromEnv({
      ZYX_AWS_MODE: "fixtures",
      ZYX_AWS_ENDPOINT: "http://127.0.0.1:9",
    });
    expect(await aws.describeSecurityGroups(DEV, REGION)).toHaveLength(2);
  });

  it("uses the real adapter with an endpoint and the credentials of the environment", async () => {
    const server = await fake();
    const aws = createAwsFromEnv(
      {
        AWS_ENDPOINT_URL_EC2: server.url,
        ZYX_AWS_ACCOUNT_ID: DEV,
        AWS_ACCESS_KEY_ID: KEY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
      },
      { maxAttempts: 1 },
    );
    expect(await aws.describeSecurityGroups(DEV, REGION)).toHaveLength(2);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.accessKeyId).toBe(KEY.accessKeyId); // the signature checked out
  });

  it.each([
    ["real mode without the account", { ZYX_AWS_MODE: "real" }, /ZYX_AWS_ACCOUNT_ID is required/],
    [
      "an endpoint without the account",
      { ZYX_AWS_ENDPOINT: "http://127.0.0.1:4566" },
      /ZYX_AWS_ACCOUNT_ID is required/,
    ],
    [
      "an account that is not 12 digits",
      { ZYX_AWS_MODE: "real", ZYX_AWS_ACCOUNT_ID: "zyx-dev" },
      /ZYX_AWS_ACCOUNT_ID must be a 12-digit/,
    ],
    [
      "an access key without its secret",
      { ZYX_AWS_MODE: "real", ZYX_AWS_ACCOUNT_ID: DEV, AWS_ACCESS_KEY_ID: KEY.accessKeyId },
      /AWS_SECRET_ACCESS_KEY is required/,
    ],
    [
      "a secret without its access key",
      { ZYX_AWS_MODE: "real", ZYX_AWS_ACCOUNT_ID: DEV, AWS_SECRET_ACCESS_KEY: "x" },
      /AWS_ACCESS_KEY_ID is required/,
    ],
    [
      "a session token alone",
      { ZYX_AWS_MODE: "real", ZYX_AWS_ACCOUNT_ID: DEV, AWS_SESSION_TOKEN: "x" },
      /AWS_ACCESS_KEY_ID is required/,
    ],
    [
      "a role to assume (not yet supported)",
      { ZYX_AWS_ROLE_ARN_444455556666: "arn:aws:iam::444455556666:role/zyx-agent-read" },
      /ZYX_AWS_ROLE_ARN_444455556666: assuming a role per account is not yet supported/,
    ],
    ["an unknown mode", { ZYX_AWS_MODE: "live" }, /ZYX_AWS_MODE must be/],
    [
      "two different endpoints",
      {
        AWS_ENDPOINT_URL_EC2: "http://127.0.0.1:4566",
        ZYX_AWS_ENDPOINT: "http://127.0.0.1:4567",
        ZYX_AWS_ACCOUNT_ID: DEV,
      },
      /name different endpoints/,
    ],
    [
      "an endpoint that is not a URL",
      { ZYX_AWS_ENDPOINT: "localhost:4566/x y", ZYX_AWS_ACCOUNT_ID: DEV },
      /ZYX_AWS_ENDPOINT/,
    ],
    [
      "review: a plain-http endpoint off this machine (signed requests and the session token in clear)",
      { ZYX_AWS_ENDPOINT: "http://ec2.internal.zyxbank.example", ZYX_AWS_ACCOUNT_ID: DEV },
      /https/,
    ],
    [
      "review: a plain-http endpoint off this machine, by the standard variable",
      { AWS_ENDPOINT_URL_EC2: "http://10.0.0.12:4566", ZYX_AWS_ACCOUNT_ID: DEV },
      /https/,
    ],
    [
      "an endpoint with credentials in it",
      { ZYX_AWS_ENDPOINT: "http://user:pw@127.0.0.1:4566", ZYX_AWS_ACCOUNT_ID: DEV },
      /must not carry credentials/,
    ],
  ])("refuses %s at construction", (_name, env, message) => {
    expect(() => createAwsFromEnv(env)).toThrow(AwsConfigError);
    expect(() => createAwsFromEnv(env)).toThrow(message);
  });

  it("never puts a secret from the environment in its refusal", () => {
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    expect(() => createAwsFromEnv({ ZYX_AWS_MODE: "real", AWS_SECRET_ACCESS_KEY: secret })).toThrow(
      /^(?!.*wJalr)/s,
    );
  });
});
