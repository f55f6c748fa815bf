// The chaos run's fault kinds, one function each: set the fault, drive calls through it with the
// rule of what each call may get, clear the fault. Each spends the number of calls it is given.
import { spawnSync } from "node:child_process";
import { copyFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../support/processes.ts";
import { BASE_CALLS, CREDENTIAL_CALLS, publicOf, type CallSpec } from "./calls.ts";
import { drive, healthy, type Rule, type World } from "./drive.ts";
import type { AuditLedger } from "./ledger.ts";
import type { WorkerMode } from "./servers.ts";

const CONFLUENCE: CallSpec = {
  name: "confluence",
  who: BASE_CALLS[0]?.who ?? { user: "", groups: [], agent: "" },
  tool: "confluence_read",
  args: { space: "SEC" },
  credential: "valid",
  expect: "allow",
};
const UNPUBLISHED: CallSpec = {
  ...CONFLUENCE,
  name: "read_unpublished_key",
  tool: "jira_read",
  args: { ticket: "CHG-18422" },
  credential: "rotated_key",
  expect: "deny",
};
export const ALL_CALLS: readonly CallSpec[] = [...BASE_CALLS, CONFLUENCE];

/** The worker misbehaving: an allowed call cannot succeed, it fails with 502 or 504. */
export async function workerFaults(world: World, calls: number): Promise<void> {
  const modes: WorkerMode[] = ["down", "slow", "reset", "garbage", "oversize"];
  const rule: Rule = (spec) => (spec.expect === "allow" ? [502, 504] : healthy(spec));
  for (const mode of modes) {
    world.worker.mode = mode;
    await drive(world, ALL_CALLS, Math.ceil(calls / modes.length), rule);
  }
  world.worker.mode = "pass";
}

/**
 * The key sets unreachable, then slow, then rotated. Tokens of the published key may still be
 * served from the verified caches (200) or refused for want of keys (503); a token signed by a
 * key the gateway never fetched is never accepted while the set cannot be read.
 */
export async function keySetFaults(world: World, calls: number): Promise<void> {
  const specs = [...ALL_CALLS, UNPUBLISHED];
  const cached: Rule = (spec) => (spec.expect === "allow" ? [200, 503] : healthy(spec));
  world.keySets.mode = "down";
  await drive(world, specs, Math.ceil(calls / 3), cached);
  world.keySets.mode = "slow";
  await drive(world, specs, Math.ceil(calls / 3), cached);
  world.keySets.mode = "up";
  // Rotation: the new key published beside the old one; the gateway may take it at once or
  // after its refetch cool-down (401 until then).
  world.keySets.keys.idp = [publicOf(world.keys.idp), publicOf(world.keys.rotated)];
  const rotated: Rule = (spec) => (spec.credential === "rotated_key" ? [200, 401] : healthy(spec));
  await drive(
    world,
    [...ALL_CALLS, { ...UNPUBLISHED, expect: "allow" }],
    Math.ceil(calls / 3),
    rotated,
  );
}

/** Forged and skewed credentials: each refused, the one within the tolerated skew served. */
export async function credentialFaults(world: World, calls: number): Promise<void> {
  await drive(world, CREDENTIAL_CALLS, calls, healthy);
}

async function revision(world: World): Promise<string | undefined> {
  const response = await fetch(`${world.gateway.url}/readyz`);
  return ((await response.json()) as { policy_revision?: string }).policy_revision;
}

function replaceBundle(world: World, source: string | undefined): void {
  const aside = `${world.liveBundle}.next`;
  if (source === undefined) writeFileSync(aside, "this is not a gzip tar");
  else copyFileSync(source, aside);
  renameSync(aside, world.liveBundle);
}

async function untilRefused(world: World, code: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(`${world.gateway.url}/readyz`);
    const body = (await response.json()) as { policy_bundle?: { refused?: { code?: string } } };
    if (body.policy_bundle?.refused?.code === code) return;
    if (Date.now() > deadline)
      throw new Error(`the gateway did not refuse the bundle (${code}) in 10 s`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

async function untilRevisionChanges(world: World, from: string | undefined): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await revision(world)) === from) {
    if (Date.now() > deadline) throw new Error("the gateway did not load the new bundle in 10 s");
    await new Promise((done) => setTimeout(done, 50));
  }
}

/**
 * The bundle corrupt, then missing (the last good revision keeps serving), then replaced by a
 * stricter revision (the engineer's reads refused once it is live), then by one whose evaluation
 * fails for Confluence reads (503 policy_unavailable for those; the rest served), then the older
 * base bundle put back (refused: anti-rollback, the trap revision keeps serving), then the base
 * Rego rebuilt with a newer serial (served: how policy is rolled back).
 */
export async function bundleFaults(world: World, calls: number): Promise<void> {
  const share = Math.ceil(calls / 4);
  const settle = () => new Promise((done) => setTimeout(done, 500));
  replaceBundle(world, undefined);
  await settle();
  await drive(world, ALL_CALLS, share, healthy);
  rmSync(world.liveBundle);
  await settle();
  await drive(world, ALL_CALLS, share, healthy);
  let before = await revision(world);
  replaceBundle(world, world.bundles.strict);
  await untilRevisionChanges(world, before);
  const strictSpecs = ALL_CALLS.map((s) =>
    s.name === "read" ? { ...s, expect: "deny" as const } : s,
  );
  await drive(world, strictSpecs, share, healthy);
  before = await revision(world);
  replaceBundle(world, world.bundles.trap);
  await untilRevisionChanges(world, before);
  const trapped: Rule = (spec) => (spec.tool === "confluence_read" ? [503] : healthy(spec));
  await drive(world, ALL_CALLS, share, trapped);
  before = await revision(world);
  // An older signed bundle put back (a replay): refused, the trap revision keeps serving.
  replaceBundle(world, world.bundles.base);
  await untilRefused(world, "policy_bundle_rollback");
  if ((await revision(world)) !== before)
    throw new Error("an older bundle replaced the serving one");
  // Rolling back for real: the base Rego rebuilt with a newer serial.
  replaceBundle(world, world.bundles.restored);
  await untilRevisionChanges(world, before);
}

/** `npm run audit -- verify` over the log; a failure is counted with its output. */
export function verifyChain(world: Pick<World, "tally" | "logPath">): void {
  const run = spawnSync(
    process.execPath,
    [join(REPO_ROOT, "gateway/src/cli/audit.ts"), "verify", "--allow-unsealed", world.logPath],
    { encoding: "utf8" },
  );
  if (run.status !== 0) {
    world.tally.brokenChains++;
    world.tally.samples.push(`VERIFY FAILED: ${run.stdout}${run.stderr}`.slice(0, 400));
  }
}

const undurableByLedger = new Map<AuditLedger, number>();

/**
 * Every 2xx the client saw has its decision and outcome records in the log (of the gateway that
 * answered it): the tally counts the 2xx missing from every ledger checked so far.
 */
export function checkDurable(world: Pick<World, "tally" | "ledger">): void {
  const missing = world.ledger.undurable();
  undurableByLedger.set(world.ledger, missing.length);
  world.tally.undurable = [...undurableByLedger.values()].reduce((sum, n) => sum + n, 0);
  if (missing.length > 0) world.tally.samples.push(`UNDURABLE: ${missing.slice(0, 3).join(", ")}`);
}

/**
 * The audit disk full, then fdatasync failing: nothing may be served (503 audit_unavailable) and
 * the log stays failed until the gateway is restarted; after the restart the chain verifies.
 */
export async function auditFaults(world: World, calls: number): Promise<void> {
  const failing: Rule = (spec) => (spec.expect === "deny" ? undefined : [503]);
  for (const mode of ["disk-full", "fsync-fails"]) {
    writeFileSync(world.fsControl, mode);
    await drive(world, ALL_CALLS, Math.ceil(calls / 2), failing);
    await world.gateway.kill();
    writeFileSync(world.fsControl, "ok");
    verifyChain(world);
    await world.gateway.start();
  }
}

/** SIGKILL under load, `kills` times: after each restart the chain verifies and no 2xx is lost. */
export async function killUnderLoad(world: World, kills: number): Promise<void> {
  for (let k = 0; k < kills; k++) {
    const stop = { now: false };
    const load = drive(world, ALL_CALLS, Number.MAX_SAFE_INTEGER, healthy, {
      faults: false,
      tolerateDown: true,
      stop,
    });
    await new Promise((done) => setTimeout(done, 150 + Math.floor(Math.random() * 250)));
    await world.gateway.kill();
    world.tally.kills++;
    world.tally.faults++;
    stop.now = true;
    await load;
    checkDurable(world);
    verifyChain(world);
    await world.gateway.start();
  }
}
