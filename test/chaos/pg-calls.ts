// The PostgreSQL phase's calls that are not plain tool calls, each sent to one replica and judged
// like every chaos call (drive.ts's judge: wrongful allows, 5xx not a problem document, answers
// outside the allowed set, hangs): approval requests, decisions and executions, kill-switch
// changes and reads, readiness. Credentials are minted with the run's keys.
import type { CallSpec, Expectation } from "./calls.ts";
import { credentials } from "./calls.ts";
import { CALL_TIMEOUT_MS, judge, note, type Driven, type Target } from "./drive.ts";
import type { Person } from "../support/fixtures.ts";
import { ADMIN, APPROVER, REMEDIATOR, SG_CHANGE } from "../support/fixtures.ts";

export interface Exchange {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  who: Person;
  body?: unknown;
  /** Statuses that are right for this call now. */
  allowed: readonly number[];
  /** "deny": never a 2xx; "approval": never a 200; "allow": a 2xx is fine. */
  expect: Expectation;
  /** Counted as a fault (sent while PostgreSQL is down). */
  fault: boolean;
  label: string;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function specFor(who: Person, label: string, expect: Expectation): CallSpec {
  return { name: label, who, tool: "", args: {}, credential: "valid", expect };
}

export async function headersFor(world: Driven, who: Person): Promise<Record<string, string>> {
  const creds = await credentials(
    specFor(who, "headers", "allow"),
    world.keys,
    Math.floor(Date.now() / 1000),
  );
  return {
    authorization: `Bearer ${creds.token}`,
    "x-device-posture": creds.posture,
    "content-type": "application/json",
  };
}

function parsed(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Sends one call to `target`, judges its answer; undefined when there was none (a hang). */
export async function exchange(
  world: Driven,
  target: Target,
  call: Exchange,
): Promise<Answer | undefined> {
  const { tally } = world;
  tally.calls++;
  if (call.fault) tally.faults++;
  const init: RequestInit = {
    method: call.method,
    headers: await headersFor(world, call.who),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  };
  if (call.body !== undefined) init.body = JSON.stringify(call.body);
  let response: Response;
  try {
    response = await fetch(`${target.url}${call.path}`, init);
  } catch (error) {
    if (error instanceof Error && error.name === "TimeoutError") tally.hangs++;
    else tally.unexpected++;
    note(tally, `NO ANSWER ${call.label}: ${String(error)}`);
    return undefined;
  }
  const spec = specFor(call.who, call.label, call.expect);
  // A tool call's 2xx must be in this replica's chain; an approval route's answer names the
  // request's decision, recorded wherever the request was made.
  const ledger = call.path.startsWith("/v1/tools/") ? target.ledger : undefined;
  const { status, text } = await judge({ tally, ledger }, spec, () => call.allowed, response);
  return { status, body: parsed(text) };
}

/** The security-group change's requester for cycle `k`: a person of their own. */
export function requesterOf(k: number): Person {
  return { ...REMEDIATOR, user: `cloud-${String(k)}@zyxbank.example` };
}

export const SECOND_APPROVER: Person = { ...APPROVER, user: "approver.two@zyxbank.example" };

/** A rule of its own (a port no other change touches) on the app tier's group: always possible. */
export function uniqueChange(port: number): Record<string, unknown> {
  return {
    ...SG_CHANGE,
    group_id: FLAP_GROUP,
    change: {
      action: "authorize_ingress",
      protocol: "tcp",
      port_range: String(port),
      cidr: "10.20.0.0/16",
    },
  };
}

export const FLAP_GROUP = "sg-0123456789abcdef0";

/**
 * The change of cycle `k`: the fixture group's HTTPS rule from the dev VPC revoked on even cycles,
 * authorized again on odd ones (each cycle executes one change, and a revoke of a rule that is
 * not there fails). Not its SSH rule from anywhere: the policy refuses to open that again.
 */
export function changeOf(k: number): Record<string, unknown> {
  const action = k % 2 === 0 ? "revoke_ingress" : "authorize_ingress";
  return {
    ...SG_CHANGE,
    change: { action, protocol: "tcp", port_range: "443", cidr: "10.20.0.0/16" },
  };
}

export function askApproval(
  k: number,
  allowed: readonly number[],
  fault: boolean,
  change = changeOf(k),
): Exchange {
  return {
    method: "POST",
    path: "/v1/tools/aws_modify_security_group",
    who: requesterOf(k),
    body: { arguments: change, session_id: `pg-sg-${String(k)}` },
    allowed,
    expect: "approval",
    fault,
    label: `sg_request_${String(k)}`,
  };
}

export function decide(
  id: string,
  who: Person,
  allowed: readonly number[],
  fault: boolean,
): Exchange {
  return {
    method: "POST",
    path: `/v1/approvals/${id}/approve`,
    who,
    allowed,
    expect: fault ? "deny" : "allow",
    fault,
    label: `approve_${id}`,
  };
}

export function readApproval(id: string, allowed: readonly number[], fault: boolean): Exchange {
  return {
    method: "GET",
    path: `/v1/approvals/${id}`,
    who: APPROVER,
    allowed,
    expect: fault ? "deny" : "allow",
    fault,
    label: `approval_status_${id}`,
  };
}

export function execute(
  k: number,
  id: string,
  allowed: readonly number[],
  fault: boolean,
  change = changeOf(k),
): Exchange {
  return {
    method: "POST",
    path: "/v1/tools/aws_modify_security_group",
    who: requesterOf(k),
    body: { arguments: change, session_id: `pg-sg-${String(k)}`, approval_id: id },
    allowed,
    // While PostgreSQL is down nothing may run; otherwise the approved call may (once).
    expect: fault ? "deny" : "allow",
    fault,
    label: `sg_execute_${String(k)}`,
  };
}

export function killSwitchChange(
  action: "set" | "clear",
  user: string,
  allowed: readonly number[],
  fault: boolean,
): Exchange {
  return {
    method: action === "set" ? "PUT" : "DELETE",
    path: "/v1/admin/kill-switch/user",
    who: ADMIN,
    body: { value: user, reason: `chaos: PostgreSQL phase, ${action} ${user}` },
    allowed,
    expect: fault ? "deny" : "allow",
    fault,
    label: `kill_switch_${action}_${user}`,
  };
}

/** The kill-switch version a replica has applied (undefined when it could not say). */
export async function appliedVersion(world: Driven, target: Target): Promise<number | undefined> {
  try {
    const response = await fetch(`${target.url}/v1/admin/kill-switch`, {
      headers: await headersFor(world, ADMIN),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const body = (await response.json()) as { applied_version?: number };
    return body.applied_version;
  } catch {
    return undefined;
  }
}

/** /readyz's status at one replica (0 when it did not answer). */
export async function readiness(target: Target): Promise<number> {
  try {
    const response = await fetch(`${target.url}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}
