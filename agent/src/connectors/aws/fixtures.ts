// The offline AWS adapter: the security groups of agent/fixtures/aws/security-groups.json
// (development 111122223333 "zyx-dev" and staging 444455556666 "zyx-staging", ap-southeast-1),
// in memory. It refuses what the real adapter refuses, in the same words: malformed arguments
// (connector_rejected), an account it holds nothing for (connector_forbidden, as a real adapter
// without credentials there), an unknown group (connector_not_found), a duplicate or missing
// rule (connector_rejected).
//
// A change is appended to the writes file as one JSON line (so a demo can show it) and then
// applied in memory: the next describe of this adapter sees it. Changes are serialised.
import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
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
  toIngressRules,
  toIpPermission,
  toSecurityGroup,
  type IpPermission,
} from "./model.ts";
import { Ec2Store, loadEc2Data, type Ec2Data } from "./store.ts";

export interface AwsFixturesOptions {
  /** Where changes are appended (JSON Lines); the directory is created when missing. */
  writesPath: string;
  /** The data; defaults to agent/fixtures/aws/security-groups.json. */
  data?: Ec2Data;
  /** The clock of the write records (tests). */
  now?: () => Date;
}

/** One line of the writes file. */
export interface AwsFixtureWrite {
  time: string;
  connector: "aws";
  action: "modify_security_group";
  account: string;
  region: string;
  group_id: string;
  change: SecurityGroupChange;
  before: IngressRule[];
  after: IngressRule[];
}

export function createAwsFixtures(options: AwsFixturesOptions): AwsPort {
  const store = new Ec2Store(options.data ?? loadEc2Data());
  const now = options.now ?? (() => new Date());
  let queue: Promise<unknown> = Promise.resolve();

  function checkAccount(account: string, operation: string): void {
    if (!store.hasAccount(account)) {
      throw new ConnectorError(
        "aws",
        "connector_forbidden",
        `AWS EC2 ${operation}: no credentials for account ${account}`,
      );
    }
  }

  function describe(account: string, region: string, groupIds?: readonly string[]) {
    const operation = `DescribeSecurityGroups (${account}/${region})`;
    try {
      return store.describe(account, region, groupIds).map(toSecurityGroup);
    } catch (error) {
      throw toConnectorError(error, operation);
    }
  }

  async function modify(
    account: string,
    region: string,
    groupId: string,
    change: SecurityGroupChange,
  ): Promise<{ before: IngressRule[]; after: IngressRule[] }> {
    const action =
      change.action === "authorize_ingress"
        ? "AuthorizeSecurityGroupIngress"
        : "RevokeSecurityGroupIngress";
    const operation = `${action} (${account}/${region} ${groupId})`;
    const permission = toIpPermission(change);
    let before: IngressRule[];
    let next: IpPermission[];
    try {
      const current = store.describe(account, region, [groupId])[0];
      before = toIngressRules(current?.IpPermissions);
      next =
        change.action === "authorize_ingress"
          ? store.planAuthorize(account, region, groupId, permission)
          : store.planRevoke(account, region, groupId, permission).next;
    } catch (error) {
      throw toConnectorError(error, operation);
    }
    // The record is written before the state changes: a change that cannot be recorded is
    // not made.
    const record: AwsFixtureWrite = {
      time: now().toISOString(),
      connector: "aws",
      action: "modify_security_group",
      account,
      region,
      group_id: groupId,
      change,
      before,
      after: toIngressRules(next),
    };
    try {
      await mkdir(dirname(options.writesPath), { recursive: true });
      await appendFile(options.writesPath, `${JSON.stringify(record)}\n`, "utf8");
    } catch (error) {
      throw new ConnectorError(
        "aws",
        "connector_unavailable",
        `AWS EC2 ${operation}: the fixture write could not be recorded (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    store.setIngress(account, region, groupId, next);
    return { before, after: record.after };
  }

  return {
    describeSecurityGroups(account, region, groupIds) {
      try {
        checkAccountAndRegion(account, region);
        checkGroupIds(groupIds);
        checkAccount(account, `DescribeSecurityGroups (${account}/${region})`);
        return Promise.resolve<SecurityGroup[]>(describe(account, region, groupIds));
      } catch (error) {
        return Promise.reject(toConnectorError(error, "DescribeSecurityGroups"));
      }
    },

    modifySecurityGroup(account, region, groupId, change) {
      try {
        checkAccountAndRegion(account, region);
        checkGroupId(groupId);
        checkChange(change);
        checkAccount(account, `ModifySecurityGroup (${account}/${region})`);
      } catch (error) {
        return Promise.reject(toConnectorError(error, "ModifySecurityGroup"));
      }
      const run = queue.then(() => modify(account, region, groupId, change));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
