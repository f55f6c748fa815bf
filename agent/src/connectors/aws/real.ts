// The real AWS adapter: EC2's API through @aws-sdk/client-ec2 (DescribeSecurityGroups,
// AuthorizeSecurityGroupIngress, RevokeSecurityGroupIngress), SigV4-signed by the SDK.
//
// One account: the one the credentials belong to (`accountId`). A call for any other account
// is refused (connector_forbidden) before anything is sent: these credentials cannot act
// there, and assuming a role per account is not supported yet (see ./index.ts).
//
// Retries are the SDK's: its standard strategy (throttling codes such as RequestLimitExceeded,
// 429, 5xx, timeouts and network faults), `maxAttempts` in all, a Retry-After the answer gives
// honoured up to the SDK's cap. Each attempt has NodeHttpHandler's connection and request
// timeouts, and the whole call (retries included) a deadline.
//
// Writes (Authorize, Revoke) are retried only when EC2 throttled them (RequestLimitExceeded, 429:
// refused before anything was done). A 5xx, a timeout or a network fault may follow a change
// that was applied, and EC2 takes no idempotency token for these two: sent again, its answer
// ("the rule already exists") could pass for success when the rule was there before the call,
// and a retry that is then throttled could pass for "not applied" when the first attempt was.
// Such a failure surfaces as itself, and the worker reports the write's outcome as unknown
// (connectors/network.ts). The group is read back after each change.
import { withCallDeadline } from "../deadline.ts";
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  type DescribeSecurityGroupsCommandInput,
  type EC2ClientConfig,
  type SecurityGroup as Ec2SecurityGroup,
} from "@aws-sdk/client-ec2";
import { ConfiguredRetryStrategy, StandardRetryStrategy } from "@smithy/core/retry";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import {
  ConnectorError,
  type AwsPort,
  type IngressRule,
  type SecurityGroup,
  type SecurityGroupChange,
} from "../port.ts";
import { toConnectorError } from "./errors.ts";
import {
  checkAccountAndRegion,
  checkChange,
  checkGroupId,
  checkGroupIds,
  toIpPermission,
  toSecurityGroup,
} from "./model.ts";

export interface AwsRealOptions {
  /** The 12-digit account the credentials belong to; every other account is refused. */
  accountId: string;
  /** An EC2-compatible endpoint (a local fake, LocalStack); default: AWS's regional endpoint. */
  endpoint?: string | undefined;
  /** Default: the SDK's default provider chain (environment, profile, SSO, instance role). */
  credentials?: EC2ClientConfig["credentials"];
  /** Attempts per call, the first included (default 3). */
  maxAttempts?: number | undefined;
  /** Longest one attempt may take, request and response (default 10 000 ms). */
  requestTimeoutMs?: number | undefined;
  /** Longest to wait for a connection (default 3 000 ms). */
  connectionTimeoutMs?: number | undefined;
  /** Longest one call may take, retries included (default 60 000 ms). */
  deadlineMs?: number | undefined;
  /**
   * When set, the delay before retry n is this times 2^(n-1) (capped at 20 s), without jitter
   * (tests); default: the SDK's standard backoff. A Retry-After still wins when longer.
   */
  retryBaseDelayMs?: number | undefined;
}

const DEFAULTS = {
  maxAttempts: 3,
  requestTimeoutMs: 10_000,
  connectionTimeoutMs: 3_000,
  deadlineMs: 60_000,
} as const;

const MAX_RETRY_DELAY_MS = 20_000;
/** DescribeSecurityGroups pages (of 1000) read before giving up: a bound, not a real limit. */
const MAX_PAGES = 20;

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

type RetryStrategy = StandardRetryStrategy | ConfiguredRetryStrategy;

/**
 * `inner`, retrying only what EC2 refused as throttling (the SDK's own classification). For any
 * other failure the SDK hears "no retry" and throws that failure as it came.
 */
class ThrottlingOnly {
  private readonly inner: RetryStrategy;
  constructor(inner: RetryStrategy) {
    this.inner = inner;
  }
  acquireInitialRetryToken(...args: Parameters<RetryStrategy["acquireInitialRetryToken"]>) {
    return this.inner.acquireInitialRetryToken(...args);
  }
  refreshRetryTokenForRetry(...args: Parameters<RetryStrategy["refreshRetryTokenForRetry"]>) {
    const [, info] = args;
    if (info.errorType !== "THROTTLING") {
      return Promise.reject(new Error("not retried: a write is retried only when throttled"));
    }
    return this.inner.refreshRetryTokenForRetry(...args);
  }
  recordSuccess(...args: Parameters<RetryStrategy["recordSuccess"]>): void {
    this.inner.recordSuccess(...args);
  }
}

export function createAwsReal(options: AwsRealOptions): AwsPort {
  const maxAttempts = Math.floor(positive(options.maxAttempts, DEFAULTS.maxAttempts));
  const deadlineMs = positive(options.deadlineMs, DEFAULTS.deadlineMs);
  const base = options.retryBaseDelayMs;
  const clients = new Map<string, EC2Client>();

  /** The region's client for reads, or with `writes` the one that retries throttling only. */
  function client(region: string, writes = false): EC2Client {
    const key = `${region}${writes ? " writes" : ""}`;
    let found = clients.get(key);
    if (found === undefined) {
      const strategy =
        base === undefined
          ? new StandardRetryStrategy(maxAttempts)
          : new ConfiguredRetryStrategy(maxAttempts, (attempt) =>
              Math.min(base * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS),
            );
      found = new EC2Client({
        region,
        maxAttempts,
        retryStrategy: writes ? new ThrottlingOnly(strategy) : strategy,
        // requestTimeout bounds one attempt (request and response); without
        // throwOnRequestTimeout this handler only logs a warning when it is exceeded.
        requestHandler: new NodeHttpHandler({
          requestTimeout: positive(options.requestTimeoutMs, DEFAULTS.requestTimeoutMs),
          throwOnRequestTimeout: true,
          connectionTimeout: positive(options.connectionTimeoutMs, DEFAULTS.connectionTimeoutMs),
        }),
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
        ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      });
      clients.set(key, found);
    }
    return found;
  }

  function checkAccount(account: string, operation: string): void {
    if (account !== options.accountId) {
      throw new ConnectorError(
        "aws",
        "connector_forbidden",
        `AWS EC2 ${operation}: account ${account} is not the account of these credentials (${options.accountId}), and assuming a role there is not supported`,
      );
    }
  }

  async function describe(
    account: string,
    region: string,
    groupIds: readonly string[] | undefined,
    abortSignal: AbortSignal,
  ): Promise<Ec2SecurityGroup[]> {
    const operation = `DescribeSecurityGroups (${account}/${region})`;
    const ec2 = client(region);
    const groups: Ec2SecurityGroup[] = [];
    let nextToken: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        // EC2 refuses MaxResults with GroupIds: a list by id comes in one answer.
        const input: DescribeSecurityGroupsCommandInput =
          groupIds === undefined
            ? { MaxResults: 1000, ...(nextToken === undefined ? {} : { NextToken: nextToken }) }
            : { GroupIds: [...groupIds] };
        const output = await ec2.send(new DescribeSecurityGroupsCommand(input), { abortSignal });
        if (output.SecurityGroups === undefined) {
          throw new ConnectorError(
            "aws",
            "connector_bad_response",
            `AWS EC2 ${operation}: the answer has no securityGroupInfo`,
          );
        }
        groups.push(...output.SecurityGroups);
        nextToken = output.NextToken === "" ? undefined : output.NextToken;
        if (groupIds !== undefined || nextToken === undefined) return groups;
      }
    } catch (error) {
      throw toConnectorError(error, operation);
    }
    throw new ConnectorError(
      "aws",
      "connector_bad_response",
      `AWS EC2 ${operation}: more than ${String(MAX_PAGES)} pages of security groups`,
    );
  }

  async function ingressOf(
    account: string,
    region: string,
    groupId: string,
    abortSignal: AbortSignal,
  ): Promise<IngressRule[]> {
    const [group] = await describe(account, region, [groupId], abortSignal);
    if (group?.GroupId !== groupId) {
      throw new ConnectorError(
        "aws",
        "connector_bad_response",
        `AWS EC2 DescribeSecurityGroups (${account}/${region}): ${groupId} is not in the answer`,
      );
    }
    return toSecurityGroup(group).ingress;
  }

  async function change(
    account: string,
    region: string,
    groupId: string,
    change: SecurityGroupChange,
    abortSignal: AbortSignal,
  ): Promise<void> {
    const authorize = change.action === "authorize_ingress";
    const action = authorize ? "AuthorizeSecurityGroupIngress" : "RevokeSecurityGroupIngress";
    const operation = `${action} (${account}/${region} ${groupId})`;
    const input = { GroupId: groupId, IpPermissions: [toIpPermission(change)] };
    const signal = { abortSignal };
    const ec2 = client(region, true);
    let result: { Return?: boolean | undefined; UnknownIpPermissions?: unknown[] | undefined };
    try {
      result = authorize
        ? await ec2.send(new AuthorizeSecurityGroupIngressCommand(input), signal)
        : await ec2.send(new RevokeSecurityGroupIngressCommand(input), signal);
    } catch (error) {
      throw toConnectorError(error, operation);
    }
    if ((result.UnknownIpPermissions ?? []).length > 0) {
      throw new ConnectorError(
        "aws",
        "connector_rejected",
        `AWS EC2 ${operation}: the specified rule does not exist in this security group`,
      );
    }
    if (result.Return !== true) {
      throw new ConnectorError(
        "aws",
        result.Return === false ? "connector_rejected" : "connector_bad_response",
        `AWS EC2 ${operation}: EC2 answered ${String(result.Return)}`,
      );
    }
  }

  return {
    async describeSecurityGroups(account, region, groupIds) {
      checkAccountAndRegion(account, region);
      checkGroupIds(groupIds);
      checkAccount(account, `DescribeSecurityGroups (${account}/${region})`);
      const signal = withCallDeadline(AbortSignal.timeout(deadlineMs));
      const groups = await describe(account, region, groupIds, signal);
      return groups.map((group): SecurityGroup => toSecurityGroup(group));
    },

    async modifySecurityGroup(account, region, groupId, requested) {
      checkAccountAndRegion(account, region);
      checkGroupId(groupId);
      checkChange(requested);
      checkAccount(account, `ModifySecurityGroup (${account}/${region})`);
      // One deadline for the three calls: read, change, read back; and the gateway's for the
      // call (connectors/deadline.ts), so that no change starts after the gateway gave up.
      const signal = withCallDeadline(AbortSignal.timeout(deadlineMs));
      const before = await ingressOf(account, region, groupId, signal);
      await change(account, region, groupId, requested, signal);
      // Applied: from here on the call succeeded, whatever the read-back does. A failure here
      // must not turn a live change into an error without its rollback handle.
      try {
        return { before, after: await ingressOf(account, region, groupId, signal) };
      } catch (error) {
        const failed = toConnectorError(error, "DescribeSecurityGroups");
        return {
          before,
          after: null,
          unverified: `the change was applied, but reading the group back failed (${failed.code}): ${failed.message}`,
        };
      }
    },
  };
}
