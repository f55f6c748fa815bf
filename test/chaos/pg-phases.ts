// The PostgreSQL phase of the chaos run: three replicas on shared PostgreSQL (cluster.ts), the
// database cut (test/support/pg-proxy.ts) and brought back, cycle after cycle, while calls go
// round robin over the replicas. The cut is "down" (every connection reset, new ones refused, as
// when the server dies) or, every third cycle from the second, a silent "partition" (nothing
// moves, nothing is refused: only the clients' own timeouts can tell). What each call must get:
//
//   PostgreSQL up (after every replica is ready again):
//     - an approval asked on one replica; on even cycles its decision on a second raced by
//       executions on the other two, then executions on all three at once: the change runs once
//       (one 200 in all, the others 409 or 403); on odd cycles approved and kept for the outage;
//     - a kill switch (user scope) set on one replica and applied by all (propagation measured):
//       that user's calls refused on every replica;
//     - a write over its limit: LIMIT_PROBE_CALLS calls round robin admit exactly the limit;
//     - the ordinary mix (reads, writes, approvals, denials) as when nothing is wrong.
//   PostgreSQL down (every call a fault):
//     - at once, while the pools still hold connections from before the cut: clearing the kill
//       switch 503 (it stays set), asking for approval 503, the kept approval's status, decision
//       and execution 503, never a 2xx and never a hang;
//     - write tools refused 503 (limits_unavailable: the shared limit store is gone), before and
//       after the kill switch is declared lost (all writes refused by the policy as well);
//     - reads served (counted by each replica alone: a fresh user's reads over their limit get at
//       most the limit from each replica); denials still denied;
//     - the killed user still refused on every replica (the last state is kept);
//   PostgreSQL back: every replica ready again without a restart (measured); the kept approval
//   runs once, its replay is 409; the kill switch cleared on a third replica, the user served.
//   On odd cycles, then, PostgreSQL flapping (cut and back every 50 to 249 ms, fixed intervals)
//   while the ordinary mix and two approved executions race over the replicas: no 2xx that must
//   not be, writes 200 or refused, reads served; each approved change made at most once.
//
// At the end: the worker's changes are counted (exactly the 200s seen outside the flapping; at
// most one per approval and never fewer than the 200s within it); each replica's chain verifies;
// every 2xx has its records in the chain of the replica that answered it. CHAOS_KEEP_DIR=1 keeps
// the cluster's folder (logs, audit chains, fixture writes) and prints where it is.
import { join } from "node:path";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { ALL_CALLS, checkDurable, verifyChain } from "./phases.ts";
import type { CallSpec } from "./calls.ts";
import { drive, healthy, note, type Driven, type Rule } from "./drive.ts";
import { startCluster, STALE_AFTER_MS, type Cluster, type Replica } from "./cluster.ts";
import { loadCatalog, type ToolName } from "../../common/catalog.ts";
import { ENGINEER, APPROVER, VALID_ARGUMENTS } from "../support/fixtures.ts";
import {
  appliedVersion,
  askApproval,
  decide,
  exchange,
  execute,
  killSwitchChange,
  readApproval,
  readiness,
  SECOND_APPROVER,
  changeOf,
  FLAP_GROUP,
  uniqueChange,
} from "./pg-calls.ts";

/** The cluster's policy limits these two tools to LIMIT per window per user (run.ts). */
export const LIMITED_WRITE: ToolName = "slack_post_message";
export const LIMITED_READ: ToolName = "github_read_pr";
export const LIMIT = 5;
const LIMIT_PROBE_CALLS = 8;
const TOOLS = loadCatalog().tools as Record<string, { write?: boolean } | undefined>;
/** From the catalog (the one copy): a tool that writes. */
const writes = (tool: string): boolean => TOOLS[tool]?.write === true;

export interface PgFigures {
  cycles: number;
  propagationMs: number[];
  recoveryMs: number[];
  executions: number;
}

interface PgWorld extends Driven {
  cluster: Cluster;
  figures: PgFigures;
  /** Approval ids answered 200 on execution, with how many times. */
  executed: Map<string, number>;
  /** The same, for the approvals executed while PostgreSQL flaps. */
  flapExecuted: Map<string, number>;
}

function at(world: PgWorld, i: number): Replica {
  const { replicas } = world.cluster;
  const replica = replicas[i % replicas.length];
  if (replica === undefined) throw new Error("no replica");
  return replica;
}

/** While PostgreSQL is down: writes 503, reads served, denials denied. */
const downRule: Rule = (spec) => {
  if (spec.expect === "deny") return undefined;
  if (writes(spec.tool)) return [503];
  return spec.expect === "allow" ? [200] : [503];
};

function person(user: string) {
  return { ...ENGINEER, user };
}

function call(name: string, user: string, tool: ToolName, expect: CallSpec["expect"]): CallSpec {
  const args = VALID_ARGUMENTS[tool];
  return { name, who: person(user), tool, args, credential: "valid", expect };
}

async function untilAll(
  world: PgWorld,
  check: (replica: Replica) => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    const done = await Promise.all(world.cluster.replicas.map(check));
    if (done.every(Boolean)) return performance.now() - started;
    if (performance.now() - started > timeoutMs) {
      world.tally.unexpected++;
      note(world.tally, `NOT IN TIME: ${what} after ${String(timeoutMs)} ms`);
      return performance.now() - started;
    }
    await new Promise((done) => setTimeout(done, 10));
  }
}

/** Calls of one spec, round robin, statuses counted. */
async function counted(
  world: PgWorld,
  spec: CallSpec,
  calls: number,
  rule: Rule,
  faults: boolean,
): Promise<number[]> {
  const statuses: number[] = [];
  await drive(world, [spec], calls, rule, {
    faults,
    onAnswer: (_spec, status) => statuses.push(status),
  });
  return statuses;
}

function admittedAtMost(world: PgWorld, what: string, statuses: number[], most: number): void {
  const admitted = statuses.filter((s) => s === 200).length;
  if (admitted > most) {
    world.tally.wrongfulAllows += admitted - most;
    note(
      world.tally,
      `WRONGFUL ALLOW ${what}: ${String(admitted)} admitted, limit ${String(most)}`,
    );
  }
}

function executedOnce(
  world: PgWorld,
  id: string,
  status: number | undefined,
  executed = world.executed,
): void {
  if (status !== 200) return;
  const times = (executed.get(id) ?? 0) + 1;
  executed.set(id, times);
  if (times > 1) {
    world.tally.wrongfulAllows++;
    note(world.tally, `WRONGFUL ALLOW approval ${id} executed ${String(times)} times`);
  }
}

/** Asks on one replica, approves on the next (a second approver when one is not enough). */
async function approvedRequest(
  world: PgWorld,
  k: number,
  change = changeOf(k),
): Promise<string | undefined> {
  const asked = await exchange(world, at(world, k), askApproval(k, [202], false, change));
  const id = asked?.body["approval_id"];
  if (typeof id !== "string") return undefined;
  let decided = await exchange(world, at(world, k + 1), decide(id, APPROVER, [200], false));
  if (decided?.body["status"] === "pending") {
    decided = await exchange(world, at(world, k + 2), decide(id, SECOND_APPROVER, [200], false));
  }
  return decided?.body["status"] === "approved" ? id : undefined;
}

/**
 * Even cycles: the decision and two executions race over three replicas (an execution that comes
 * first is refused: 409, or 403 from the policy), then every replica executes at once; the
 * change runs exactly once in all: one 200 in total, the others refused.
 */
async function raceDecisionAndExecution(world: PgWorld, k: number): Promise<void> {
  const asked = await exchange(world, at(world, k), askApproval(k, [202], false));
  const id = asked?.body["approval_id"];
  if (typeof id !== "string") return;
  const early = execute(k, id, [200, 403, 409], false);
  const [decided, ...runs] = await Promise.all([
    exchange(world, at(world, k + 1), decide(id, APPROVER, [200], false)),
    exchange(world, at(world, k + 2), early),
    exchange(world, at(world, k), early),
  ]);
  if (decided?.body["status"] !== "approved") return;
  const rest = await Promise.all(
    world.cluster.replicas.map((replica) =>
      exchange(world, replica, execute(k, id, [200, 409], false)),
    ),
  );
  for (const answer of [...runs, ...rest]) executedOnce(world, id, answer?.status);
  if (world.executed.get(id) !== 1) {
    world.tally.unexpected++;
    note(
      world.tally,
      `UNEXPECTED approval ${id}: executed ${String(world.executed.get(id) ?? 0)} times`,
    );
  }
}

async function setKillSwitch(world: PgWorld, k: number, user: string): Promise<void> {
  const set = await exchange(world, at(world, k), killSwitchChange("set", user, [200], false));
  const version = set?.body["version"];
  if (typeof version !== "number") return;
  const ms = await untilAll(
    world,
    async (replica) => ((await appliedVersion(world, replica)) ?? -1) >= version,
    5_000,
    `kill switch version ${String(version)} applied by every replica`,
  );
  world.figures.propagationMs.push(ms);
}

/** One cycle with PostgreSQL up; returns the approval kept for the outage (odd cycles). */
async function upPhase(world: PgWorld, k: number, calls: number, killed: string) {
  const id = k % 2 === 0 ? undefined : await approvedRequest(world, k);
  if (k % 2 === 0) await raceDecisionAndExecution(world, k);
  await setKillSwitch(world, k, killed);
  const refused = call(`killed_${String(k)}`, killed, "jira_read", "deny");
  await drive(world, [refused], world.cluster.replicas.length, healthy, { faults: false });
  const probe = call(
    `probe_${String(k)}`,
    `probe-${String(k)}@zyxbank.example`,
    LIMITED_WRITE,
    "allow",
  );
  const statuses = await counted(world, probe, LIMIT_PROBE_CALLS, () => [200, 429], false);
  admittedAtMost(world, `${LIMITED_WRITE} (PostgreSQL up)`, statuses, LIMIT);
  if (statuses.filter((s) => s === 200).length !== LIMIT) {
    world.tally.unexpected++;
    note(world.tally, `UNEXPECTED limit probe ${String(k)}: ${statuses.join(" ")}`);
  }
  await drive(world, ALL_CALLS, calls, healthy, { faults: false });
  return k % 2 === 1 ? id : undefined;
}

/** Changes to the shared state while PostgreSQL is away: each refused 503, nothing runs. */
async function sharedStateRefused(
  world: PgWorld,
  k: number,
  killed: string,
  kept: string | undefined,
): Promise<void> {
  const replica = at(world, k + 2);
  // In parallel, at once: the pools still hold connections opened before the cut.
  const outcomes = await Promise.all([
    exchange(world, replica, killSwitchChange("clear", killed, [503], true)),
    exchange(world, at(world, k), askApproval(k + 1_000, [503], true)),
    ...(kept === undefined
      ? []
      : [
          exchange(world, at(world, k + 1), readApproval(kept, [503], true)),
          exchange(world, at(world, k + 1), decide(kept, SECOND_APPROVER, [503], true)),
          exchange(world, replica, execute(k, kept, [503], true)),
        ]),
  ]);
  if (kept !== undefined) executedOnce(world, kept, outcomes[4]?.status);
}

/** Every third cycle, from the second, the network is cut silently instead of the server gone. */
function partitioned(k: number): boolean {
  return k % 3 === 1;
}

/** PostgreSQL down: every call a fault. Returns once every replica has declared the store lost. */
async function downPhase(
  world: PgWorld,
  k: number,
  calls: number,
  killed: string,
  kept: string | undefined,
): Promise<void> {
  const refused = call(`killed_${String(k)}`, killed, "jira_read", "deny");
  const reader = call(
    `reader_${String(k)}`,
    `reader-${String(k)}@zyxbank.example`,
    LIMITED_READ,
    "allow",
  );
  const specs = [
    ...ALL_CALLS,
    refused,
    call(
      `limited_write_${String(k)}`,
      `probe-d${String(k)}@zyxbank.example`,
      LIMITED_WRITE,
      "allow",
    ),
  ];
  world.cluster.proxy.mode = partitioned(k) ? "partition" : "down";
  // At once, while the replicas' pools still hold connections opened before the cut.
  await sharedStateRefused(world, k, killed, kept);
  // Before the kill switch is declared lost: the limit store alone refuses writes.
  await drive(world, specs, Math.ceil(calls / 2), downRule);
  await untilAll(
    world,
    async (r) => (await readiness(r)) === 503,
    STALE_AFTER_MS + 5_000,
    "store lost",
  );
  await drive(world, specs, Math.floor(calls / 2), downRule);
  // (Not in a partition, where every read first waits out the shared store's timeout.)
  const reads = await counted(
    world,
    reader,
    partitioned(k) ? 0 : 4 * LIMIT,
    (s) => (s.expect === "allow" ? [200, 429] : undefined),
    true,
  );
  // Each replica counts alone while the store is away: at most the limit from each.
  admittedAtMost(
    world,
    `${LIMITED_READ} (PostgreSQL down)`,
    reads,
    LIMIT * world.cluster.replicas.length,
  );
  // The failed clear changed nothing: the user is still refused everywhere.
  await drive(world, [refused], world.cluster.replicas.length, downRule);
}

/** PostgreSQL back: ready again without a restart; the kept approval runs once; the user cleared. */
async function backPhase(world: PgWorld, k: number, killed: string, kept: string | undefined) {
  world.cluster.proxy.mode = "pass";
  const ms = await untilAll(
    world,
    async (r) => (await readiness(r)) === 200,
    15_000,
    "ready again",
  );
  world.figures.recoveryMs.push(ms);
  if (kept !== undefined) {
    executedOnce(
      world,
      kept,
      (await exchange(world, at(world, k + 2), execute(k, kept, [200], false)))?.status,
    );
    executedOnce(
      world,
      kept,
      (await exchange(world, at(world, k), execute(k, kept, [409], false)))?.status,
    );
  }
  const refused = call(`killed_${String(k)}`, killed, "jira_read", "deny");
  await drive(world, [refused], world.cluster.replicas.length, healthy, { faults: false });
  const cleared = await exchange(
    world,
    at(world, k + 2),
    killSwitchChange("clear", killed, [200], false),
  );
  const version = cleared?.body["version"];
  if (typeof version === "number") {
    await untilAll(
      world,
      async (r) => ((await appliedVersion(world, r)) ?? -1) >= version,
      5_000,
      "clear applied",
    );
  }
  const served = call(`unkilled_${String(k)}`, killed, "jira_read", "allow");
  await drive(world, [served], world.cluster.replicas.length, healthy, { faults: false });
}

/** While PostgreSQL flaps: any call may meet the store gone; never a 2xx that must not be. */
const flapRule: Rule = (spec) => {
  if (spec.expect === "deny") return undefined;
  if (spec.expect === "approval") return [202, 403, 503];
  if (writes(spec.tool)) return [200, 403, 503];
  return [200];
};

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Executes an approved change on every replica at once, a few rounds, while the store flaps. */
async function executeWhileFlapping(
  world: PgWorld,
  k: number,
  id: string,
  change: Record<string, unknown>,
): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const call = { ...execute(k, id, [200, 403, 409, 503], false, change), fault: true };
    const answers = await Promise.all(world.cluster.replicas.map((r) => exchange(world, r, call)));
    for (const answer of answers) executedOnce(world, id, answer?.status, world.flapExecuted);
    await sleep(120);
  }
}

/**
 * PostgreSQL cut and back every 50 to 250 ms while calls and approved executions are in flight
 * (every call a fault): transactions cut in the middle, answers lost after a commit. Then, back
 * for good, each approval answers as it ended: run already (409), or runs now, once.
 */
async function flappingPhase(world: PgWorld, k: number, calls: number): Promise<void> {
  const approved: { who: number; id: string; change: Record<string, unknown> }[] = [];
  for (let j = 0; j < 2; j++) {
    const who = 10_000 + 10 * k + j;
    const change = uniqueChange(20_000 + who);
    const id = await approvedRequest(world, who, change);
    if (id !== undefined) approved.push({ who, id, change });
  }
  const flips = { stop: false, n: 0 };
  const flipper = (async () => {
    while (!flips.stop) {
      world.cluster.proxy.mode = world.cluster.proxy.mode === "pass" ? "down" : "pass";
      // Fixed pseudo-random intervals (the same every run): 50 to 249 ms.
      await sleep(50 + ((k * 7_919 + ++flips.n * 104_729) % 200));
    }
  })();
  await Promise.all([
    drive(world, ALL_CALLS, calls, flapRule),
    ...approved.map(({ who, id, change }) => executeWhileFlapping(world, who, id, change)),
  ]);
  flips.stop = true;
  await flipper;
  world.cluster.proxy.mode = "pass";
  world.figures.recoveryMs.push(
    await untilAll(
      world,
      async (r) => (await readiness(r)) === 200,
      15_000,
      "ready after flapping",
    ),
  );
  for (const { who, id, change } of approved) {
    const last = await exchange(world, at(world, who), execute(who, id, [200, 409], false, change));
    executedOnce(world, id, last?.status, world.flapExecuted);
  }
}

interface FixtureWrite {
  action?: string;
  group_id?: string;
  change?: { port_range?: string };
}

function groupChanges(world: PgWorld): FixtureWrite[] {
  let text = "";
  try {
    text = readFileSync(world.cluster.fixtureWrites, "utf8");
  } catch {
    // no write at all
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as FixtureWrite)
    .filter((write) => write.action === "modify_security_group");
}

/**
 * Executions the worker made. Outside the flapping: exactly the 200s the runner saw. While
 * flapping an answer may be lost after the change ran, so: each approved change (its own port)
 * made at most once, and never fewer changes than 200s seen.
 */
function checkExecutions(world: PgWorld): void {
  const writes = groupChanges(world);
  const flapped = writes.filter((w) => w.group_id === FLAP_GROUP);
  const made = writes.length - flapped.length;
  const seen = [...world.executed.values()].reduce((sum, n) => sum + n, 0);
  world.figures.executions = writes.length;
  const ports = new Map<string, number>();
  for (const w of flapped) {
    const port = w.change?.port_range ?? "";
    ports.set(port, (ports.get(port) ?? 0) + 1);
  }
  const twice = [...ports.values()].filter((n) => n > 1).length;
  const flapSeen = [...world.flapExecuted.values()].reduce((sum, n) => sum + n, 0);
  if (made !== seen || twice > 0 || flapped.length < flapSeen) {
    world.tally.wrongfulAllows += Math.max(0, made - seen) + twice;
    if (made < seen || flapped.length < flapSeen) world.tally.unexpected++;
    note(
      world.tally,
      `EXECUTIONS: ${String(made)} changes made, ${String(seen)} answered 200; while flapping ` +
        `${String(flapped.length)} made (${String(twice)} twice), ${String(flapSeen)} answered 200`,
    );
  }
}

function checkChains(world: PgWorld): void {
  for (const replica of world.cluster.replicas) {
    checkDurable({ tally: world.tally, ledger: replica.ledger });
    verifyChain({ tally: world.tally, logPath: replica.logPath });
  }
}

/**
 * The PostgreSQL phase: `calls` faults or a little more, over cycles of up, down and back.
 * Starts its cluster on `bundle` (limits as LIMITED_WRITE/LIMITED_READ say), stops it after.
 */
export async function postgresFaults(
  driven: Driven,
  calls: number,
  options: { bundle: string; keySetsUrl: string },
): Promise<PgFigures> {
  const dir = mkdtempSync(join(tmpdir(), "zyx-chaos-pg-"));
  const cluster = await startCluster({ dir, ...options, tally: driven.tally });
  const figures: PgFigures = { cycles: 0, propagationMs: [], recoveryMs: [], executions: 0 };
  const world: PgWorld = {
    ...driven,
    targets: cluster.replicas,
    cluster,
    figures,
    executed: new Map(),
    flapExecuted: new Map(),
  };
  try {
    const cycles = Math.min(20, Math.max(2, Math.ceil(calls / 300)));
    // At least `calls` faults: a partition cycle sends fewer, so cycles go on until they are in.
    const target = world.tally.faults + calls;
    const perCycle = Math.max(30, Math.ceil(calls / cycles) - 4 * LIMIT - 12);
    for (let k = 0; k < cycles || (world.tally.faults < target && k < 3 * cycles); k++) {
      const killed = `killed-${String(k)}@zyxbank.example`;
      const kept = await upPhase(world, k, Math.ceil(perCycle / 4), killed);
      // A silent cut makes every query wait for its timeout: fewer calls then.
      await downPhase(world, k, partitioned(k) ? Math.min(perCycle, 48) : perCycle, killed, kept);
      await backPhase(world, k, killed, kept);
      if (k % 2 === 1) await flappingPhase(world, k, Math.ceil(perCycle / 2));
      figures.cycles++;
    }
    checkExecutions(world);
  } finally {
    await cluster.stop();
    checkChains(world);
    if (process.env["CHAOS_KEEP_DIR"] === undefined) rmSync(dir, { recursive: true, force: true });
    else console.error("kept", dir);
  }
  return figures;
}
