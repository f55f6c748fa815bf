// Starts the agent worker on WORKER_HOST:WORKER_PORT (configuration: agent/src/config.ts). It
// refuses to start on a bad variable, a missing or malformed gateway key set, one that holds a
// private key, or a connector's half configuration. One JSON log line per event on stderr and a
// graceful stop on SIGTERM/SIGINT, as every process of the project (common/service.ts). The key
// set is read again when it changes (agent/src/gateway-keys.ts): a rotated gateway key needs no
// restart, and a changed file that fails the start's checks is refused, the set in use kept.
import { serve } from "@hono/node-server";
import { loadCatalog } from "../../common/catalog.ts";
import { jsonLog, stopGracefullyOnSignals, SERVER_TIMEOUTS } from "../../common/service.ts";
import { CALL_TOKEN_AUDIENCE, CALL_TOKEN_ISSUER } from "../../common/worker-contract.ts";
import { createAdminTokenVerifier, createRevocableConnectors } from "./admin.ts";
import { createWorkerApp } from "./app.ts";
import { createCallTokenVerifier } from "./call-token.ts";
import { ConfigError, loadWorkerConfig } from "./config.ts";
import { createGatewayKeySet, type GatewayKeySet } from "./gateway-keys.ts";
import { createConnectorsFromEnv } from "./connectors/index.ts";
import { createToolExecutor } from "./tools.ts";
import { tracingFromEnv } from "../../common/tracing.ts";
import { createWorkerMetrics } from "./metrics.ts";

const CLOCK_TOLERANCE_SEC = 2;
/** 30 s tokens: room for over 3,000 calls a second before calls are refused. */
const MAX_REPLAY_ENTRIES = 100_000;

const log = jsonLog("worker");

class StartError extends Error {}

function start(): void {
  // Before anything is served: tokens issued up to now may have run in a previous process.
  const startedAtMs = Date.now();
  const config = loadWorkerConfig();
  const metrics =
    config.metricsToken === undefined
      ? undefined
      : { metrics: createWorkerMetrics(), token: config.metricsToken };
  let keySet: GatewayKeySet;
  let verifier;
  try {
    keySet = createGatewayKeySet({
      path: config.jwksPath,
      initial: config.jwks,
      log,
      onReload: (outcome) => metrics?.metrics.keySetReload(outcome),
    });
    verifier = createCallTokenVerifier({
      keySet,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: CLOCK_TOLERANCE_SEC,
      maxReplayEntries: MAX_REPLAY_ENTRIES,
      startedAtMs,
    });
  } catch (error) {
    throw new StartError(`gateway key set ${config.jwksPath} refused: ${message(error)}`);
  }
  let execute;
  let revocable;
  try {
    revocable = createRevocableConnectors(createConnectorsFromEnv(process.env));
    execute = createToolExecutor(revocable.connectors, loadCatalog());
  } catch (error) {
    throw new StartError(`connectors refused their configuration: ${message(error)}`);
  }
  const admin = {
    verifier: createAdminTokenVerifier({
      keySet,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: CLOCK_TOLERANCE_SEC,
      startedAtMs,
    }),
    connectors: revocable,
  };

  // OpenTelemetry spans, when the OTEL_* variables ask for them (off by default).
  const tracing = tracingFromEnv(process.env, "zyx-worker");
  const app = createWorkerApp({ verifier, execute, log, tracer: tracing?.tracer, metrics, admin });
  const server = serve(
    { fetch: app.fetch, hostname: config.host, port: config.port, serverOptions: SERVER_TIMEOUTS },
    (info) => {
      log("info", "listening", {
        address: info.address,
        port: info.port,
        url: `http://${info.family === "IPv6" ? `[${info.address}]` : info.address}:${info.port}`,
        jwks: config.jwksPath,
        kids: keySet.kids(),
      });
    },
  );
  server.once("error", (error) => {
    log("error", "cannot listen", { error: String(error) });
    process.exit(1);
  });
  stopGracefullyOnSignals(server, {
    log,
    timeoutMs: 5_000,
    ...(tracing === undefined ? {} : { afterDrain: () => tracing.shutdown() }),
  });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

try {
  start();
} catch (error) {
  const why = error instanceof ConfigError ? "bad configuration" : "cannot start";
  log("error", `${why}: ${message(error)}`);
  process.exit(1);
}
