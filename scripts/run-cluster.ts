// `make run-cluster`: the replicas shape on this machine, every process on loopback:
//   PostgreSQL, a private cluster started as the tests start it (test/support/postgres.ts),
//     holding approvals, the kill switch, call limits, session taint and recent denials
//   the development identity provider                    127.0.0.1:8090
//   three gateway replicas gw-1, gw-2, gw-3              127.0.0.1:8080, :8180, :8280
//   one agent worker (fixture connectors)                127.0.0.1:8081
// Keys under $ZYX_STATE_DIR (default .state/), each replica's own audit chain in
// .state/audit/audit-gw-N.jsonl. Ctrl-C stops them all (the gateways drain), then PostgreSQL,
// whose throwaway cluster is removed: the shared state lives as long as the run.
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { startPostgres } from "../test/support/postgres.ts";

const ROOT = resolve(import.meta.dirname, "..");
const STATE = resolve(process.env["ZYX_STATE_DIR"] ?? ".state");
const GATEWAYS = [
  { id: "gw-1", port: 8080 },
  { id: "gw-2", port: 8180 },
  { id: "gw-3", port: 8280 },
];
const children: ChildProcess[] = [];

function start(script: string, env: Record<string, string>): void {
  const child = spawn(process.execPath, [resolve(ROOT, script)], {
    cwd: ROOT,
    env: { ...process.env, ZYX_STATE_DIR: STATE, ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  children.push(child);
}

async function waitFor(url: string, name: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not come up at ${url}`);
}

async function main(): Promise<void> {
  const postgres = await startPostgres({ database: "zyx" });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              done();
              return;
            }
            child.once("exit", () => {
              done();
            });
            child.kill("SIGTERM");
          }),
      ),
    );
    await postgres.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());

  const shared = {
    APPROVAL_STORE: "postgres",
    APPROVAL_DATABASE_URL: postgres.connectionString,
    KILL_SWITCH_STORE: "postgres",
    LIMITS_STORE: "postgres",
    SESSION_STORE: "postgres",
    WORKER_URL: "http://127.0.0.1:8081/",
  };
  start("idp/src/main.ts", { IDP_PORT: "8090" });
  await waitFor("http://127.0.0.1:8090/.well-known/jwks.json", "identity provider");
  // The first replica creates the development keys the others then read.
  const [first, ...others] = GATEWAYS;
  for (const group of [[first], others]) {
    for (const gw of group) {
      if (gw === undefined) continue;
      start("gateway/src/main.ts", {
        ...shared,
        GATEWAY_PORT: String(gw.port),
        GATEWAY_REPLICA_ID: gw.id,
      });
    }
    await Promise.all(
      group.map((gw) =>
        gw === undefined
          ? Promise.resolve()
          : waitFor(`http://127.0.0.1:${String(gw.port)}/healthz`, gw.id),
      ),
    );
  }
  start("agent/src/main.ts", {
    WORKER_PORT: "8081",
    GATEWAY_CALL_JWKS: resolve(STATE, "keys/gateway.jwks.json"),
  });
  await waitFor("http://127.0.0.1:8081/healthz", "worker");
  console.log(
    `run-cluster: gateways ${GATEWAYS.map((g) => `http://127.0.0.1:${String(g.port)}`).join(" ")}` +
      `  idp http://127.0.0.1:8090  worker http://127.0.0.1:8081  PostgreSQL ${postgres.connectionString}` +
      `  state ${STATE}; Ctrl-C stops all`,
  );
  for (const child of children) {
    child.once("exit", () => void stop());
  }
}

main().catch((error: unknown) => {
  console.error(`run-cluster: ${error instanceof Error ? error.message : String(error)}`);
  for (const child of children) child.kill("SIGTERM");
  process.exit(1);
});
