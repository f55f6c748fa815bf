// The MCP door's configuration, from the environment (read by main.ts next to config.ts):
//
//   MCP_RESOURCE_URL           the /mcp endpoint's public URI: its RFC 8707 resource identifier
//                              and a second accepted token audience (default
//                              http://GATEWAY_HOST:GATEWAY_PORT/mcp)
//   MCP_AUTHORIZATION_SERVERS  comma-separated issuer URLs named in the RFC 9728 metadata
//                              (default the development identity provider, http://127.0.0.1:8090)
//
// Failure mode: a value that is not an absolute http(s) URL stops the process at start-up
// (ConfigError), never a door that names a wrong resource.
import { httpUrl } from "../config.ts";
import { createAccessTokenVerifier } from "../identity/access-token.ts";
import type { AccessTokenVerifierOptions } from "../identity/types.ts";
import type { McpDoorOptions } from "./auth.ts";

/** The door's options; `accessOptions` are the REST door's, with the resource as audience. */
export function mcpDoorOptions(
  env: NodeJS.ProcessEnv,
  listen: { host: string; port: number },
  accessOptions: AccessTokenVerifierOptions,
): McpDoorOptions {
  const host = listen.host === "0.0.0.0" ? "127.0.0.1" : listen.host;
  const resource = httpUrl(
    "MCP_RESOURCE_URL",
    env["MCP_RESOURCE_URL"] ?? `http://${host}:${String(listen.port)}/mcp`,
  )
    .toString()
    .replace(/\/$/, "");
  const servers = (env["MCP_AUTHORIZATION_SERVERS"] ?? "http://127.0.0.1:8090")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((s) => httpUrl("MCP_AUTHORIZATION_SERVERS", s).toString().replace(/\/$/, ""));
  return {
    resource,
    authorizationServers: servers,
    resourceAccessTokens: createAccessTokenVerifier({ ...accessOptions, audience: resource }),
  };
}
