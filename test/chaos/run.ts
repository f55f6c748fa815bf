// `make chaos`: fault injection on real processes (a gateway with a fault-injecting file layer,
// the real agent worker behind a fault-injecting proxy, fault-injecting key-set servers), with a
// known right answer for every call.
//
//   CHAOS_FAULTS (10000)  calls made while a fault is live, spread over the fault kinds
//   CHAOS_KILLS  (50)     SIGKILLs of the gateway under load, each followed by a restart
//
// Fault kinds (phases.ts): the worker down, slow, resetting, answering garbage or oversize; the
// key sets unreachable, slow, rotated; forged and skewed credentials; the policy bundle corrupt,
// missing, replaced by a stricter revision, replaced by one whose evaluation fails in the WASM;
// the audit disk full and fdatasync failing; SIGKILL under load; then PostgreSQL down, silently
// partitioned and flapping under three replicas (pg-phases.ts, PG_SHARE of the faults).
//
// Counted: wrongful allows (a 2xx for a call that must be refused, a 200 for one that must wait
// for approval); 2xx without a durable audit record (decision and outcome records in the log);
// 5xx that are not a problem document with a code of the union; hangs (no answer in 10 s);
// unexpected answers (outside the set the live fault allows); crashes (an exit nobody asked
// for); broken chains (verify after each restart and at the end). One line at the end; exit 1 on
// any non-zero count among those.
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../gateway/test/support/opa-server.ts";
import { buildPolicyVariant, outOfTheWay } from "../../scripts/lib/policy-variant.ts";
import { startNode, type Started } from "../support/processes.ts";
import { makeKeys, publicOf } from "./calls.ts";
import { drive, healthy, type Tally, type World } from "./drive.ts";
import { GatewayProcess } from "./gateway-process.ts";
import { AuditLedger } from "./ledger.ts";
import {
  ALL_CALLS,
  auditFaults,
  bundleFaults,
  checkDurable,
  credentialFaults,
  keySetFaults,
  killUnderLoad,
  verifyChain,
  workerFaults,
} from "./phases.ts";
import { LIMIT, LIMITED_READ, LIMITED_WRITE, postgresFaults, type PgFigures } from "./pg-phases.ts";
import { startKeySetServer, startWorkerProxy } from "./servers.ts";

const TOTAL = Number(process.env["CHAOS_FAULTS"] ?? "10000");
const KILLS = Number(process.env["CHAOS_KILLS"] ?? "50");
/** The PostgreSQL phase's part of the faults (three replicas, the database cut and back). */
const PG_SHARE = 0.2;

const TRAP_REGO = `
# Chaos run only: for confluence_read this calls a built-in the WASM SDK does not provide, so the
# evaluation itself fails.
reasons contains _reason("tool_unknown", "chaos") if {
	input.tool == "confluence_read"
	http.send({"method": "get", "url": "http://127.0.0.1:9/"})
}`;

function buildBundles() {
  const base = buildPolicyVariant(outOfTheWay);
  const strict = buildPolicyVariant((config) => {
    outOfTheWay(config);
    const tools = config["tools"] as Record<string, Record<string, unknown>>;
    tools["jira_read"] = { ...tools["jira_read"], allowed_groups: ["grp-nobody"] };
  });
  const trap = buildPolicyVariant(outOfTheWay, { appendRego: TRAP_REGO });
  // The base policy restored at the end of bundleFaults: the same Rego as `base`, rebuilt after
  // `trap` so that its build serial is higher (anti-rollback refuses `base` itself, an older
  // serial: rolling policy back means rebuilding the old Rego).
  const restored = buildPolicyVariant(outOfTheWay);
  // The replicas' policy (built last: its serial is above every bundle before it): one write and one read tool limited, to count calls over a limit.
  const cluster = buildPolicyVariant((config) => {
    outOfTheWay(config);
    const perTool = (config["limits"] as { per_tool: Record<string, number> }).per_tool;
    perTool[LIMITED_WRITE] = LIMIT;
    perTool[LIMITED_READ] = LIMIT;
  });
  return {
    paths: {
      base: base.bundle,
      strict: strict.bundle,
      trap: trap.bundle,
      restored: restored.bundle,
    },
    cluster: cluster.bundle,
    remove: () => {
      for (const variant of [base, strict, trap, restored, cluster]) variant.remove();
    },
  };
}

function newTally(): Tally {
  return {
    faults: 0,
    calls: 0,
    wrongfulAllows: 0,
    undurable: 0,
    bad5xx: 0,
    hangs: 0,
    unexpected: 0,
    crashes: 0,
    kills: 0,
    brokenChains: 0,
    samples: [],
  };
}

async function setUp(
  dir: string,
  bundles: World["bundles"],
): Promise<{ world: World; worker: Started }> {
  const tally = newTally();
  const keys = await makeKeys();
  const keySets = await startKeySetServer(6_000);
  keySets.keys.idp = [publicOf(keys.idp)];
  keySets.keys.posture = [publicOf(keys.device)];
  const workerPort = await freePort();
  const worker = await startWorkerProxy(new URL(`http://127.0.0.1:${String(workerPort)}/`), {
    slowMs: 2_000,
    oversizeBytes: 9 * 1024 * 1024,
  });
  const liveBundle = join(dir, "live-bundle.tar.gz");
  copyFileSync(bundles.base, liveBundle);
  const fsControl = join(dir, "fs-control");
  writeFileSync(fsControl, "ok");
  const logPath = join(dir, "audit.jsonl");
  const port = await freePort();
  const gateway = new GatewayProcess(
    `http://127.0.0.1:${String(port)}`,
    {
      ZYX_STATE_DIR: join(dir, "state"),
      GATEWAY_PORT: String(port),
      WORKER_URL: `${worker.url}/`,
      WORKER_TIMEOUT_MS: "1000",
      POLICY_BUNDLE: liveBundle,
      POLICY_BUNDLE_POLL_MS: "200",
      IDP_JWKS_URL: `${keySets.url}/idp`,
      POSTURE_JWKS_URL: `${keySets.url}/posture`,
      AUDIT_LOG: logPath,
      AUDIT_CHECKPOINT_SECONDS: "86400",
      CHAOS_FS_CONTROL: fsControl,
    },
    (output) => {
      tally.crashes++;
      tally.samples.push(`CRASH: ${output.slice(-400)}`);
    },
  );
  // The worker reads the call-token key set the gateway publishes at its first start.
  gateway.launch();
  await gateway.ready(20_000, "/healthz");
  const agent = startNode("agent/src/main.ts", {
    ZYX_STATE_DIR: join(dir, "state"),
    WORKER_PORT: String(workerPort),
    GATEWAY_CALL_JWKS: join(dir, "state/keys/gateway.jwks.json"),
    ZYX_FIXTURE_WRITES: join(dir, "fixture-writes.jsonl"),
  });
  await gateway.ready(20_000);
  const ledger = new AuditLedger(logPath);
  const world: World = {
    keys,
    targets: [{ url: gateway.url, ledger }],
    keySets,
    worker,
    gateway,
    ledger,
    tally,
    liveBundle,
    bundles,
    fsControl,
    logPath,
  };
  return { world, worker: agent };
}

function median(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(0);
}

function pgSummary(pg: PgFigures): string {
  return (
    `postgresql: ${String(pg.cycles)} outages over 3 replicas, kill switch applied by every ` +
    `replica in ${median(pg.propagationMs)} ms (median; max ${Math.max(0, ...pg.propagationMs).toFixed(0)}), ` +
    `ready again ${median(pg.recoveryMs)} ms after PostgreSQL is back (median; max ` +
    `${Math.max(0, ...pg.recoveryMs).toFixed(0)}), approved changes executed ${String(pg.executions)}`
  );
}

function summary(t: Tally, seconds: number): string {
  return (
    `faults ${String(t.faults)}, wrongful allows ${String(t.wrongfulAllows)}, ` +
    `2xx without durable audit ${String(t.undurable)}, crashes ${String(t.crashes)}, ` +
    `5xx not a problem ${String(t.bad5xx)}, hangs ${String(t.hangs)}, ` +
    `unexpected answers ${String(t.unexpected)}, broken chains ${String(t.brokenChains)}, ` +
    `kills ${String(t.kills)}, calls ${String(t.calls)}, took ${seconds.toFixed(1)} s`
  );
}

async function main(): Promise<number> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "zyx-chaos-"));
  const bundles = buildBundles();
  const { world, worker } = await setUp(dir, bundles.paths);
  try {
    // A healthy warm-up proves the set-up serves what it should before any fault.
    await drive(world, ALL_CALLS, ALL_CALLS.length * 2, healthy, { faults: false });
    const share = (part: number) => Math.ceil(TOTAL * part);
    await workerFaults(world, share(0.35));
    await keySetFaults(world, share(0.1));
    await credentialFaults(world, share(0.1));
    await bundleFaults(world, share(0.15));
    await auditFaults(world, share(0.1));
    await killUnderLoad(world, KILLS);
    const pg = await postgresFaults(world, share(PG_SHARE), {
      bundle: bundles.cluster,
      keySetsUrl: world.keySets.url,
    });
    console.log(pgSummary(pg));
    await world.gateway.stop();
    checkDurable(world);
    verifyChain(world);
  } finally {
    await world.gateway.stop();
    await worker.stop();
    await Promise.all([world.keySets.close(), world.worker.close()]);
    bundles.remove();
  }
  const t = world.tally;
  for (const sample of t.samples) console.error(sample);
  console.log(summary(t, (Date.now() - started) / 1000));
  const bad =
    t.wrongfulAllows + t.undurable + t.crashes + t.bad5xx + t.hangs + t.unexpected + t.brokenChains;
  return bad === 0 && t.faults >= TOTAL && t.kills >= KILLS ? 0 : 1;
}

process.exitCode = await main();
