// A local fake EC2 endpoint (node:http) that speaks EC2's Query API as EC2 does, for the real
// adapter's tests and for a demo without AWS (ZYX_AWS_ENDPOINT=http://127.0.0.1:<port>). Test
// support: nothing under agent/src imports it, nothing in production starts it.
//
//   POST /  Content-Type: application/x-www-form-urlencoded
//     Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-...  (or MaxResults/NextToken)
//     Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-...
//       &IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22
//       &IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8&IpPermissions.1.IpRanges.1.Description=...
//     Action=RevokeSecurityGroupIngress&... (same parameters)
//   Authorization: AWS4-HMAC-SHA256 Credential=AKIA.../<date>/<region>/ec2/aws4_request,
//     SignedHeaders=..., Signature=...   (verified: the key must be known, the signature right)
//
// Answers are EC2's documented XML (namespace http://ec2.amazonaws.com/doc/2016-11-15/); errors
// are <Response><Errors><Error><Code>..</Code><Message>..</Message></Error></Errors>
// <RequestID>..</RequestID></Response> with EC2's statuses: AuthFailure 401,
// UnauthorizedOperation 403, InvalidGroup.NotFound and the other client errors 400,
// RequestLimitExceeded 503, InternalError 500.
//
// Each access key belongs to one account: the account's groups are the ones served, in the
// region of the request's credential scope. A key may be limited to some actions (the others
// answer UnauthorizedOperation). Tests can queue canned answers (`enqueue`) that are served
// before normal handling, and read the requests received (`requests`).
import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Ec2Fault, Ec2Store, loadEc2Data, type Ec2Data } from "../../src/connectors/aws/store.ts";
import type { Ec2SecurityGroup, IpPermission } from "../../src/connectors/aws/model.ts";

export const EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/";
export const EC2_API_VERSION = "2016-11-15";

export interface FakeEc2Key {
  accessKeyId: string;
  secretAccessKey: string;
  account: string;
  /** Actions this key may call; default all three. */
  allow?: readonly string[];
}

export interface FakeEc2Options {
  keys: readonly FakeEc2Key[];
  /** Default: agent/fixtures/aws/security-groups.json. */
  data?: Ec2Data;
  /**
   * How a Revoke of a rule that does not exist answers: "error" (InvalidPermission.NotFound)
   * or "unknown" (return true and the rule in unknownIpPermissionSet, as EC2 does for some
   * requests). Default "error".
   */
  revokeUnknown?: "error" | "unknown";
  /** Serve at most this many groups per DescribeSecurityGroups page (EC2 may return fewer). */
  pageSize?: number;
}

/** A canned answer, served instead of the next request's normal one. */
export interface CannedAnswer {
  /** Only for a request with this Action (default: the next request, whatever it is). */
  action?: string;
  /** Only once a request with this Action was answered before (a failure after a change). */
  afterAction?: string;
  status?: number;
  /** An EC2 error (Code and Message) as the body. */
  error?: { code: string; message: string };
  /** A raw body instead. */
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering (a slow or silent server). */
  delayMs?: number;
}

export interface FakeEc2Request {
  action: string;
  params: Record<string, string>;
  accessKeyId: string | undefined;
  region: string | undefined;
  time: number;
}

export interface FakeEc2 {
  url: string;
  requests: FakeEc2Request[];
  enqueue(...answers: CannedAnswer[]): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// XML

function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

function element(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? "" : `<${name}>${escapeXml(String(value))}</${name}>`;
}

function items<T>(
  name: string,
  list: readonly T[] | undefined,
  render: (item: T) => string,
): string {
  const inner = (list ?? []).map((item) => `<item>${render(item)}</item>`).join("");
  return inner === "" ? `<${name}/>` : `<${name}>${inner}</${name}>`;
}

function permissionXml(permission: IpPermission): string {
  return [
    element("ipProtocol", permission.IpProtocol),
    element("fromPort", permission.FromPort),
    element("toPort", permission.ToPort),
    items(
      "groups",
      permission.UserIdGroupPairs,
      (pair) =>
        element("userId", pair.UserId) +
        element("groupId", pair.GroupId) +
        element("description", pair.Description),
    ),
    items(
      "ipRanges",
      permission.IpRanges,
      (range) => element("cidrIp", range.CidrIp) + element("description", range.Description),
    ),
    items(
      "ipv6Ranges",
      permission.Ipv6Ranges,
      (range) => element("cidrIpv6", range.CidrIpv6) + element("description", range.Description),
    ),
    items(
      "prefixListIds",
      permission.PrefixListIds,
      (list) =>
        element("prefixListId", list.PrefixListId) + element("description", list.Description),
    ),
  ].join("");
}

function groupXml(group: Ec2SecurityGroup): string {
  return [
    element("ownerId", group.OwnerId),
    element("groupId", group.GroupId),
    element("groupName", group.GroupName),
    element("groupDescription", group.Description),
    element("vpcId", group.VpcId),
    items("ipPermissions", group.IpPermissions, permissionXml),
    items("ipPermissionsEgress", group.IpPermissionsEgress, permissionXml),
  ].join("");
}

function responseXml(action: string, requestId: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_XMLNS}"><requestId>${requestId}</requestId>${body}</${action}Response>`;
}

export function ec2ErrorXml(
  code: string,
  message: string,
  requestId: string = randomUUID(),
): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${element("Code", code)}${element("Message", message)}</Error></Errors>${element("RequestID", requestId)}</Response>`;
}

// ---------------------------------------------------------------------------------------------
// SigV4

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

interface Signed {
  accessKeyId: string;
  region: string;
  key: FakeEc2Key;
}

class AuthError extends Error {}

/** Checks the SigV4 signature of a request (AWS's algorithm, recomputed from the request). */
function verifySignature(
  request: IncomingMessage,
  body: Buffer,
  keys: ReadonlyMap<string, FakeEc2Key>,
): Signed {
  const header = request.headers.authorization;
  const match = typeof header === "string" ? AUTHORIZATION.exec(header) : null;
  if (match === null) throw new AuthError("missing or malformed Authorization header");
  const [
    ,
    accessKeyId = "",
    date = "",
    region = "",
    service = "",
    signedHeaders = "",
    signature = "",
  ] = match;
  const key = keys.get(accessKeyId);
  if (key === undefined) throw new AuthError("unknown access key");
  const amzDate = request.headers["x-amz-date"];
  if (service !== "ec2" || typeof amzDate !== "string" || !amzDate.startsWith(date)) {
    throw new AuthError("credential scope does not match the request");
  }
  const names = signedHeaders.split(";");
  if (!names.includes("host") || !names.includes("x-amz-date")) {
    throw new AuthError("host and x-amz-date must be signed");
  }
  const canonicalHeaders = names
    .map((name) => {
      const value = request.headers[name];
      const text = Array.isArray(value) ? value.join(",") : (value ?? "");
      return `${name}:${text.trim().replace(/\s+/g, " ")}\n`;
    })
    .join("");
  const payloadHash = sha256Hex(body);
  const declared = request.headers["x-amz-content-sha256"];
  if (typeof declared === "string" && declared !== payloadHash) {
    throw new AuthError("payload hash does not match");
  }
  const url = new URL(request.url ?? "/", "http://localhost");
  const query = [...url.searchParams]
    .map(([name, value]) => [encodeRfc3986(name), encodeRfc3986(value)])
    .sort(([a = ""], [b = ""]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name = "", value = ""]) => `${name}=${value}`)
    .join("&");
  const canonicalRequest = [
    request.method ?? "POST",
    url.pathname,
    query,
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${key.secretAccessKey}`, date), region), service),
    "aws4_request",
  );
  const expected = Buffer.from(hmac(signingKey, stringToSign).toString("hex"));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new AuthError("signature does not match");
  }
  return { accessKeyId, region, key };
}

function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Parameters

/** IpPermissions.N.* parameters as EC2's IpPermission list. */
function permissionsFrom(params: Record<string, string>): IpPermission[] {
  const byIndex = new Map<string, IpPermission>();
  const at = (index: string) => {
    let found = byIndex.get(index);
    if (found === undefined) {
      found = {};
      byIndex.set(index, found);
    }
    return found;
  };
  for (const [name, value] of Object.entries(params)) {
    const match = /^IpPermissions\.(\d+)\.(.+)$/.exec(name);
    if (match === null) continue;
    const [, index = "", field = ""] = match;
    const permission = at(index);
    const range = /^(IpRanges|Ipv6Ranges)\.(\d+)\.(CidrIp|CidrIpv6|Description)$/.exec(field);
    if (field === "IpProtocol") permission.IpProtocol = value;
    else if (field === "FromPort") permission.FromPort = Number(value);
    else if (field === "ToPort") permission.ToPort = Number(value);
    else if (range !== null) {
      const [, list = "", position = "", key = ""] = range;
      const slot = Number(position) - 1;
      if (list === "IpRanges") {
        const ranges = (permission.IpRanges ??= []);
        ranges[slot] = { ...ranges[slot], [key]: value };
      } else {
        const ranges = (permission.Ipv6Ranges ??= []);
        ranges[slot] = { ...ranges[slot], [key]: value };
      }
    } else {
      throw new Ec2Fault(
        "InvalidParameterValue",
        `The parameter IpPermissions.${index}.${field} is not recognized`,
      );
    }
  }
  return [...byIndex.values()].map((permission) => ({
    ...permission,
    ...(permission.IpRanges === undefined ? {} : { IpRanges: permission.IpRanges.filter(Boolean) }),
    ...(permission.Ipv6Ranges === undefined
      ? {}
      : { Ipv6Ranges: permission.Ipv6Ranges.filter(Boolean) }),
  }));
}

function listParam(params: Record<string, string>, prefix: string): string[] {
  return Object.entries(params)
    .filter(([name]) => new RegExp(`^${prefix}\\.\\d+$`).test(name))
    .sort(([a], [b]) => Number(a.slice(prefix.length + 1)) - Number(b.slice(prefix.length + 1)))
    .map(([, value]) => value);
}

const GROUP_ID = /^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;

function checkGroupId(id: string): void {
  if (!GROUP_ID.test(id)) {
    throw new Ec2Fault("InvalidGroupId.Malformed", `Invalid id: "${id}" (expecting "sg-...")`);
  }
}

// ---------------------------------------------------------------------------------------------
// The server

const ACTIONS = [
  "DescribeSecurityGroups",
  "AuthorizeSecurityGroupIngress",
  "RevokeSecurityGroupIngress",
] as const;

export async function startFakeEc2(options: FakeEc2Options): Promise<FakeEc2> {
  const store = new Ec2Store(options.data ?? loadEc2Data());
  const keys = new Map(options.keys.map((key) => [key.accessKeyId, key]));
  const queue: CannedAnswer[] = [];
  const requests: FakeEc2Request[] = [];
  const timers = new Set<NodeJS.Timeout>();

  function send(response: ServerResponse, status: number, body: string, headers = {}): void {
    if (response.destroyed) return;
    response.writeHead(status, {
      "content-type": "text/xml;charset=UTF-8",
      "x-amzn-requestid": randomUUID(),
      ...headers,
    });
    response.end(body);
  }

  function fail(response: ServerResponse, status: number, code: string, message: string): void {
    send(response, status, ec2ErrorXml(code, message));
  }

  function handle(action: string, params: Record<string, string>, signed: Signed): string {
    const { account } = signed.key;
    const { region } = signed;
    const requestId = randomUUID();
    switch (action) {
      case "DescribeSecurityGroups": {
        const ids = listParam(params, "GroupId");
        ids.forEach(checkGroupId);
        const max = params["MaxResults"];
        if (ids.length > 0 && max !== undefined) {
          throw new Ec2Fault(
            "InvalidParameterCombination",
            "The parameter groupIds cannot be used with the parameter maxResults",
          );
        }
        let groups = store.describe(account, region, ids.length > 0 ? ids : undefined);
        let nextToken: string | undefined;
        if (max !== undefined) {
          const size = Number(max);
          if (!Number.isInteger(size) || size < 5 || size > 1000) {
            throw new Ec2Fault(
              "InvalidParameterValue",
              `Value ( ${max} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
            );
          }
          const served = Math.min(size, options.pageSize ?? size);
          const start = Number(
            Buffer.from(params["NextToken"] ?? "", "base64url").toString() || "0",
          );
          nextToken =
            start + served < groups.length
              ? Buffer.from(String(start + served)).toString("base64url")
              : undefined;
          groups = groups.slice(start, start + served);
        }
        return responseXml(
          action,
          requestId,
          items("securityGroupInfo", groups, groupXml) + element("nextToken", nextToken),
        );
      }
      case "AuthorizeSecurityGroupIngress":
      case "RevokeSecurityGroupIngress": {
        const groupId = params["GroupId"];
        if (groupId === undefined) {
          throw new Ec2Fault("MissingParameter", "The request must contain the parameter groupId");
        }
        checkGroupId(groupId);
        const permissions = permissionsFrom(params);
        if (permissions.length === 0) {
          throw new Ec2Fault(
            "MissingParameter",
            "The request must contain the parameter ipPermissions",
          );
        }
        // All or nothing, as EC2: undo the permissions applied before one that fails.
        const [group] = store.describe(account, region, [groupId]);
        try {
          return changeIngress(action, requestId, account, region, groupId, permissions);
        } catch (error) {
          store.setIngress(account, region, groupId, group?.IpPermissions ?? []);
          throw error;
        }
      }
      default:
        throw new Ec2Fault(
          "InvalidAction",
          `The action ${action} is not valid for this web service.`,
        );
    }
  }

  function changeIngress(
    action: string,
    requestId: string,
    account: string,
    region: string,
    groupId: string,
    permissions: IpPermission[],
  ): string {
    if (action === "AuthorizeSecurityGroupIngress") {
      for (const permission of permissions) {
        store.setIngress(
          account,
          region,
          groupId,
          store.planAuthorize(account, region, groupId, permission),
        );
      }
      const rules = permissions.flatMap((permission) =>
        (permission.IpRanges ?? []).map(
          (range) =>
            element("groupId", groupId) +
            element("securityGroupRuleId", `sgr-${randomUUID().replaceAll("-", "").slice(0, 17)}`) +
            element("groupOwnerId", account) +
            element("isEgress", false) +
            element("ipProtocol", permission.IpProtocol) +
            element("fromPort", permission.FromPort) +
            element("toPort", permission.ToPort) +
            element("cidrIpv4", range.CidrIp) +
            element("description", range.Description),
        ),
      );
      return responseXml(
        action,
        requestId,
        element("return", true) + items("securityGroupRuleSet", rules, (rule) => rule),
      );
    }
    const unknown: IpPermission[] = [];
    for (const permission of permissions) {
      const plan = store.planRevoke(
        account,
        region,
        groupId,
        permission,
        options.revokeUnknown === "unknown",
      );
      store.setIngress(account, region, groupId, plan.next);
      unknown.push(...plan.unknown);
    }
    return responseXml(
      action,
      requestId,
      element("return", true) +
        (unknown.length === 0 ? "" : items("unknownIpPermissionSet", unknown, permissionXml)),
    );
  }

  function answer(request: IncomingMessage, response: ServerResponse, body: Buffer): void {
    const url = new URL(request.url ?? "/", "http://localhost");
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    const contentType = request.headers["content-type"] ?? "";
    if (request.method === "POST" && contentType.startsWith("application/x-www-form-urlencoded")) {
      Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString("utf8"))));
    }
    const action = params["Action"] ?? "";

    let signed: Signed | undefined;
    try {
      signed = verifySignature(request, body, keys);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
    }
    requests.push({
      action,
      params,
      accessKeyId: signed?.accessKeyId,
      region: signed?.region,
      time: Date.now(),
    });

    const cannedAt = queue.findIndex(
      (candidate) =>
        (candidate.action === undefined || candidate.action === action) &&
        (candidate.afterAction === undefined ||
          requests.slice(0, -1).some((earlier) => earlier.action === candidate.afterAction)),
    );
    const canned = cannedAt < 0 ? undefined : queue.splice(cannedAt, 1)[0];
    if (canned !== undefined) {
      const reply = () => {
        send(
          response,
          canned.status ?? 200,
          canned.body ??
            (canned.error === undefined
              ? ""
              : ec2ErrorXml(canned.error.code, canned.error.message)),
          canned.headers ?? {},
        );
      };
      if (canned.delayMs === undefined) {
        reply();
      } else {
        const timer = setTimeout(() => {
          timers.delete(timer);
          reply();
        }, canned.delayMs);
        timers.add(timer);
      }
      return;
    }

    if (signed === undefined) {
      fail(
        response,
        401,
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
      );
      return;
    }
    if (params["Version"] !== EC2_API_VERSION) {
      fail(
        response,
        400,
        "InvalidParameterValue",
        `Invalid API version: ${params["Version"] ?? "none"}`,
      );
      return;
    }
    if (!(ACTIONS as readonly string[]).includes(action)) {
      fail(
        response,
        400,
        "InvalidAction",
        `The action ${action} is not valid for this web service.`,
      );
      return;
    }
    if (!(signed.key.allow ?? ACTIONS).includes(action)) {
      fail(
        response,
        403,
        "UnauthorizedOperation",
        `You are not authorized to perform this operation. User: arn:aws:iam::${signed.key.account}:user/zyx-agent-worker is not authorized to perform: ec2:${action} because no identity-based policy allows the ec2:${action} action`,
      );
      return;
    }
    try {
      send(response, 200, handle(action, params, signed));
    } catch (error) {
      if (error instanceof Ec2Fault) {
        fail(response, error.status, error.code, error.message);
        return;
      }
      fail(response, 500, "InternalError", "An internal error has occurred");
    }
  }

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      answer(request, response, Buffer.concat(chunks));
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${String(port)}`,
    requests,
    enqueue(...answers) {
      queue.push(...answers);
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      if (!server.listening) return Promise.resolve();
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error === undefined) resolve();
          else reject(error);
        });
      });
    },
  };
}
