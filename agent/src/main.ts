// Starts the agent worker (stub connectors) on WORKER_HOST:WORKER_PORT.
//   WORKER_HOST        default 127.0.0.1
//   WORKER_PORT        default 8081
//   GATEWAY_CALL_JWKS  the gateway's PUBLIC call-token key set,
//                      default .state/keys/gateway.jwks.json (repository root)
// Refuses to start on a missing or malformed key set, or one that holds a private key.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { serve } from "@hono/node-server";
import type { JSONWebKeySet } from "jose";
import { z } from "zod";
import { createWorkerApp } from "./app.ts";
import { loadCatalog } from "../../common/catalog.ts";
import { createCallTokenVerifier } from "./call-token.ts";
import { createConnectorsFromEnv } from "./connectors/index.ts";
import { createToolExecutor } from "./tools.ts";

const ISSUER = "zyx-agent-gateway";
const AUDIENCE = "zyx-agent-worker";
const CLOCK_TOLERANCE_SEC = 2;
/** 30 s tokens: room for over 3,000 calls a second before calls are refused. */
const MAX_REPLAY_ENTRIES = 100_000;

const REPOSITORY_ROOT = join(import.meta.dirname, "..", "..");

const Jwks = z.object({
  keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().min(1) })).min(1),
});

function fail(message: string): never {
  console.error(JSON.stringify({ service: "worker", level: "error", message }));
  process.exit(1);
}

function readJwks(path: string): JSONWebKeySet {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    fail(`cannot read the gateway key set ${path}: ${String(error)}`);
  }
  const parsed = Jwks.safeParse(json);
  if (!parsed.success) fail(`${path} is not a JSON Web Key Set with kid on every key`);
  return parsed.data;
}

function port(text: string | undefined): number {
  const value = Number(text ?? "8081");
  if (!Number.isInteger(value) || value < 1 || value > 65_535) fail("WORKER_PORT must be 1-65535");
  return value;
}

const hostname = process.env["WORKER_HOST"] ?? "127.0.0.1";
const listenPort = port(process.env["WORKER_PORT"]);
const jwksPath =
  process.env["GATEWAY_CALL_JWKS"] === undefined
    ? join(REPOSITORY_ROOT, ".state", "keys", "gateway.jwks.json")
    : resolve(process.env["GATEWAY_CALL_JWKS"]);

let verifier;
try {
  verifier = createCallTokenVerifier({
    jwks: readJwks(jwksPath),
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSec: CLOCK_TOLERANCE_SEC,
    maxReplayEntries: MAX_REPLAY_ENTRIES,
  });
} catch (error) {
  fail(
    `gateway key set ${jwksPath} refused: ${error instanceof Error ? error.message : String(error)}`,
  );
}

let execute;
try {
  execute = createToolExecutor(createConnectorsFromEnv(process.env), loadCatalog());
} catch (error) {
  fail(
    `connectors refused their configuration: ${error instanceof Error ? error.message : String(error)}`,
  );
}
const app = createWorkerApp({ verifier, execute });
const server = serve({ fetch: app.fetch, hostname, port: listenPort }, (info) => {
  console.error(
    JSON.stringify({
      service: "worker",
      level: "info",
      message: `listening on ${info.address}:${info.port}`,
      jwks: jwksPath,
    }),
  );
});

function shutdown(): void {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 5_000).unref();
}
process.once("SIGINT", shutdown);
process.once("SIGTERM", shutdown);
