// The chaos run's load and its judge: calls sent CONCURRENCY at a time with their credentials,
// round robin over the world's gateways (one, or the replicas of the PostgreSQL phase), each
// answer judged against the set of statuses the live fault allows, and counted (see run.ts for
// what each count means); a 2xx is noted in the ledger of the gateway that answered it. A call
// that gets no answer within CALL_TIMEOUT_MS is a hang.
import { ERROR_CODES } from "../../gateway/src/lib/errors.ts";
import { credentials, type CallSpec, type Keys } from "./calls.ts";
import type { GatewayProcess } from "./gateway-process.ts";
import type { AuditLedger } from "./ledger.ts";
import type { KeySetServer, WorkerProxy } from "./servers.ts";

const CONCURRENCY = 16;
export const CALL_TIMEOUT_MS = 10_000;

export interface Tally {
  faults: number;
  calls: number;
  wrongfulAllows: number;
  undurable: number;
  bad5xx: number;
  hangs: number;
  unexpected: number;
  crashes: number;
  kills: number;
  brokenChains: number;
  samples: string[];
}

/** Which statuses a call may get while a fault is live (undefined: any refusal, never 2xx). */
export type Rule = (spec: CallSpec) => readonly number[] | undefined;

export const healthy: Rule = (spec) =>
  spec.expect === "allow" ? [200] : spec.expect === "approval" ? [202] : undefined;

/** A gateway the calls go to, and the ledger of its own audit chain. */
export interface Target {
  url: string;
  ledger: AuditLedger;
}

/** What drive() needs: the run's keys and tally, and the gateways it sends to, in turn. */
export interface Driven {
  keys: Keys;
  tally: Tally;
  targets: readonly Target[];
}

export interface World extends Driven {
  keys: Keys;
  keySets: KeySetServer;
  worker: WorkerProxy;
  gateway: GatewayProcess;
  ledger: AuditLedger;
  tally: Tally;
  liveBundle: string;
  /** Built in this order, so in increasing serial order (the gateway refuses a lower one). */
  bundles: { base: string; strict: string; trap: string; restored: string };
  fsControl: string;
  logPath: string;
}

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

export function note(tally: Tally, sample: string): void {
  if (tally.samples.length < 12) tally.samples.push(sample);
}

export async function judge(
  world: { tally: Tally; ledger?: AuditLedger | undefined },
  spec: CallSpec,
  rule: Rule,
  response: Response,
): Promise<{ status: number; text: string }> {
  const { tally } = world;
  const text = await response.text();
  const status = response.status;
  const label = `${spec.name}: ${String(status)} ${text.slice(0, 240)}`;
  if (status >= 200 && status < 300) {
    if (spec.expect === "deny" || (spec.expect === "approval" && status === 200)) {
      tally.wrongfulAllows++;
      note(tally, `WRONGFUL ALLOW ${label}`);
    }
    const id = (JSON.parse(text) as { decision_id?: string }).decision_id;
    if (id !== undefined) world.ledger?.acknowledge(id);
  }
  if (status >= 500) {
    const problem = response.headers.get("content-type")?.startsWith("application/problem+json");
    const code = problem === true ? (JSON.parse(text) as { code?: string }).code : undefined;
    if (code === undefined || !KNOWN_CODES.has(code)) {
      tally.bad5xx++;
      note(tally, `5xx NOT A PROBLEM ${label}`);
    }
  }
  const allowed = rule(spec);
  const fine = allowed === undefined ? status >= 400 : allowed.includes(status);
  if (!fine) {
    tally.unexpected++;
    note(tally, `UNEXPECTED ${label}`);
  }
  return { status, text };
}

export async function send(
  target: { url: string },
  spec: CallSpec,
  creds: { token: string; posture: string },
) {
  return fetch(`${target.url}/v1/tools/${spec.tool}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${creds.token}`,
      "x-device-posture": creds.posture,
      "content-type": "application/json",
    },
    body: JSON.stringify({ arguments: spec.args, session_id: `chaos-${spec.name}` }),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
}

/** `count` calls over `specs`, CONCURRENCY at a time, each judged by `rule`. */
export async function drive(
  world: Driven,
  specs: readonly CallSpec[],
  count: number,
  rule: Rule,
  options: {
    faults: boolean;
    tolerateDown?: boolean;
    stop?: { now: boolean };
    /** Told every status received, with the call it answered. */
    onAnswer?: (spec: CallSpec, status: number) => void;
  } = { faults: true },
): Promise<void> {
  const nowSec = Math.floor(Date.now() / 1000);
  const pool = await Promise.all(specs.map((spec) => credentials(spec, world.keys, nowSec)));
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count && options.stop?.now !== true; i = next++) {
      const at = i % specs.length;
      const spec = specs[at];
      const target = world.targets[i % world.targets.length];
      if (spec === undefined || target === undefined) continue;
      world.tally.calls++;
      if (options.faults) world.tally.faults++;
      try {
        const judged = { tally: world.tally, ledger: target.ledger };
        const { status } = await judge(
          judged,
          spec,
          rule,
          await send(target, spec, pool[at] as never),
        );
        options.onAnswer?.(spec, status);
      } catch (error) {
        if (error instanceof Error && error.name === "TimeoutError") {
          world.tally.hangs++;
          note(world.tally, `HANG ${spec.name}`);
        } else if (options.tolerateDown !== true) {
          world.tally.unexpected++;
          note(world.tally, `NO ANSWER ${spec.name}: ${String(error)}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}
