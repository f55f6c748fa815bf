// The AWS connector: one contract over both adapters (fixtures, and the real SDK adapter against
// a local fake EC2 endpoint that speaks EC2's Query API and checks SigV4), then what only the
// real adapter does: error mapping, retries, Retry-After, timeouts, paging, refusing accounts.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadCatalog } from "../../../common/catalog.ts";
import { createAwsFromEnv, type AwsFromEnvOptions } from "../../src/connectors/aws/index.ts";
import { createFixtureConnectors } from "../../src/connectors/index.ts";
import { writeNotApplied } from "../../src/connectors/network.ts";
import { createToolExecutor } from "../../src/tools.ts";
import { startFakeEc2, type FakeEc2, type FakeEc2Key } from "../support/fake-ec2.ts";
import {
  ConnectorError,
  type AwsPort,
  type ConnectorErrorCode,
  type SecurityGroup,
} from "../../src/connectors/port.ts";

const DEV = "111122223333";
const STAGING = "444455556666";
const PRODUCTION = "777788889999";
const REGION = "ap-southeast-1";
const BASTION = "sg-0a1b2c3d4e5f60718";
const APP = "sg-0123456789abcdef0";

// Fake static credentials, never real ones.
const KEYS: Record<string, FakeEc2Key> = {
  [DEV]: {
    accessKeyId: "AKIAZYXDEVFAKE000001",
    secretAccessKey: "fake/dev/secret/0000000000000000000000000",
    account: DEV,
  },
  [STAGING]: {
    accessKeyId: "AKIAZYXSTGFAKE000001",
    secretAccessKey: "fake/staging/secret/000000000000000000000",
    account: STAGING,
  },
};
const READ_ONLY: FakeEc2Key = {
  accessKeyId: "AKIAZYXDEVREADONLY01",
  secretAccessKey: "fake/dev/read-only/0000000000000000000000",
  account: DEV,
  allow: ["DescribeSecurityGroups"],
};

const DEV_BASTION: SecurityGroup = {
  group_id: BASTION,
  name: "platform-infra-bastion",
  vpc_id: "vpc-0dev1234abcd5678e",
  description: "Bastion host for platform-infra (managed by Terraform)",
  ingress: [
    {
      protocol: "tcp",
      port_range: "22",
      cidr: "0.0.0.0/0",
      description: "SSH from anywhere (temporary)",
    },
    {
      protocol: "tcp",
      port_range: "443",
      cidr: "10.20.0.0/16",
      description: "HTTPS from the dev VPC",
    },
  ],
};
const DEV_APP: SecurityGroup = {
  group_id: APP,
  name: "platform-infra-app",
  vpc_id: "vpc-0dev1234abcd5678e",
  description: "Application tier for platform-infra (managed by Terraform)",
  ingress: [
    {
      protocol: "tcp",
      port_range: "8080",
      cidr: "10.20.0.0/16",
      description: "App traffic from the dev VPC",
    },
  ],
};
const OPEN_SSH = {
  action: "revoke_ingress",
  protocol: "tcp",
  port_range: "22",
  cidr: "0.0.0.0/0",
} as const;
const VPN_SSH = {
  action: "authorize_ingress",
  protocol: "tcp",
  port_range: "22",
  cidr: "10.20.0.0/16",
  description: "SSH from the corporate VPN",
} as const;

/** Small, fast settings for the real adapter. */
const FAST: AwsFromEnvOptions = {
  maxAttempts: 3,
  retryBaseDelayMs: 5,
  requestTimeoutMs: 2_000,
  connectionTimeoutMs: 1_000,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "zyx-aws-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function fake(options: Partial<Parameters<typeof startFakeEc2>[0]> = {}): Promise<FakeEc2> {
  const server = await startFakeEc2({ keys: [...Object.values(KEYS), READ_ONLY], ...options });
  cleanups.push(() => server.close());
  return server;
}

function realAgainst(
  server: FakeEc2,
  key: FakeEc2Key = KEYS[DEV] ?? READ_ONLY,
  options: AwsFromEnvOptions = {},
): AwsPort {
  return createAwsFromEnv(
    { ZYX_AWS_MODE: "real", ZYX_AWS_ENDPOINT: server.url, ZYX_AWS_ACCOUNT_ID: key.account },
    {
      ...FAST,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
      ...options,
    },
  );
}

interface Subject {
  aws: AwsPort;
  /** Requests that reached AWS (always 0 for fixtures). */
  calls: () => number;
}

type Make = (account: string) => Promise<Subject>;

const makeFixtures: Make = async () => {
  const dir = await tempDir();
  return {
    aws: createAwsFromEnv({ ZYX_FIXTURE_WRITES: join(dir, "writes.jsonl") }),
    calls: () => 0,
  };
};

const makeRealAgainstLocalServer: Make = async (account) => {
  const server = await fake();
  return { aws: realAgainst(server, KEYS[account]), calls: () => server.requests.length };
};

async function failure(promise: Promise<unknown>): Promise<ConnectorError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectorError);
    return error as ConnectorError;
  }
  throw new Error("expected a ConnectorError, the call succeeded");
}

async function expectCode(promise: Promise<unknown>, code: ConnectorErrorCode): Promise<void> {
  const error = await failure(promise);
  expect(error.code, error.message).toBe(code);
  expect(error.connector).toBe("aws");
}

describe.each([
  ["fixtures", makeFixtures],
  ["real", makeRealAgainstLocalServer],
])("AWS contract: %s", (_name, make) => {
  it("lists the development groups with their ingress rules", async () => {
    const { aws } = await make(DEV);
    expect(await aws.describeSecurityGroups(DEV, REGION)).toEqual([DEV_BASTION, DEV_APP]);
  });

  it("describes the groups asked for, in that order", async () => {
    const { aws } = await make(DEV);
    expect(await aws.describeSecurityGroups(DEV, REGION, [APP, BASTION])).toEqual([
      DEV_APP,
      DEV_BASTION,
    ]);
  });

  it("maps IPv6 ranges and security-group sources (staging)", async () => {
    const { aws } = await make(STAGING);
    const [app] = await aws.describeSecurityGroups(STAGING, REGION, ["sg-0a9b8c7d6e5f40312"]);
    expect(app?.ingress).toEqual([
      {
        protocol: "tcp",
        port_range: "8080",
        cidr: "sg-0fedcba9876543210",
        description: "App traffic from the bastion",
      },
      {
        protocol: "tcp",
        port_range: "443",
        cidr: "10.30.0.0/16",
        description: "HTTPS from the staging VPC",
      },
      {
        protocol: "tcp",
        port_range: "443",
        cidr: "2001:db8:30::/48",
        description: "HTTPS from the staging IPv6 range",
      },
    ]);
  });

  it("finds no groups in another region, and no such group there", async () => {
    const { aws } = await make(DEV);
    expect(await aws.describeSecurityGroups(DEV, "us-east-1")).toEqual([]);
    await expectCode(
      aws.describeSecurityGroups(DEV, "us-east-1", [BASTION]),
      "connector_not_found",
    );
  });

  it("reports an unknown group as not found", async () => {
    const { aws } = await make(DEV);
    const error = await failure(aws.describeSecurityGroups(DEV, REGION, ["sg-0badbadbadbadbad0"]));
    expect(error.code).toBe("connector_not_found");
    expect(error.message).toContain("sg-0badbadbadbadbad0");
  });

  it("refuses an account it has no credentials for, without calling AWS", async () => {
    const { aws, calls } = await make(DEV);
    await expectCode(aws.describeSecurityGroups(PRODUCTION, REGION), "connector_forbidden");
    await expectCode(
      aws.modifySecurityGroup(PRODUCTION, REGION, BASTION, OPEN_SSH),
      "connector_forbidden",
    );
    expect(calls()).toBe(0);
  });

  const MALFORMED: [string, string, string, readonly string[] | undefined][] = [
    ["an account that is not 12 digits", "1111", REGION, undefined],
    ["a malformed region", DEV, "mars-north", undefined],
    ["a malformed group id", DEV, REGION, ["sg-XYZ"]],
    ["an empty id list", DEV, REGION, []],
  ];

  it.each(MALFORMED)("rejects %s before calling AWS", async (_what, account, region, ids) => {
    const { aws, calls } = await make(DEV);
    await expectCode(aws.describeSecurityGroups(account, region, ids), "connector_rejected");
    expect(calls()).toBe(0);
  });

  it("rejects a malformed change before calling AWS", async () => {
    const { aws, calls } = await make(DEV);
    for (const change of [
      { ...VPN_SSH, cidr: "10.20.0.1/16" },
      { ...VPN_SSH, port_range: "22-22" },
      { ...VPN_SSH, protocol: "-1" },
      { ...VPN_SSH, action: "delete_group" },
    ]) {
      await expectCode(
        aws.modifySecurityGroup(DEV, REGION, BASTION, change as never),
        "connector_rejected",
      );
    }
    expect(calls()).toBe(0);
  });

  it("revokes the open SSH rule; a later describe sees it gone", async () => {
    const { aws } = await make(DEV);
    const result = await aws.modifySecurityGroup(DEV, REGION, BASTION, OPEN_SSH);
    expect(result).toEqual({ before: DEV_BASTION.ingress, after: DEV_BASTION.ingress.slice(1) });
    const [bastion] = await aws.describeSecurityGroups(DEV, REGION, [BASTION]);
    expect(bastion?.ingress).toEqual(DEV_BASTION.ingress.slice(1));
  });

  it("authorizes a rule, with its description", async () => {
    const { aws } = await make(DEV);
    const { before, after } = await aws.modifySecurityGroup(DEV, REGION, BASTION, VPN_SSH);
    expect(before).toEqual(DEV_BASTION.ingress);
    expect(after).toEqual([
      DEV_BASTION.ingress[0],
      {
        protocol: "tcp",
        port_range: "22",
        cidr: "10.20.0.0/16",
        description: "SSH from the corporate VPN",
      },
      DEV_BASTION.ingress[1],
    ]);
  });

  it("authorizes port ranges, all protocols and IPv6", async () => {
    const { aws } = await make(DEV);
    await aws.modifySecurityGroup(DEV, REGION, APP, {
      action: "authorize_ingress",
      protocol: "udp",
      port_range: "1024-2048",
      cidr: "10.20.0.0/16",
    });
    await aws.modifySecurityGroup(DEV, REGION, APP, {
      action: "authorize_ingress",
      protocol: "-1",
      port_range: "0-65535",
      cidr: "10.99.0.0/16",
    });
    const { after } = await aws.modifySecurityGroup(DEV, REGION, APP, {
      action: "authorize_ingress",
      protocol: "tcp",
      port_range: "8080",
      cidr: "2001:db8:20::/48",
      description: "App traffic over IPv6",
    });
    expect(after).toEqual([
      DEV_APP.ingress[0],
      {
        protocol: "tcp",
        port_range: "8080",
        cidr: "2001:db8:20::/48",
        description: "App traffic over IPv6",
      },
      { protocol: "udp", port_range: "1024-2048", cidr: "10.20.0.0/16" },
      { protocol: "-1", port_range: "0-65535", cidr: "10.99.0.0/16" },
    ]);
  });

  it("rejects a rule that exists already, and revoking one that does not", async () => {
    const { aws } = await make(DEV);
    const duplicate = await failure(
      aws.modifySecurityGroup(DEV, REGION, BASTION, { ...OPEN_SSH, action: "authorize_ingress" }),
    );
    expect(duplicate.code).toBe("connector_rejected");
    expect(duplicate.message).toContain("InvalidPermission.Duplicate");
    const missing = await failure(
      aws.modifySecurityGroup(DEV, REGION, BASTION, { ...VPN_SSH, action: "revoke_ingress" }),
    );
    expect(missing.code).toBe("connector_rejected");
    expect(missing.message).toContain("InvalidPermission.NotFound");
    expect(await aws.describeSecurityGroups(DEV, REGION, [BASTION])).toEqual([DEV_BASTION]);
  });

  it("reports changing an unknown group as not found", async () => {
    const { aws } = await make(DEV);
    await expectCode(
      aws.modifySecurityGroup(DEV, REGION, "sg-0badbadbadbadbad0", VPN_SSH),
      "connector_not_found",
    );
  });
});

describe("AWS fixtures", () => {
  it("appends each change to the writes file", async () => {
    const dir = await tempDir();
    const writesPath = join(dir, "nested", "writes.jsonl");
    const aws = createAwsFromEnv({ ZYX_FIXTURE_WRITES: writesPath });
    await aws.modifySecurityGroup(DEV, REGION, BASTION, OPEN_SSH);
    await aws.modifySecurityGroup(DEV, REGION, BASTION, VPN_SSH);
    const lines = (await readFile(writesPath, "utf8")).trim().split("\n");
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0] ?? "") as Record<string, unknown>;
    expect(first).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      connector: "aws",
      action: "modify_security_group",
      account: DEV,
      region: REGION,
      group_id: BASTION,
      change: OPEN_SSH,
      before: DEV_BASTION.ingress,
      after: DEV_BASTION.ingress.slice(1),
    });
  });

  it("makes no change it cannot record", async () => {
    const dir = await tempDir();
    const blocker = join(dir, "file");
    await writeFile(blocker, "not a directory");
    const aws = createAwsFromEnv({}, { writesPath: join(blocker, "writes.jsonl") });
    await expectCode(
      aws.modifySecurityGroup(DEV, REGION, BASTION, OPEN_SSH),
      "connector_unavailable",
    );
    expect(await aws.describeSecurityGroups(DEV, REGION, [BASTION])).toEqual([DEV_BASTION]);
  });

  it("keeps concurrent changes (they are serialised)", async () => {
    const dir = await tempDir();
    const aws = createAwsFromEnv({}, { writesPath: join(dir, "w.jsonl") });
    await Promise.all([
      aws.modifySecurityGroup(DEV, REGION, BASTION, OPEN_SSH),
      aws.modifySecurityGroup(DEV, REGION, BASTION, VPN_SSH),
    ]);
    const [bastion] = await aws.describeSecurityGroups(DEV, REGION, [BASTION]);
    expect(bastion?.ingress.map((rule) => rule.cidr)).toEqual(["10.20.0.0/16", "10.20.0.0/16"]);
  });

  it("each adapter has its own state", async () => {
    const dir = await tempDir();
    const one = createAwsFromEnv({}, { writesPath: join(dir, "w.jsonl") });
    const two = createAwsFromEnv({}, { writesPath: join(dir, "w.jsonl") });
    await one.modifySecurityGroup(DEV, REGION, BASTION, OPEN_SSH);
    expect(await two.describeSecurityGroups(DEV, REGION, [BASTION])).toEqual([DEV_BASTION]);
  });
});

describe("AWS real adapter against the fake EC2 endpoint", () => {
  it("sends EC2 Query requests, signed for the call's region", async () => {
    const server = await fake();
    const aws = realAgainst(server);
    await aws.describeSecurityGroups(DEV, REGION, [BASTION]);
    await aws.modifySecurityGroup(DEV, REGION, BASTION, VPN_SSH);
    expect(server.requests.map((request) => request.action)).toEqual([
      "DescribeSecurityGroups",
      "DescribeSecurityGroups",
      "AuthorizeSecurityGroupIngress",
      "DescribeSecurityGroups",
    ]);
    expect(server.requests[0]?.params).toEqual({
      Action: "DescribeSecurityGroups",
      Version: "2016-11-15",
      "GroupId.1": BASTION,
    });
    expect(server.requests[2]?.params).toEqual({
      Action: "AuthorizeSecurityGroupIngress",
      Version: "2016-11-15",
      GroupId: BASTION,
      "IpPermissions.1.IpProtocol": "tcp",
      "IpPermissions.1.FromPort": "22",
      "IpPermissions.1.ToPort": "22",
      "IpPermissions.1.IpRanges.1.CidrIp": "10.20.0.0/16",
      "IpPermissions.1.IpRanges.1.Description": "SSH from the corporate VPN",
    });
    for (const request of server.requests) {
      expect(request.accessKeyId).toBe(KEYS[DEV]?.accessKeyId);
      expect(request.region).toBe(REGION);
    }
  });

  it("a change applied whose read-back fails still succeeds, unverified: it is live", async () => {
    const server = await fake();
    const aws = realAgainst(server);
    const unavailable = {
      action: "DescribeSecurityGroups",
      afterAction: "RevokeSecurityGroupIngress",
      status: 503,
      error: { code: "Unavailable", message: "The service is unavailable." },
    };
    server.enqueue(unavailable, unavailable, unavailable); // every attempt of the read-back
    const result = await aws.modifySecurityGroup(DEV, REGION, BASTION, OPEN_SSH);
    expect(result.before).toEqual(DEV_BASTION.ingress);
    expect(result.after).toBeNull();
    expect(result.unverified).toMatch(/^the change was applied, but reading the group back failed/);
    const [bastion] = await aws.describeSecurityGroups(DEV, REGION, [BASTION]);
    expect(bastion?.ingress).toEqual(DEV_BASTION.ingress.slice(1)); // applied indeed
  });

  it("the tool answers such a change as executed, with a warning and its rollback handle", async () => {
    const server = await fake();
    const dir = await mkdtemp(join(tmpdir(), "zyx-aws-tool-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const execute = createToolExecutor(
      { ...createFixtureConnectors(join(dir, "writes.jsonl")), aws: realAgainst(server) },
      loadCatalog(),
    );
    server.enqueue(
      ...Array.from({ length: 3 }, () => ({
        action: "DescribeSecurityGroups",
        afterAction: "RevokeSecurityGroupIngress",
        status: 503,
        error: { code: "Unavailable", message: "The service is unavailable." },
      })),
    );
    const output = await execute({
      tool: "aws_modify_security_group",
      arguments: {
        account: DEV,
        region: REGION,
        group_id: BASTION,
        change: OPEN_SSH,
        change_ticket: "CHG-18422",
        rollback_plan: "Re-authorize from the handle.",
      },
    });
    expect(output.result).toMatchObject({
      rules_after: null,
      warning: expect.stringMatching(/^the change was applied/) as unknown,
    });
    expect(output.compensation).toMatchObject({
      rollback: {
        tool: "aws_modify_security_group",
        arguments: { change: { action: "authorize_ingress" } },
      },
    });
  });

  it("reads every page of a long list", async () => {
    const server = await fake({ pageSize: 1 });
    const aws = realAgainst(server);
    expect(await aws.describeSecurityGroups(DEV, REGION)).toEqual([DEV_BASTION, DEV_APP]);
    expect(server.requests.map((request) => request.params["MaxResults"])).toEqual([
      "1000",
      "1000",
    ]);
    expect(server.requests[1]?.params["NextToken"]).toBeDefined();
  });

  it("refuses another account even when the endpoint would answer for it", async () => {
    const server = await fake();
    const aws = realAgainst(server, KEYS[DEV]);
    await expectCode(aws.describeSecurityGroups(STAGING, REGION), "connector_forbidden");
    expect(server.requests).toHaveLength(0);
  });

  it("maps AuthFailure (401) to connector_unauthorized, without leaking the secret", async () => {
    const server = await fake();
    const wrong = { ...READ_ONLY, secretAccessKey: "fake/wrong/secret/00000000000000000000000" };
    const aws = realAgainst(server, wrong);
    const error = await failure(aws.describeSecurityGroups(DEV, REGION));
    expect(error.code).toBe("connector_unauthorized");
    expect(error.status).toBe(401);
    expect(error.message).toContain("AuthFailure");
    expect(error.message).not.toContain(wrong.secretAccessKey);
    expect(error.message).not.toContain(wrong.accessKeyId);
  });

  it("maps UnauthorizedOperation (403) to connector_forbidden and changes nothing", async () => {
    const server = await fake();
    const aws = realAgainst(server, READ_ONLY);
    const error = await failure(aws.modifySecurityGroup(DEV, REGION, BASTION, OPEN_SSH));
    expect(error.code).toBe("connector_forbidden");
    expect(error.status).toBe(403);
    expect(await aws.describeSecurityGroups(DEV, REGION, [BASTION])).toEqual([DEV_BASTION]);
  });

  it("maps InvalidGroup.NotFound (400) to connector_not_found", async () => {
    const server = await fake();
    const error = await failure(
      realAgainst(server).describeSecurityGroups(DEV, REGION, ["sg-0badbadbadbadbad0"]),
    );
    expect(error.code).toBe("connector_not_found");
    expect(error.status).toBe(400);
    expect(error.message).toContain(
      "InvalidGroup.NotFound: The security group 'sg-0badbadbadbadbad0' does not exist",
    );
  });

  it("waits as RequestLimitExceeded's Retry-After says, then succeeds", async () => {
    const server = await fake();
    server.enqueue({
      status: 503,
      error: { code: "RequestLimitExceeded", message: "Request limit exceeded." },
      headers: { "retry-after": "0.3" },
    });
    const started = Date.now();
    expect(await realAgainst(server).describeSecurityGroups(DEV, REGION)).toHaveLength(2);
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests;
    expect((second?.time ?? 0) - (first?.time ?? 0)).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("honours a 429 with Retry-After as an HTTP date", async () => {
    const server = await fake();
    server.enqueue({
      status: 429,
      error: { code: "Throttling", message: "Rate exceeded" },
      headers: { "retry-after": new Date(Date.now() + 1_500).toUTCString() },
    });
    expect(await realAgainst(server).describeSecurityGroups(DEV, REGION)).toHaveLength(2);
    const [first, second] = server.requests;
    // An HTTP date has whole seconds: at least ~0.5 s remain of the 1.5 s asked for.
    expect((second?.time ?? 0) - (first?.time ?? 0)).toBeGreaterThanOrEqual(400);
  });

  it("gives up on throttling after the bounded attempts: connector_rate_limited", async () => {
    const server = await fake();
    const throttled = {
      status: 503,
      error: { code: "RequestLimitExceeded", message: "Request limit exceeded." },
    };
    server.enqueue(throttled, throttled, throttled, throttled);
    const error = await failure(realAgainst(server).describeSecurityGroups(DEV, REGION));
    expect(error.code).toBe("connector_rate_limited");
    expect(server.requests).toHaveLength(3);
  });

  it("retries a 5xx, then succeeds", async () => {
    const server = await fake();
    server.enqueue({
      status: 500,
      error: { code: "InternalError", message: "An internal error has occurred" },
    });
    expect(await realAgainst(server).describeSecurityGroups(DEV, REGION)).toHaveLength(2);
    expect(server.requests).toHaveLength(2);
  });

  it("gives up on 5xx after the bounded attempts: connector_unavailable", async () => {
    const server = await fake();
    const down = {
      status: 503,
      error: { code: "Unavailable", message: "The service is unavailable." },
    };
    server.enqueue(down, down, down, down, down);
    const aws = realAgainst(server, KEYS[DEV], { maxAttempts: 4 });
    const error = await failure(aws.describeSecurityGroups(DEV, REGION));
    expect(error.code).toBe("connector_unavailable");
    expect(error.status).toBe(503);
    expect(server.requests).toHaveLength(4);
  });

  it("times out a silent endpoint: connector_timeout", async () => {
    const server = await fake();
    server.enqueue({ delayMs: 5_000 }, { delayMs: 5_000 });
    const aws = realAgainst(server, KEYS[DEV], { maxAttempts: 2, requestTimeoutMs: 150 });
    const started = Date.now();
    await expectCode(aws.describeSecurityGroups(DEV, REGION), "connector_timeout");
    expect(server.requests).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("stops at the call's deadline, retries included: connector_timeout", async () => {
    const server = await fake();
    server.enqueue({ delayMs: 5_000 }, { delayMs: 5_000 }, { delayMs: 5_000 });
    const aws = realAgainst(server, KEYS[DEV], { requestTimeoutMs: 2_000, deadlineMs: 200 });
    const started = Date.now();
    await expectCode(aws.describeSecurityGroups(DEV, REGION), "connector_timeout");
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("maps an unreadable answer to connector_bad_response", async () => {
    const server = await fake();
    server.enqueue({ status: 200, body: "<DescribeSecurityGroupsResponse><oops" });
    await expectCode(
      realAgainst(server).describeSecurityGroups(DEV, REGION),
      "connector_bad_response",
    );
    server.enqueue({
      status: 200,
      body: '<?xml version="1.0"?><DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId></DescribeSecurityGroupsResponse>',
    });
    await expectCode(
      realAgainst(server).describeSecurityGroups(DEV, REGION),
      "connector_bad_response",
    );
  });

  it("maps an unreachable endpoint to connector_unavailable", async () => {
    const server = await fake();
    const url = server.url;
    await server.close();
    const aws = createAwsFromEnv(
      { ZYX_AWS_MODE: "real", ZYX_AWS_ENDPOINT: url, ZYX_AWS_ACCOUNT_ID: DEV },
      {
        ...FAST,
        maxAttempts: 2,
        credentials: { accessKeyId: "AKIAZYXDEVFAKE000001", secretAccessKey: "x" },
      },
    );
    await expectCode(aws.describeSecurityGroups(DEV, REGION), "connector_unavailable");
  });

  it("rejects a revoke that EC2 reports as an unknown permission", async () => {
    const server = await fake({ revokeUnknown: "unknown" });
    const error = await failure(
      realAgainst(server).modifySecurityGroup(DEV, REGION, BASTION, {
        ...VPN_SSH,
        action: "revoke_ingress",
      }),
    );
    expect(error.code).toBe("connector_rejected");
    expect(error.message).toContain("does not exist");
  });

  it("does not send a change again after a 5xx: it may have been applied, so its outcome is unknown", async () => {
    const server = await fake();
    server.enqueue({
      action: "AuthorizeSecurityGroupIngress",
      status: 500,
      error: { code: "InternalError", message: "An internal error has occurred" },
    });
    const error = await failure(
      realAgainst(server).modifySecurityGroup(DEV, REGION, BASTION, VPN_SSH),
    );
    expect(error).toMatchObject({ code: "connector_unavailable", status: 500 });
    // Sent once: a second try's "the rule already exists" could not tell our change from one
    // that was there before, and a throttled second try would hide a first that went through.
    expect(server.requests.map((request) => request.action)).toEqual([
      "DescribeSecurityGroups",
      "AuthorizeSecurityGroupIngress",
    ]);
    expect(writeNotApplied(error)).toBe(false);
  });

  it.each([
    ["a timeout", { action: "RevokeSecurityGroupIngress", delayMs: 5_000 }],
    [
      "a 503 that is not throttling",
      {
        action: "RevokeSecurityGroupIngress",
        status: 503,
        error: { code: "Unavailable", message: "The service is unavailable." },
      },
    ],
  ])("does not send a change again after %s", async (_label, fault) => {
    const server = await fake();
    server.enqueue(fault);
    const change = { ...OPEN_SSH } as const;
    await failure(realAgainst(server).modifySecurityGroup(DEV, REGION, BASTION, change));
    expect(
      server.requests.filter((request) => request.action === "RevokeSecurityGroupIngress"),
    ).toHaveLength(1);
  });

  it("sends a throttled change again (EC2 did nothing), then succeeds", async () => {
    const server = await fake();
    server.enqueue({
      action: "AuthorizeSecurityGroupIngress",
      status: 503,
      error: { code: "RequestLimitExceeded", message: "Request limit exceeded." },
    });
    const result = await realAgainst(server).modifySecurityGroup(DEV, REGION, BASTION, VPN_SSH);
    expect(result.after).toContainEqual(
      expect.objectContaining({ protocol: "tcp", port_range: "22", cidr: "10.20.0.0/16" }),
    );
    expect(server.requests.map((request) => request.action)).toEqual([
      "DescribeSecurityGroups",
      "AuthorizeSecurityGroupIngress",
      "AuthorizeSecurityGroupIngress",
      "DescribeSecurityGroups",
    ]);
  });

  it("still rejects a duplicate on the first attempt", async () => {
    const server = await fake();
    const change = { ...OPEN_SSH, action: "authorize_ingress" } as const;
    await expectCode(
      realAgainst(server).modifySecurityGroup(DEV, REGION, BASTION, change),
      "connector_rejected",
    );
  });
});

describe("AWS real adapter: a non-throttling 503 after a security-group change", () => {
  it("leaves the change's outcome unknown: EC2 may have applied it before answering 503", async () => {
    const server = await fake();
    // A front that forwards every request to EC2 and, for the change, answers 503 Unavailable
    // once EC2 has applied it (an overloaded front end, a load balancer that gave up on the answer).
    const { createServer, request } = await import("node:http");
    const target = new URL(server.url);
    const front = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const upstream = request(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            const answerChunks: Buffer[] = [];
            answer.on("data", (chunk: Buffer) => answerChunks.push(chunk));
            answer.on("end", () => {
              if (body.toString("utf8").includes("Action=AuthorizeSecurityGroupIngress")) {
                res.writeHead(503, { "content-type": "text/xml" });
                res.end(
                  '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>Unavailable</Code><Message>The service is unavailable.</Message></Error></Errors><RequestID>r-1</RequestID></Response>',
                );
                return;
              }
              res.writeHead(answer.statusCode ?? 500, answer.headers);
              res.end(Buffer.concat(answerChunks));
            });
          },
        );
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) =>
          front.close(() => {
            resolve();
          }),
        ),
    );
    const address = front.address();
    if (address === null || typeof address === "string") throw new Error("no address");
    const aws = createAwsFromEnv(
      {
        ZYX_AWS_MODE: "real",
        ZYX_AWS_ENDPOINT: `http://127.0.0.1:${address.port}`,
        ZYX_AWS_ACCOUNT_ID: DEV,
      },
      {
        ...FAST,
        credentials: {
          accessKeyId: KEYS[DEV]?.accessKeyId ?? "",
          secretAccessKey: KEYS[DEV]?.secretAccessKey ?? "",
        },
      },
    );

    const error = await failure(aws.modifySecurityGroup(DEV, REGION, BASTION, VPN_SSH));
    expect(error).toMatchObject({ code: "connector_unavailable", status: 503 });
    // The rule is open in EC2...
    const [group] = await realAgainst(server).describeSecurityGroups(DEV, REGION, [BASTION]);
    expect(group?.ingress).toContainEqual(
      expect.objectContaining({ protocol: "tcp", port_range: "22", cidr: "10.20.0.0/16" }),
    );
    // ...so the worker must not report the write as failed (tool_failed): its outcome is unknown.
    expect(writeNotApplied(error)).toBe(false);
  });
});
