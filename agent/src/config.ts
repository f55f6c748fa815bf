// The worker's configuration, from the environment, through one zod schema and validated at boot:
// a bad value stops the process with a message naming the variable (as the gateway's does).
//   WORKER_HOST        default 127.0.0.1
//   WORKER_PORT        default 8081
//   GATEWAY_CALL_JWKS  the gateway's PUBLIC call-token key set,
//                      default .state/keys/gateway.jwks.json (repository root)
//   WORKER_METRICS_TOKEN / WORKER_METRICS_TOKEN_FILE  the scraper's bearer token for GET /metrics
//                      (16 characters at least; one or the other; unset: no /metrics)
// The key set is read here too: a missing or malformed one, or one that holds a private key,
// refuses the start. It is read again when it changes (agent/src/gateway-keys.ts), through the
// same checks (parseGatewayKeySet, then the key import). Each connector reads its own variables (agent/src/connectors/*/index.ts).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { JSONWebKeySet } from "jose";
import { z } from "zod";

const REPOSITORY_ROOT = join(import.meta.dirname, "..", "..");
const DEFAULT_JWKS = join(REPOSITORY_ROOT, ".state", "keys", "gateway.jwks.json");

const Env = z.object({
  WORKER_HOST: z.string().min(1).default("127.0.0.1"),
  WORKER_PORT: z.coerce.number().int().min(1).max(65_535).default(8081),
  GATEWAY_CALL_JWKS: z
    .string()
    .min(1)
    .transform((path) => resolve(path))
    .default(DEFAULT_JWKS),
  WORKER_METRICS_TOKEN: z.string().min(16).optional(),
  WORKER_METRICS_TOKEN_FILE: z.string().min(1).optional(),
});

const Jwks = z.object({
  keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().min(1) })).min(1),
});

export class ConfigError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "ConfigError";
  }
}

export interface WorkerConfig {
  host: string;
  port: number;
  /** Where the gateway's public key set was read from. */
  jwksPath: string;
  jwks: JSONWebKeySet;
  /** The metrics scraper's bearer token, if GET /metrics is served. */
  metricsToken: string | undefined;
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    );
  }
  const { WORKER_HOST, WORKER_PORT, GATEWAY_CALL_JWKS } = parsed.data;
  return {
    host: WORKER_HOST,
    port: WORKER_PORT,
    jwksPath: GATEWAY_CALL_JWKS,
    jwks: readJwks(GATEWAY_CALL_JWKS),
    metricsToken: metricsToken(parsed.data),
  };
}

function metricsToken(env: {
  WORKER_METRICS_TOKEN?: string | undefined;
  WORKER_METRICS_TOKEN_FILE?: string | undefined;
}): string | undefined {
  const { WORKER_METRICS_TOKEN: token, WORKER_METRICS_TOKEN_FILE: file } = env;
  if (token !== undefined && file !== undefined) {
    throw new ConfigError("WORKER_METRICS_TOKEN and WORKER_METRICS_TOKEN_FILE: set one, not both");
  }
  if (file === undefined) return token;
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new ConfigError(`WORKER_METRICS_TOKEN_FILE: cannot read ${file}`, { cause: error });
  }
  if (text.length < 16) {
    throw new ConfigError(`WORKER_METRICS_TOKEN_FILE: ${file} holds under 16 characters`);
  }
  return text;
}

function readJwks(path: string): JSONWebKeySet {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`GATEWAY_CALL_JWKS: cannot read the gateway key set ${path}`, {
      cause: error,
    });
  }
  return parseGatewayKeySet(text, path);
}

/**
 * The gateway key set in `text` (read from `path`), as the start demands it: JSON, a non-empty
 * "keys" array, a kid on every key; else a ConfigError. The keys themselves are checked when
 * imported (common/compact-jwt.ts importCompactJwtKeys), at the start and at every reload.
 */
export function parseGatewayKeySet(text: string, path: string): JSONWebKeySet {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`GATEWAY_CALL_JWKS: ${path} is not JSON`, { cause: error });
  }
  const parsed = Jwks.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      `GATEWAY_CALL_JWKS: ${path} is not a JSON Web Key Set with kid on every key`,
    );
  }
  return parsed.data;
}
