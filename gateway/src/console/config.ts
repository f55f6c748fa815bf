// The approver console's configuration, from the environment (read by main.ts next to config.ts):
//
//   CONSOLE                    "off" to serve no console, "on" (the default) to serve it; any
//                              other value ("false", "0", "OFF") stops the process
//   CONSOLE_URL                its public URL (default http://GATEWAY_HOST:GATEWAY_PORT/console);
//                              https makes cookies Secure (__Host-); the Slack notices link here
//   CONSOLE_IDP_URL            the identity provider as the gateway reaches it (default
//                              http://127.0.0.1:8090): its /oauth/token
//   CONSOLE_IDP_PUBLIC_URL     the identity provider as the approver's browser reaches it, for
//                              /oauth/authorize (default CONSOLE_IDP_URL; differs behind a
//                              container network, where the gateway says http://idp:8090)
//   CONSOLE_DEVICE_TRUST_URL   the device-trust posture endpoint
//                              (default CONSOLE_IDP_URL + /device-trust/posture, the dev service)
//   CONSOLE_CLIENT_ID          default approvals-console (one of the policy's human consoles)
//   CONSOLE_CLIENT_SECRET_FILE default <state>/clients/<client id>.secret (the dev IdP writes it),
//                              read at each sign-in, so the gateway may start before the IdP
//
// Failure mode: a value that is not an absolute http(s) URL stops the process (ConfigError); a
// missing secret file fails the sign-in (identity_provider_unavailable), never opens anything.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, httpUrl, type GatewayConfig } from "../config.ts";
import { createConsoleIdentity } from "./identity.ts";
import type { ConsoleOptions } from "./routes.ts";

/** The console's public base URL, without a trailing slash (also for the Slack links). */
export function consoleUrl(env: NodeJS.ProcessEnv, listen: { host: string; port: number }): string {
  const host = listen.host === "0.0.0.0" ? "127.0.0.1" : listen.host;
  const raw = env["CONSOLE_URL"] ?? `http://${host}:${String(listen.port)}/console`;
  return httpUrl("CONSOLE_URL", raw).href.replace(/\/+$/, "");
}

export function consoleOptions(
  env: NodeJS.ProcessEnv,
  config: Pick<GatewayConfig, "host" | "port" | "stateDir" | "accessTokens" | "audit">,
): ConsoleOptions | undefined {
  const mode = env["CONSOLE"] ?? "";
  if (mode !== "" && mode !== "on" && mode !== "off") {
    throw new ConfigError(`CONSOLE: must be "on" or "off"`);
  }
  if (mode === "off") return undefined;
  const base = consoleUrl(env, config);
  const idp = httpUrl(
    "CONSOLE_IDP_URL",
    env["CONSOLE_IDP_URL"] ?? "http://127.0.0.1:8090",
  ).href.replace(/\/+$/, "");
  const browserIdp = httpUrl(
    "CONSOLE_IDP_PUBLIC_URL",
    env["CONSOLE_IDP_PUBLIC_URL"] ?? idp,
  ).href.replace(/\/+$/, "");
  const posture = httpUrl(
    "CONSOLE_DEVICE_TRUST_URL",
    env["CONSOLE_DEVICE_TRUST_URL"] ?? `${idp}/device-trust/posture`,
  ).href;
  const clientId = env["CONSOLE_CLIENT_ID"] ?? "approvals-console";
  const secretFile =
    env["CONSOLE_CLIENT_SECRET_FILE"] ?? join(config.stateDir, "clients", `${clientId}.secret`);
  return {
    identity: createConsoleIdentity({
      authorizationEndpoint: `${browserIdp}/oauth/authorize`,
      tokenEndpoint: `${idp}/oauth/token`,
      postureEndpoint: posture,
      issuer: config.accessTokens.issuer,
      keys: config.accessTokens.keys,
      clientId,
      clientSecret: async () => (await readFile(secretFile, "utf8")).trim(),
      redirectUri: `${base}/callback`,
    }),
    secure: base.startsWith("https:"),
    origin: new URL(base).origin,
    auditFiles: [config.audit.path],
  };
}
