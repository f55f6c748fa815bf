// Starts the change-review agent runtime: `node examples/change-review/src/main.ts`.
//   AGENT_HOST / AGENT_PORT      default 127.0.0.1:8070 (port 0: any free port, logged)
//   GATEWAY_URL                  default http://127.0.0.1:8080
//   IDP_URL                      default http://127.0.0.1:8090 (JWKS and token endpoint under it;
//                                IDP_JWKS_URL, IDP_TOKEN_URL override each)
//   ZYX_STATE_DIR                default .state; the client secret is read from
//                                AGENT_CLIENT_SECRET_FILE, default <state>/clients/change-reviewer.secret
//   MODEL_URL, MODEL_NAME        optional narrative (OpenAI-compatible chat completions)
// See config.ts for every variable. A bad value stops the process naming the variable.
import { access, readFile } from "node:fs/promises";
import { jsonLog, stopGracefullyOnSignals, SERVER_TIMEOUTS } from "../../../common/service.ts";
import { serve } from "@hono/node-server";
import { createChangeReviewApp } from "./app.ts";
import { createEngineerVerifier } from "./auth.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { createDelegation, secretFromFile } from "./delegation.ts";
import { createGatewayClient } from "./gateway-client.ts";
import { createMcpGatewayClient, gatewayProtocol } from "./mcp-client.ts";
import { createNarrator } from "./narrative.ts";

const log = jsonLog("change-review");

async function start(): Promise<void> {
  const config = loadConfig();
  const protocol = gatewayProtocol(process.env);
  try {
    await access(config.client.secretFile);
  } catch {
    // Not fatal: the identity provider writes it when it registers the client; each exchange
    // reads it again.
    log("warn", "the client secret file is not there yet", { path: config.client.secretFile });
  }
  const narrator =
    config.model === undefined
      ? undefined
      : createNarrator({
          url: config.model.url,
          model: config.model.name,
          ...(config.model.apiKeyFile === undefined
            ? {}
            : { apiKey: (await readFile(config.model.apiKeyFile, "utf8")).trim() }),
        });
  const app = createChangeReviewApp(
    {
      engineers: createEngineerVerifier({
        issuer: config.idp.issuer,
        audience: config.audience,
        keys: {
          kind: "remote",
          url: new URL(config.idp.jwksUrl),
          timeoutMs: config.idp.timeoutMs,
          allowHttp: config.idp.allowHttp,
        },
      }),
      delegation: createDelegation({
        tokenUrl: config.idp.tokenUrl,
        clientId: config.client.id,
        clientSecret: secretFromFile(config.client.secretFile),
        audience: config.gatewayAudience,
        timeoutMs: config.idp.timeoutMs,
        cache: { maxEntries: 10_000 },
      }),
      gateway: (protocol === "mcp" ? createMcpGatewayClient : createGatewayClient)({
        url: config.gateway.url,
        timeoutMs: config.gateway.timeoutMs,
      }),
      ...(narrator === undefined ? {} : { narrator }),
    },
    { defaultOwner: config.defaultOwner, review: config.review },
  );

  const server = serve(
    { fetch: app.fetch, hostname: config.host, port: config.port, serverOptions: SERVER_TIMEOUTS },
    (info) => {
      log("info", "listening", {
        url: `http://${info.family === "IPv6" ? `[${info.address}]` : info.address}:${info.port}`,
        gateway: config.gateway.url,
        gateway_protocol: protocol,
        idp_jwks: config.idp.jwksUrl,
        idp_token: config.idp.tokenUrl,
        client_id: config.client.id,
        narrative: config.model !== undefined,
      });
    },
  );
  server.once("error", (error) => {
    log("error", "cannot listen", { error: String(error) });
    process.exit(1);
  });

  stopGracefullyOnSignals(server, { log, timeoutMs: 10_000 });
}

start().catch((error: unknown) => {
  log(
    "error",
    error instanceof ConfigError ? `bad configuration: ${error.message}` : "cannot start",
    {
      error: error instanceof Error ? error.message : String(error),
    },
  );
  process.exit(1);
});
