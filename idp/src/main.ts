// Starts the local development identity provider (make run): its key set, discovery and the RFC
// 8693 token exchange (idp/src/server.ts). Development only.
//   IDP_HOST              default 127.0.0.1
//   IDP_PORT              default 8090 (0: any free port; the log line names it)
//   ZYX_STATE_DIR         default .state: keys/idp.private.jwk.json, idp-clients.json,
//                         clients/<agent>.secret (created when absent)
//   IDP_ISSUER            default zyx-dev-idp
//   IDP_AUDIENCE          the gateway's audience, the only one that may be requested;
//                         default zyx-agent-gateway
//   IDP_SUBJECT_AUDIENCE  the audience of the engineer's own tokens; default zyx-change-review
//   IDP_TOKEN_TTL_SEC     the longest life of an exchanged token; default 300
//   IDP_CONSOLE_REDIRECT_URIS  space-separated redirect URIs of the approver console (client
//                         approvals-console); default http://127.0.0.1:8080/console/callback.
//                         People sign in with users/<email>.password (idp/src/users.ts)
// A bad value stops the process with one JSON error line naming the variable.
import { serve } from "@hono/node-server";
import { jsonLog, stopGracefullyOnSignals, SERVER_TIMEOUTS } from "../../common/service.ts";
import { externalAgentIds, loadCatalog } from "../../common/catalog.ts";
import { ensureDevClients } from "./clients.ts";
import { ensureDevUsers } from "./users.ts";
import {
  CHANGE_REVIEW_AUDIENCE,
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
  ensureDevKeys,
  readPrivateJwk,
  resolveStateDir,
} from "../../common/keys.ts";
import { createDevIdpApp } from "./server.ts";

export const DEFAULT_IDP_PORT = 8090;
const DEFAULT_TTL_SEC = 300;
/** The approver console's client: one of the policy's human consoles. */
const CONSOLE_CLIENT_ID = "approvals-console";

const log = jsonLog("idp");

class StartError extends Error {}

function text(name: string, fallback: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  if (value.trim() !== value) throw new StartError(`${name} must not have surrounding spaces`);
  return value;
}

function integer(name: string, fallback: number, min: number, max: number): number {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new StartError(`${name} must be an integer from ${min} to ${max}`);
  }
  return Number(value);
}

async function start(): Promise<void> {
  const host = text("IDP_HOST", "127.0.0.1");
  const port = integer("IDP_PORT", DEFAULT_IDP_PORT, 0, 65_535);
  const issuer = text("IDP_ISSUER", DEV_ISSUER);
  const gatewayAudience = text("IDP_AUDIENCE", GATEWAY_AUDIENCE);
  const engineerAudience = text("IDP_SUBJECT_AUDIENCE", CHANGE_REVIEW_AUDIENCE);
  const maxTtlSec = integer("IDP_TOKEN_TTL_SEC", DEFAULT_TTL_SEC, 1, 86_400);
  const stateDir = resolveStateDir();

  const agents = externalAgentIds(loadCatalog());
  const keys = await ensureDevKeys(stateDir);
  // The agents' clients (token exchange) and the approver console's (code flow only).
  const { paths, clients, registered } = await ensureDevClients(stateDir, [
    ...agents,
    CONSOLE_CLIENT_ID,
  ]);
  const redirectUris = text("IDP_CONSOLE_REDIRECT_URIS", "http://127.0.0.1:8080/console/callback")
    .split(/\s+/)
    .filter((uri) => uri !== "");
  const app = createDevIdpApp({
    keys: await readPrivateJwk(keys.signers.idp.privateJwk),
    issuer,
    clients,
    agents,
    engineerAudience,
    gatewayAudience,
    maxTtlSec,
    oidc: {
      users: await ensureDevUsers(stateDir),
      consoleClients: [{ client_id: CONSOLE_CLIENT_ID, redirect_uris: redirectUris }],
      deviceTrust: {
        keys: await readPrivateJwk(keys.signers["device-trust"].privateJwk),
        issuer: DEV_POSTURE_ISSUER,
      },
    },
    onEvent: (event) => {
      log("info", event.event, { ...event });
    },
  });

  const server = serve(
    { fetch: app.fetch, hostname: host, port, serverOptions: SERVER_TIMEOUTS },
    (info) => {
      log("info", "listening", {
        address: info.address,
        port: info.port,
        url: `http://${info.family === "IPv6" ? `[${info.address}]` : info.address}:${info.port}`,
        issuer,
        clients: clients.map((client) => client.client_id),
        registered,
        secrets: paths.secretsDir,
      });
    },
  );
  server.once("error", (error) => {
    log("error", "cannot listen", { error: String(error) });
    process.exit(1);
  });

  stopGracefullyOnSignals(server, { log, timeoutMs: 5_000 });
}

start().catch((error: unknown) => {
  log(
    "error",
    error instanceof StartError ? `bad configuration: ${error.message}` : "cannot start",
    { error: error instanceof Error ? error.message : String(error) },
  );
  process.exit(1);
});
