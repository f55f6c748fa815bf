// The chaos run's replicas: a private PostgreSQL behind the fault-injecting proxy (pg-proxy.ts),
// three real gateway processes sharing it for approvals, the kill switch, call limits and
// session signals (as `make run-cluster` wires them), each writing its own audit chain, and one
// real agent worker. Started once for the PostgreSQL phase, stopped after it.
//
// Invariants: every replica reaches PostgreSQL only through the proxy; every replica verifies
// tokens with the run's key-set server (so the runner mints every credential); a replica that
// exits without being asked is a crash (counted). The kill switch is re-read every SYNC_MS and
// declared lost after STALE_AFTER_MS without a successful read.
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { freePort } from "../../gateway/test/support/opa-server.ts";
import { startPostgres, type PrivatePostgres } from "../support/postgres.ts";
import { startNode, type Started } from "../support/processes.ts";
import type { Target, Tally } from "./drive.ts";
import { GatewayProcess } from "./gateway-process.ts";
import { AuditLedger } from "./ledger.ts";
import { startPgProxy, type PgProxy } from "../support/pg-proxy.ts";

export const REPLICAS = 3;
export const SYNC_MS = 100;
export const STALE_AFTER_MS = 1_000;

export interface Replica extends Target {
  id: string;
  process: GatewayProcess;
  logPath: string;
}

export interface Cluster {
  replicas: readonly Replica[];
  proxy: PgProxy;
  /** The worker's fixture writes (one line per write a connector made). */
  fixtureWrites: string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  dir: string;
  bundle: string;
  keySetsUrl: string;
  tally: Tally;
}

function replicaEnv(options: ClusterOptions, databaseUrl: string, workerPort: number) {
  return {
    ZYX_STATE_DIR: join(options.dir, "state"),
    AUDIT_DIR: join(options.dir, "audit"),
    WORKER_URL: `http://127.0.0.1:${String(workerPort)}/`,
    WORKER_TIMEOUT_MS: "2000",
    POLICY_BUNDLE: options.bundle,
    IDP_JWKS_URL: `${options.keySetsUrl}/idp`,
    POSTURE_JWKS_URL: `${options.keySetsUrl}/posture`,
    AUDIT_CHECKPOINT_SECONDS: "86400",
    APPROVAL_STORE: "postgres",
    APPROVAL_DATABASE_URL: databaseUrl,
    KILL_SWITCH_STORE: "postgres",
    LIMITS_STORE: "postgres",
    SESSION_STORE: "postgres",
    KILL_SWITCH_SYNC_MS: String(SYNC_MS),
    KILL_SWITCH_STALE_AFTER_MS: String(STALE_AFTER_MS),
  };
}

async function launchReplica(
  index: number,
  env: Record<string, string>,
  options: ClusterOptions,
): Promise<Replica> {
  const id = `gw-${String(index + 1)}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${String(port)}`;
  const process = new GatewayProcess(
    url,
    { ...env, GATEWAY_PORT: String(port), GATEWAY_REPLICA_ID: id },
    (output) => {
      options.tally.crashes++;
      options.tally.samples.push(`CRASH ${id}: ${output.slice(-2_000)}`);
    },
  );
  process.launch();
  const logPath = join(env["AUDIT_DIR"] ?? "", `audit-${id}.jsonl`);
  return { id, url, process, logPath, ledger: new AuditLedger(logPath) };
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  mkdirSync(join(options.dir, "audit"), { recursive: true });
  const postgres: PrivatePostgres = await startPostgres({ database: "chaos" });
  const proxy = await startPgProxy({ host: "127.0.0.1", port: postgres.port });
  const databaseUrl = `postgresql://postgres@127.0.0.1:${String(proxy.port)}/chaos`;
  const workerPort = await freePort();
  const env = replicaEnv(options, databaseUrl, workerPort);
  // The first replica generates the development keys (the worker reads its call-token key set).
  const first = await launchReplica(0, env, options);
  await first.process.ready(30_000, "/healthz");
  const fixtureWrites = join(options.dir, "fixture-writes.jsonl");
  const worker: Started = startNode("agent/src/main.ts", {
    ZYX_STATE_DIR: env.ZYX_STATE_DIR,
    WORKER_PORT: String(workerPort),
    GATEWAY_CALL_JWKS: join(env.ZYX_STATE_DIR, "keys/gateway.jwks.json"),
    ZYX_FIXTURE_WRITES: fixtureWrites,
  });
  const others = await Promise.all(
    Array.from({ length: REPLICAS - 1 }, (_, i) => launchReplica(i + 1, env, options)),
  );
  const replicas = [first, ...others];
  await Promise.all(replicas.map((r) => r.process.ready(30_000)));
  return {
    replicas,
    proxy,
    fixtureWrites,
    stop: async () => {
      await Promise.all(replicas.map((r) => r.process.stop()));
      await worker.stop();
      await proxy.close();
      await postgres.stop();
    },
  };
}
