// What both AWS adapters share: checking the arguments before anything is called, and the one
// mapping between EC2's IpPermissions and the port's ingress rules.
//
// EC2 describes a rule set as IpPermissions: one protocol and port range, then the sources it
// is open to (IPv4 ranges, IPv6 ranges, other security groups, prefix lists). The port has one
// IngressRule per source. A source that is not a CIDR keeps its id in `cidr` ("sg-...",
// "pl-..."): dropping it would hide an open path from the reviewer.
//
// Ports: FromPort/ToPort 22/22 is "22", 1024/2048 is "1024-2048"; all protocols ("-1") or -1
// ports is "0-65535". For ICMP FromPort is the type and ToPort the code: type 8 with every code
// (-1) is "8".
import type { IpPermission, SecurityGroup as Ec2SecurityGroup } from "@aws-sdk/client-ec2";
import { TOOL_ARGUMENT_SCHEMAS } from "../../../../common/tool-arguments.ts";
import {
  ConnectorError,
  type IngressRule,
  type SecurityGroup,
  type SecurityGroupChange,
} from "../port.ts";

export type { Ec2SecurityGroup, IpPermission };

const READ = TOOL_ARGUMENT_SCHEMAS.aws_dev_read.shape;
const MODIFY = TOOL_ARGUMENT_SCHEMAS.aws_modify_security_group.shape;

// ---------------------------------------------------------------------------------------------
// Arguments: refused before any call, with the same words on both adapters.

function rejected(message: string): ConnectorError {
  return new ConnectorError("aws", "connector_rejected", message);
}

/** A short, safe rendering of a refused value (never the whole of a long string). */
function shown(value: unknown): string {
  if (typeof value !== "string") return typeof value;
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

function check(
  schema: { safeParse(value: unknown): { success: boolean } },
  value: unknown,
  what: string,
): void {
  if (!schema.safeParse(value).success) throw rejected(`invalid ${what}: ${shown(value)}`);
}

export function checkAccountAndRegion(account: unknown, region: unknown): void {
  check(READ.account, account, "AWS account id (12 digits)");
  check(READ.region, region, "AWS region");
}

export function checkGroupIds(groupIds: unknown): void {
  if (groupIds === undefined) return;
  if (!Array.isArray(groupIds) || groupIds.length === 0) {
    throw rejected("group ids: give at least one, or none to list every group");
  }
  for (const id of groupIds) check(MODIFY.group_id, id, "security-group id");
}

export function checkGroupId(groupId: unknown): void {
  check(MODIFY.group_id, groupId, "security-group id");
}

export function checkChange(change: unknown): asserts change is SecurityGroupChange {
  const parsed = MODIFY.change.safeParse(change);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? "" : issue.path.join(".");
    throw rejected(
      `invalid security-group change${where === "" ? "" : ` (${where})`}: ${issue?.message ?? "invalid"}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Ports

/** "22", "1024-2048" or "0-65535" from EC2's FromPort/ToPort. */
export function formatPortRange(protocol: string, from?: number, to?: number): string {
  if (protocol === "-1" || from === undefined || from === -1) return "0-65535";
  if (to === undefined || to === -1 || to === from) return String(from);
  return `${String(from)}-${String(to)}`;
}

/** EC2's FromPort/ToPort for a port range (already validated); none for all protocols. */
export function parsePortRange(
  protocol: string,
  range: string,
): { FromPort?: number; ToPort?: number } {
  if (protocol === "-1") return {};
  const [fromText = "", toText] = range.split("-");
  const from = Number(fromText);
  const to = toText === undefined ? undefined : Number(toText);
  if (protocol === "icmp" || protocol === "icmpv6") {
    if (range === "0-65535") return { FromPort: -1, ToPort: -1 };
    return { FromPort: from, ToPort: to ?? -1 };
  }
  return { FromPort: from, ToPort: to ?? from };
}

// ---------------------------------------------------------------------------------------------
// EC2 shapes to the port's

function rule(
  protocol: string,
  portRange: string,
  cidr: string,
  description: string | undefined,
): IngressRule {
  return description === undefined || description === ""
    ? { protocol, port_range: portRange, cidr }
    : { protocol, port_range: portRange, cidr, description };
}

/** One IngressRule per source of each permission, in EC2's order. */
export function toIngressRules(permissions: readonly IpPermission[] | undefined): IngressRule[] {
  const rules: IngressRule[] = [];
  for (const permission of permissions ?? []) {
    const protocol = permission.IpProtocol ?? "-1";
    const ports = formatPortRange(protocol, permission.FromPort, permission.ToPort);
    for (const range of permission.IpRanges ?? []) {
      if (range.CidrIp !== undefined)
        rules.push(rule(protocol, ports, range.CidrIp, range.Description));
    }
    for (const range of permission.Ipv6Ranges ?? []) {
      if (range.CidrIpv6 !== undefined) {
        rules.push(rule(protocol, ports, range.CidrIpv6, range.Description));
      }
    }
    for (const pair of permission.UserIdGroupPairs ?? []) {
      if (pair.GroupId !== undefined)
        rules.push(rule(protocol, ports, pair.GroupId, pair.Description));
    }
    for (const list of permission.PrefixListIds ?? []) {
      if (list.PrefixListId !== undefined) {
        rules.push(rule(protocol, ports, list.PrefixListId, list.Description));
      }
    }
  }
  return rules;
}

export function toSecurityGroup(group: Ec2SecurityGroup): SecurityGroup {
  return {
    group_id: group.GroupId ?? "",
    name: group.GroupName ?? "",
    vpc_id: group.VpcId ?? "",
    description: group.Description ?? "",
    ingress: toIngressRules(group.IpPermissions),
  };
}

/** The one IpPermission that a change authorizes or revokes. */
export function toIpPermission(change: SecurityGroupChange): IpPermission {
  const ports = parsePortRange(change.protocol, change.port_range);
  const description = change.description === undefined ? {} : { Description: change.description };
  const source = change.cidr.includes(":")
    ? { Ipv6Ranges: [{ CidrIpv6: change.cidr, ...description }] }
    : { IpRanges: [{ CidrIp: change.cidr, ...description }] };
  return { IpProtocol: change.protocol, ...ports, ...source };
}
