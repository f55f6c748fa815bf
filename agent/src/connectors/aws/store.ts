// Security groups in memory, with EC2's own rules for changing them: the fixture adapter and the
// tests' fake EC2 endpoint (agent/test/support/fake-ec2.ts) both keep their state here, so a
// change is visible to the next describe, and a duplicate or missing rule fails as EC2 fails it
// (same codes, same messages).
//
// The data (agent/fixtures/aws/security-groups.json) is in EC2's own shape: accounts, regions,
// then SecurityGroups as DescribeSecurityGroups returns them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Ec2SecurityGroup, IpPermission } from "./model.ts";

/** A fault as EC2 reports it: its error code, message and HTTP status. */
export class Ec2Fault extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = "Ec2Fault";
    this.code = code;
    this.status = status;
  }
}

// ---------------------------------------------------------------------------------------------
// The data file

const Described = z.object({ Description: z.string().optional() });
const Permission = z.strictObject({
  IpProtocol: z.string(),
  FromPort: z.number().int().optional(),
  ToPort: z.number().int().optional(),
  IpRanges: z.array(Described.extend({ CidrIp: z.string() }).strict()).optional(),
  Ipv6Ranges: z.array(Described.extend({ CidrIpv6: z.string() }).strict()).optional(),
  UserIdGroupPairs: z
    .array(Described.extend({ GroupId: z.string(), UserId: z.string().optional() }).strict())
    .optional(),
  PrefixListIds: z.array(Described.extend({ PrefixListId: z.string() }).strict()).optional(),
});
const Group = z.strictObject({
  GroupId: z.string().regex(/^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$/),
  GroupName: z.string().min(1),
  Description: z.string(),
  VpcId: z.string(),
  OwnerId: z.string().regex(/^[0-9]{12}$/),
  IpPermissions: z.array(Permission),
  IpPermissionsEgress: z.array(Permission).optional(),
});
const Ec2DataSchema = z.strictObject({
  accounts: z.record(
    z.string().regex(/^[0-9]{12}$/),
    z.strictObject({
      name: z.string(),
      environment: z.string(),
      regions: z.record(z.string(), z.array(Group)),
    }),
  ),
});

export type Ec2Data = z.infer<typeof Ec2DataSchema>;

/** The fixture file, resolved from this module (not the working directory). */
export const FIXTURE_PATH = join(
  import.meta.dirname,
  "..",
  "..",
  "..",
  "fixtures",
  "aws",
  "security-groups.json",
);

/** Reads and checks a data file; a broken file stops the process at start-up. */
export function loadEc2Data(path: string = FIXTURE_PATH): Ec2Data {
  const parsed = Ec2DataSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `AWS fixture data ${path} is invalid at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "?"}`,
    );
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------
// Rules

function samePorts(a: IpPermission, b: IpPermission): boolean {
  const protocol = (a.IpProtocol ?? "-1").toLowerCase();
  if (protocol !== (b.IpProtocol ?? "-1").toLowerCase()) return false;
  if (protocol === "-1") return true;
  return (a.FromPort ?? -1) === (b.FromPort ?? -1) && (a.ToPort ?? -1) === (b.ToPort ?? -1);
}

interface Source {
  kind: "IpRanges" | "Ipv6Ranges";
  cidr: string;
  description: string | undefined;
}

function sourcesOf(permission: IpPermission): Source[] {
  return [
    ...(permission.IpRanges ?? []).map((range) => ({
      kind: "IpRanges" as const,
      cidr: range.CidrIp ?? "",
      description: range.Description,
    })),
    ...(permission.Ipv6Ranges ?? []).map((range) => ({
      kind: "Ipv6Ranges" as const,
      cidr: range.CidrIpv6 ?? "",
      description: range.Description,
    })),
  ];
}

function hasSource(permission: IpPermission, source: Source): boolean {
  return source.kind === "IpRanges"
    ? (permission.IpRanges ?? []).some((range) => range.CidrIp === source.cidr)
    : (permission.Ipv6Ranges ?? []).some((range) => range.CidrIpv6 === source.cidr);
}

/** EC2's words for a rule: peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW. */
function describeRule(permission: IpPermission, source: Source): string {
  const protocol = (permission.IpProtocol ?? "-1").toUpperCase();
  if (protocol === "-1") return `peer: ${source.cidr}, ALL, ALLOW`;
  return `peer: ${source.cidr}, ${protocol}, from port: ${String(permission.FromPort ?? -1)}, to port: ${String(permission.ToPort ?? -1)}, ALLOW`;
}

function withoutSource(permission: IpPermission, source: Source): IpPermission {
  const copy = structuredClone(permission);
  if (source.kind === "IpRanges") {
    copy.IpRanges = (copy.IpRanges ?? []).filter((range) => range.CidrIp !== source.cidr);
  } else {
    copy.Ipv6Ranges = (copy.Ipv6Ranges ?? []).filter((range) => range.CidrIpv6 !== source.cidr);
  }
  return copy;
}

function isEmpty(permission: IpPermission): boolean {
  return (
    (permission.IpRanges ?? []).length === 0 &&
    (permission.Ipv6Ranges ?? []).length === 0 &&
    (permission.UserIdGroupPairs ?? []).length === 0 &&
    (permission.PrefixListIds ?? []).length === 0
  );
}

// ---------------------------------------------------------------------------------------------
// The store

export class Ec2Store {
  readonly #accounts: Map<string, Map<string, Ec2SecurityGroup[]>>;

  constructor(data: Ec2Data) {
    this.#accounts = new Map(
      Object.entries(structuredClone(data).accounts).map(([account, { regions }]) => [
        account,
        new Map(Object.entries(regions).map(([region, groups]) => [region, groups])),
      ]),
    );
  }

  hasAccount(account: string): boolean {
    return this.#accounts.has(account);
  }

  /** Copies of the groups of one region: all of them, or those named (each must exist). */
  describe(account: string, region: string, groupIds?: readonly string[]): Ec2SecurityGroup[] {
    const groups = this.#accounts.get(account)?.get(region) ?? [];
    if (groupIds === undefined) return structuredClone(groups);
    return groupIds.map((id) => structuredClone(this.#group(account, region, id)));
  }

  /**
   * The ingress rules once each source of `permission` is added; one that exists already
   * fails the whole call (InvalidPermission.Duplicate). Changes nothing.
   */
  planAuthorize(
    account: string,
    region: string,
    groupId: string,
    permission: IpPermission,
  ): IpPermission[] {
    const rules = this.#group(account, region, groupId).IpPermissions ?? [];
    for (const source of sourcesOf(permission)) {
      if (
        rules.some((existing) => samePorts(existing, permission) && hasSource(existing, source))
      ) {
        throw new Ec2Fault(
          "InvalidPermission.Duplicate",
          `the specified rule "${describeRule(permission, source)}" already exists`,
        );
      }
    }
    const next = structuredClone(rules);
    for (const source of sourcesOf(permission)) {
      let target = next.find((existing) => samePorts(existing, permission));
      if (target === undefined) {
        const { IpProtocol, FromPort, ToPort } = permission;
        target = {
          IpProtocol: IpProtocol ?? "-1",
          ...(FromPort === undefined ? {} : { FromPort }),
          ...(ToPort === undefined ? {} : { ToPort }),
          UserIdGroupPairs: [],
          IpRanges: [],
          Ipv6Ranges: [],
          PrefixListIds: [],
        };
        next.push(target);
      }
      const description =
        source.description === undefined ? {} : { Description: source.description };
      if (source.kind === "IpRanges") {
        (target.IpRanges ??= []).push({ CidrIp: source.cidr, ...description });
      } else {
        (target.Ipv6Ranges ??= []).push({ CidrIpv6: source.cidr, ...description });
      }
    }
    return next;
  }

  /**
   * The ingress rules once each source of `permission` is removed. A source that matches no
   * rule fails the call (InvalidPermission.NotFound), or with `reportUnknown` is returned in
   * `unknown` (EC2's UnknownIpPermissions). Changes nothing.
   */
  planRevoke(
    account: string,
    region: string,
    groupId: string,
    permission: IpPermission,
    reportUnknown = false,
  ): { next: IpPermission[]; unknown: IpPermission[] } {
    let next = structuredClone(this.#group(account, region, groupId).IpPermissions ?? []);
    const unknown: IpPermission[] = [];
    for (const source of sourcesOf(permission)) {
      const index = next.findIndex(
        (existing) => samePorts(existing, permission) && hasSource(existing, source),
      );
      if (index < 0) {
        if (!reportUnknown) {
          throw new Ec2Fault(
            "InvalidPermission.NotFound",
            "The specified rule does not exist in this security group.",
          );
        }
        unknown.push(permission);
        continue;
      }
      next = next.flatMap((existing, at) => {
        if (at !== index) return [existing];
        const rest = withoutSource(existing, source);
        return isEmpty(rest) ? [] : [rest];
      });
    }
    return { next, unknown };
  }

  /** Replaces the ingress rules of one group (with what a plan returned). */
  setIngress(account: string, region: string, groupId: string, rules: IpPermission[]): void {
    this.#group(account, region, groupId).IpPermissions = structuredClone(rules);
  }

  #group(account: string, region: string, groupId: string): Ec2SecurityGroup {
    const group = (this.#accounts.get(account)?.get(region) ?? []).find(
      (candidate) => candidate.GroupId === groupId,
    );
    if (group === undefined) {
      throw new Ec2Fault("InvalidGroup.NotFound", `The security group '${groupId}' does not exist`);
    }
    return group;
  }
}
