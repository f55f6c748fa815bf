// The chaos run's calls and what each must get. A call is a person, a tool, arguments and a
// credential shape; its expectation is one of
//   allow     executed (200) when everything works;
//   approval  waits for people (202), never executed;
//   deny      never 2xx, whatever else goes wrong.
// Credentials are minted here with the run's own keys (the gateway fetches their public halves
// from the chaos key-set server): valid, expired, issued in the future beyond the clock
// tolerance, signed by a key never published, unsigned (alg none), a stale or future posture, a
// non-compliant device, and a valid pair within the tolerated skew.
import { generateKeyPair, exportJWK, type JWK } from "jose";
import { mintAccessToken, mintPostureToken } from "../../idp/src/mint.ts";
import { DEV_ISSUER, DEV_POSTURE_ISSUER, GATEWAY_AUDIENCE } from "../../common/keys.ts";
import { ENGINEER, INTERN, REMEDIATOR, SG_CHANGE, type Person } from "../support/fixtures.ts";

export type Expectation = "allow" | "approval" | "deny";

export type Credential =
  | "valid"
  | "expired"
  | "future_iat"
  | "rogue_key"
  | "alg_none"
  | "stale_posture"
  | "future_posture"
  | "unmanaged"
  | "skew_within"
  | "rotated_key";

export interface CallSpec {
  name: string;
  who: Person;
  tool: string;
  args: Record<string, unknown>;
  credential: Credential;
  expect: Expectation;
}

const READ = { ticket: "CHG-18422" };

/** The calls every phase mixes, with their expectation when nothing is wrong. */
export const BASE_CALLS: readonly CallSpec[] = [
  {
    name: "read",
    who: ENGINEER,
    tool: "jira_read",
    args: READ,
    credential: "valid",
    expect: "allow",
  },
  {
    name: "comment",
    who: ENGINEER,
    tool: "jira_add_comment",
    args: { ticket: "CHG-18422", body: "AI security review: see findings." },
    credential: "valid",
    expect: "allow",
  },
  {
    name: "intern",
    who: INTERN,
    tool: "jira_read",
    args: READ,
    credential: "valid",
    expect: "deny",
  },
  {
    name: "production",
    who: ENGINEER,
    tool: "aws_dev_read",
    args: { account: "777788889999", region: "ap-southeast-1" },
    credential: "valid",
    expect: "deny",
  },
  {
    name: "sg_change",
    who: REMEDIATOR,
    tool: "aws_modify_security_group",
    args: SG_CHANGE,
    credential: "valid",
    expect: "approval",
  },
  {
    name: "not_permitted",
    who: ENGINEER,
    tool: "aws_modify_security_group",
    args: SG_CHANGE,
    credential: "valid",
    expect: "deny",
  },
  {
    name: "unknown_tool",
    who: ENGINEER,
    tool: "github_merge",
    args: {},
    credential: "valid",
    expect: "deny",
  },
];

/** The same read under every credential fault (clock skew, rotation, forgery). */
export const CREDENTIAL_CALLS: readonly CallSpec[] = (
  [
    ["expired", "deny"],
    ["future_iat", "deny"],
    ["rogue_key", "deny"],
    ["alg_none", "deny"],
    ["stale_posture", "deny"],
    ["future_posture", "deny"],
    ["unmanaged", "deny"],
    ["skew_within", "allow"],
  ] as const
).map(([credential, expect]) => ({
  name: `read_${credential}`,
  who: ENGINEER,
  tool: "jira_read",
  args: READ,
  credential,
  expect,
}));

export interface Keys {
  idp: JWK;
  rotated: JWK;
  rogue: JWK;
  device: JWK;
}

async function key(kid: string): Promise<JWK> {
  const pair = await generateKeyPair("ES256", { extractable: true });
  return { ...(await exportJWK(pair.privateKey)), kid, alg: "ES256" };
}

export async function makeKeys(): Promise<Keys> {
  return {
    idp: await key("idp-1"),
    rotated: await key("idp-2"),
    rogue: await key("idp-1"),
    device: await key("dev-1"),
  };
}

export function publicOf(jwk: JWK): JWK {
  const { d: _d, ...rest } = jwk;
  return rest;
}

function unsigned(token: string): string {
  const [, payload] = token.split(".");
  const header = Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url");
  return `${header}.${payload ?? ""}.`;
}

/** An access token and a posture token for `spec`, as of `nowSec`. */
export async function credentials(
  spec: CallSpec,
  keys: Keys,
  nowSec: number,
): Promise<{ token: string; posture: string }> {
  const c = spec.credential;
  const issuedAt = c === "future_iat" ? nowSec + 600 : c === "skew_within" ? nowSec + 20 : nowSec;
  const signing = c === "rogue_key" ? keys.rogue : c === "rotated_key" ? keys.rotated : keys.idp;
  const token = await mintAccessToken({
    privateJwk: signing,
    issuer: DEV_ISSUER,
    audience: GATEWAY_AUDIENCE,
    user: spec.who.user,
    groups: spec.who.groups,
    agent: spec.who.agent,
    ttlSec: c === "expired" ? 1 : 900,
    now: c === "expired" ? nowSec - 600 : issuedAt,
  });
  const checkedAt =
    c === "stale_posture" ? nowSec - 3_600 : c === "future_posture" ? nowSec + 3_600 : nowSec - 25;
  const posture = await mintPostureToken({
    privateJwk: keys.device,
    issuer: DEV_POSTURE_ISSUER,
    audience: GATEWAY_AUDIENCE,
    user: spec.who.user,
    compliant: c !== "unmanaged",
    checkedAt,
    ttlSec: 900,
    now: nowSec,
  });
  return { token: c === "alg_none" ? unsigned(token) : token, posture };
}
