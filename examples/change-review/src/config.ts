// The runtime's configuration, from the environment, validated at start: a bad value stops the
// process with a message naming the variable. Defaults are the embedded development set-up
// (`make run`): the identity provider on 127.0.0.1:8090, the gateway on 127.0.0.1:8080, this
// runtime on 127.0.0.1:8070, the client secret the identity provider wrote under the state folder.
import { join } from "node:path";
import { z } from "zod";
import { REVIEW_CHANNEL } from "./rules.ts";

const port = z.coerce.number().int().min(0).max(65_535);
const text = z.string().trim().min(1);
const httpUrl = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: "must be an absolute URL" });
    return z.NEVER;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: "must be an http or https URL" });
    return z.NEVER;
  }
  return url.href.replace(/\/+$/, "");
});
const bool = z.enum(["true", "false"]).transform((value) => value === "true");

const Env = z.object({
  AGENT_HOST: text.default("127.0.0.1"),
  AGENT_PORT: port.default(8070),
  ZYX_STATE_DIR: text.default(".state"),
  GATEWAY_URL: httpUrl.default("http://127.0.0.1:8080"),
  GATEWAY_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
  IDP_URL: httpUrl.default("http://127.0.0.1:8090"),
  /** Default: <IDP_URL>/.well-known/jwks.json */
  IDP_JWKS_URL: httpUrl.optional(),
  /** Default: <IDP_URL>/oauth/token */
  IDP_TOKEN_URL: httpUrl.optional(),
  /** Accept a plain-http JWKS URL on a non-loopback host (a development network). */
  IDP_JWKS_ALLOW_HTTP: bool.default(false),
  IDP_ISSUER: text.default("zyx-dev-idp"),
  IDP_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** The audience of the engineer's own tokens: this service. */
  AGENT_AUDIENCE: text.default("zyx-change-review"),
  /** The audience the delegated token is asked for: the gateway. */
  GATEWAY_AUDIENCE: text.default("zyx-agent-gateway"),
  AGENT_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "must be an agent id")
    .default("change-reviewer"),
  /** Default: <ZYX_STATE_DIR>/clients/<AGENT_CLIENT_ID>.secret */
  AGENT_CLIENT_SECRET_FILE: text.optional(),
  REVIEW_DEFAULT_OWNER: text.default("zyx-bank"),
  REVIEW_AWS_ACCOUNT: z
    .string()
    .regex(/^[0-9]{12}$/, "must be a 12-digit AWS account id")
    .default("111122223333"),
  REVIEW_AWS_REGION: z
    .string()
    .regex(/^[a-z]{2}(-gov)?-[a-z]+-[0-9]$/, "must be an AWS region")
    .default("ap-southeast-1"),
  REVIEW_STANDARDS_SPACE: z
    .string()
    .regex(/^[A-Z][A-Z0-9]{1,9}$/, "must be a space key")
    .default("SEC"),
  REVIEW_SLACK_CHANNEL: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,79}$/, "must be a Slack channel name")
    .default(REVIEW_CHANNEL),
  /** An OpenAI-compatible chat completions URL: enables the optional narrative. */
  MODEL_URL: httpUrl.optional(),
  MODEL_NAME: text.optional(),
  MODEL_API_KEY_FILE: text.optional(),
});

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export type RuntimeConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  // An empty variable is an unset one (docker-compose writes VAR= for "no value").
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = Env.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "),
    );
  }
  const e = parsed.data;
  if (e.MODEL_URL !== undefined && e.MODEL_NAME === undefined) {
    throw new ConfigError("MODEL_NAME: required when MODEL_URL is set");
  }
  return {
    host: e.AGENT_HOST,
    port: e.AGENT_PORT,
    gateway: { url: e.GATEWAY_URL, timeoutMs: e.GATEWAY_TIMEOUT_MS },
    idp: {
      issuer: e.IDP_ISSUER,
      jwksUrl: e.IDP_JWKS_URL ?? `${e.IDP_URL}/.well-known/jwks.json`,
      allowHttp: e.IDP_JWKS_ALLOW_HTTP,
      tokenUrl: e.IDP_TOKEN_URL ?? `${e.IDP_URL}/oauth/token`,
      timeoutMs: e.IDP_TIMEOUT_MS,
    },
    audience: e.AGENT_AUDIENCE,
    gatewayAudience: e.GATEWAY_AUDIENCE,
    client: {
      id: e.AGENT_CLIENT_ID,
      secretFile:
        e.AGENT_CLIENT_SECRET_FILE ??
        join(e.ZYX_STATE_DIR, "clients", `${e.AGENT_CLIENT_ID}.secret`),
    },
    defaultOwner: e.REVIEW_DEFAULT_OWNER,
    review: {
      awsAccount: e.REVIEW_AWS_ACCOUNT,
      awsRegion: e.REVIEW_AWS_REGION,
      standardsSpace: e.REVIEW_STANDARDS_SPACE,
      slackChannel: e.REVIEW_SLACK_CHANNEL,
    },
    model:
      e.MODEL_URL === undefined || e.MODEL_NAME === undefined
        ? undefined
        : { url: e.MODEL_URL, name: e.MODEL_NAME, apiKeyFile: e.MODEL_API_KEY_FILE },
  };
}
