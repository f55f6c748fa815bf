// Gateway configuration, from the environment, validated at boot: a bad value stops the
// process with a message naming the variable. Defaults are the embedded development set-up
// (local keys and audit under the state folder, the worker on loopback).
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { pgConnection } from "./lib/pg-connection.ts";
import { checkAlgorithms, DEFAULT_ALGORITHMS, LOOPBACK_HOSTS } from "../../common/jwks.ts";
import { CALL_TIMEOUT_MAX_MS } from "../../common/worker-contract.ts";
import { parseCidr } from "../../common/net-address.ts";
import {
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
  devKeyPaths,
  policySigningKeyPaths,
} from "../../common/keys.ts";

/**
 * A whole number written in plain digits, from min to max. Not z.coerce.number: Number(" ") is 0
 * (IDP_MAX_TOKEN_AGE_SEC=0 turns the age check off), and "1e4", "0x2710", "+5" or "900.0" are
 * not how anyone means to write a setting.
 */
const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, "must be a whole number, in digits only")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const port = integer(1, 65_535);

/** The window of recent denials and failed calls the risk counts (DENIAL_WINDOW_SEC's default). */
export const RECENT_WINDOW_SEC = 3600;
const list = z.string().transform((s) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== ""),
);
/**
 * Every URL setting names an HTTP endpoint the gateway calls: another scheme stops the boot, and
 * so does user info: fetch refuses such a URL on every request with an error quoting it, password
 * included (into the log, the decision log's error entries, /readyz). Never prints the URL.
 */
const url = z.string().transform((value, ctx) => {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: "must be an absolute URL" });
    return z.NEVER;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: "must be an http(s) URL" });
    return z.NEVER;
  }
  if (parsed.username !== "" || parsed.password !== "") {
    ctx.addIssue({ code: "custom", message: "must not carry a user name or password" });
    return z.NEVER;
  }
  return parsed;
});
const bool = z.enum(["true", "false"]).transform((v) => v === "true");

/**
 * A comma list of CIDRs (a bare address is its /32 or /128), each checked here so that a typo
 * stops the boot naming the variable instead of silently trusting nothing (or too much).
 */
const cidrList = list.superRefine((cidrs, ctx) => {
  for (const cidr of cidrs) {
    try {
      parseCidr(cidr);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : "invalid" });
    }
  }
});

/**
 * A source of trust: an issuer's key set (as common/jwks.ts demands) or the policy bundle server
 * (whose bearer token, and a replayed older signed bundle, a plain-http path would expose). https,
 * or plain http on a loopback host, without user info. Checked here so that the message names
 * the variable and never prints the URL, which may carry a password or a signed query.
 */
const trustedSourceUrl = url.superRefine((value, ctx) => {
  const loopbackHttp = value.protocol === "http:" && LOOPBACK_HOSTS.has(value.hostname);
  if (value.protocol !== "https:" && !loopbackHttp) {
    ctx.addIssue({ code: "custom", message: "must use https (or http on a loopback host)" });
  } else if (value.username !== "" || value.password !== "") {
    ctx.addIssue({ code: "custom", message: "must not carry a user name or password" });
  }
});

const Env = z.object({
  GATEWAY_HOST: z.string().min(1).default("127.0.0.1"),
  /**
   * The proxies (load balancers) whose X-Forwarded-For names the client in the audit records'
   * `source`, as CIDRs; default none: the socket's peer is the source, the header is ignored.
   */
  TRUSTED_PROXIES: cidrList.default([]),
  GATEWAY_PORT: port.default(8080),
  ZYX_STATE_DIR: z.string().min(1).default(".state"),
  POLICY_BUNDLE: z.string().min(1).default("policy-bundle/bundle.tar.gz"),
  /** PEM public key the bundle's .signatures.json must verify with (default: make policy's). */
  POLICY_BUNDLE_PUBLIC_KEY: z.string().min(1).default(policySigningKeyPaths().publicPem),
  /** How often the bundle file is checked for a change, besides watching it. */
  POLICY_BUNDLE_POLL_MS: integer(200, 60_000).default(2_000),
  /** The bundle from an HTTP bundle server (ETag / If-None-Match), instead of POLICY_BUNDLE. */
  POLICY_BUNDLE_URL: trustedSourceUrl.optional(),
  /** Where a downloaded bundle is kept (verified again at each load). */
  POLICY_BUNDLE_CACHE: z.string().min(1).optional(),
  /** A file holding the bearer token the bundle server wants (read on every request). */
  POLICY_BUNDLE_TOKEN_FILE: z.string().min(1).optional(),
  /** How often the bundle server is asked. */
  POLICY_BUNDLE_URL_POLL_MS: integer(200, 3_600_000).default(10_000),
  /** Decide through an OPA server (sidecar) instead of the in-process WASM. */
  POLICY_OPA_URL: url.optional(),
  BODY_LIMIT_BYTES: integer(1_024, 10_485_760).default(65_536),
  IDP_ISSUER: z.string().min(1).default(DEV_ISSUER),
  IDP_AUDIENCE: z.string().min(1).default(GATEWAY_AUDIENCE),
  IDP_JWKS_URL: trustedSourceUrl.optional(),
  IDP_JWKS_FILE: z.string().min(1).optional(),
  IDP_ALGORITHMS: list.default([...DEFAULT_ALGORITHMS]),
  IDP_GROUPS_CLAIM: z.string().min(1).default("groups"),
  IDP_CLOCK_TOLERANCE_SEC: integer(0, 120).default(30),
  /** Oldest accepted access or posture token by its iat (0: no age check). */
  IDP_MAX_TOKEN_AGE_SEC: integer(0, 2_592_000).default(86_400),
  IDP_TOKEN_CACHE_MAX: integer(0, 1_000_000).default(10_000),
  POSTURE_ISSUER: z.string().min(1).default(DEV_POSTURE_ISSUER),
  POSTURE_AUDIENCE: z.string().min(1).default(GATEWAY_AUDIENCE),
  POSTURE_JWKS_URL: trustedSourceUrl.optional(),
  POSTURE_JWKS_FILE: z.string().min(1).optional(),
  AUDIT_LOG: z.string().min(1).optional(),
  /** The folder of the audit log when AUDIT_LOG is not set (default <state>/audit). */
  AUDIT_DIR: z.string().min(1).optional(),
  /**
   * This replica's id, stamped on every audit record; its own chain, AUDIT_DIR/audit-<id>.jsonl
   * unless AUDIT_LOG is set. "auto": the host name (a container's is unique per replica).
   */
  GATEWAY_REPLICA_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "letters, digits, dot, dash, underscore (1 to 63)")
    .transform((id) => (id === "auto" ? hostname() : id))
    .optional(),
  AUDIT_FSYNC: bool.default(true),
  /** The audit checkpoint key (Ed25519 private JWK); default <state>/keys/, generated with DEV_KEYS. */
  GATEWAY_CHECKPOINT_KEY_FILE: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_RECORDS: integer(1, 1_000_000).default(1_000),
  AUDIT_CHECKPOINT_SECONDS: integer(1, 86_400).default(60),
  WORKER_URL: url.default(new URL("http://127.0.0.1:8081/")),
  WORKER_TIMEOUT_MS: integer(100, CALL_TIMEOUT_MAX_MS).default(10_000),
  /** Largest answer read from the worker; a larger one is refused (worker_failed). */
  WORKER_MAX_RESPONSE_BYTES: integer(1_024, 268_435_456).default(8_388_608),
  GATEWAY_CALL_KEY_FILE: z.string().min(1).optional(),
  /** Where to publish the call-token PUBLIC key set for the worker (a volume only it reads). */
  GATEWAY_CALL_JWKS_PUBLISH: z.string().min(1).optional(),
  /** Where approval requests live: "sqlite" (embedded default) or "postgres". */
  APPROVAL_STORE: z.enum(["sqlite", "postgres"]).default("sqlite"),
  APPROVAL_SQLITE_PATH: z.string().min(1).optional(),
  APPROVAL_DATABASE_URL: z.string().min(1).optional(),
  /** Where the kill switch lives: "file" (embedded default) or "postgres" (shared by replicas). */
  KILL_SWITCH_STORE: z.enum(["file", "postgres"]).default("file"),
  /** Default: APPROVAL_DATABASE_URL. */
  KILL_SWITCH_DATABASE_URL: z.string().min(1).optional(),
  /** Periodic re-read of the shared kill switch (besides LISTEN/NOTIFY). */
  KILL_SWITCH_SYNC_MS: integer(50, 60_000).default(500),
  /** A replica that could not re-read the shared kill switch for this long refuses write tools. */
  KILL_SWITCH_STALE_AFTER_MS: integer(100, 3_600_000).default(3_000),
  /** Where call limits are counted: "memory" (embedded default) or "postgres" (exact across replicas). */
  LIMITS_STORE: z.enum(["memory", "postgres"]).default("memory"),
  /** Default: APPROVAL_DATABASE_URL. */
  LIMITS_DATABASE_URL: z.string().min(1).optional(),
  /** Where session taint and recent denials live: "memory" (embedded) or "postgres" (replicas). */
  SESSION_STORE: z.enum(["memory", "postgres"]).default("memory"),
  /** Default: APPROVAL_DATABASE_URL. */
  SESSION_DATABASE_URL: z.string().min(1).optional(),
  /** A file holding the password of every *_DATABASE_URL above (a mounted secret); the URLs
   *  then carry none. Read at each new connection, so a rotated secret needs no restart. */
  DATABASE_PASSWORD_FILE: z.string().min(1).optional(),
  /** How far back recent denials and failed calls count for the risk (the article: an hour). */
  DENIAL_WINDOW_SEC: integer(1, 86_400).default(RECENT_WINDOW_SEC),
  /** Bearer token of the platform's metrics scraper (GET /metrics); unset: no /metrics. */
  METRICS_TOKEN: z.string().min(16).optional(),
  /** The same, read from a file (a mounted secret); set one, not both. */
  METRICS_TOKEN_FILE: z.string().min(1).optional(),
  /** OPA-format decision logs are POSTed (gzip'd batches) here; unset: no decision log. */
  DECISION_LOG_URL: url.optional(),
  /** A file holding the sink's bearer token (a mounted secret), if it wants one. */
  DECISION_LOG_TOKEN_FILE: z.string().min(1).optional(),
  /** Most entries waiting while the sink is slow or down; the oldest are dropped past it. */
  DECISION_LOG_MAX_BUFFERED: integer(1, 1_000_000).default(10_000),
  DECISION_LOG_MAX_BATCH: integer(1, 10_000).default(500),
  DECISION_LOG_FLUSH_MS: integer(50, 60_000).default(1_000),
  /** A candidate bundle evaluated beside the live one, never deciding (shadow mode). */
  POLICY_SHADOW_BUNDLE: z.string().min(1).optional(),
  /** Generate development keys under the state folder when absent (the embedded default). */
  DEV_KEYS: bool.default(true),
  /** Kill-switch reach: revoke a stopped connector's credentials in the worker (default true). */
  KILL_SWITCH_REVOKE: bool.default(true),
  /** Kill-switch reach: page security here (PagerDuty Events v2 payload); unset: no page. */
  KILL_SWITCH_PAGE_URL: url.optional(),
  /** The PagerDuty integration (routing) key the page carries. */
  KILL_SWITCH_PAGE_ROUTING_KEY: z.string().max(200).regex(/\S/, "must not be blank").optional(),
});

export type GatewayConfig = ReturnType<typeof loadConfig>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** An absolute http(s) URL without a fragment, or a ConfigError naming the variable. */
export function httpUrl(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name}: must be an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${name}: must be an http(s) URL`);
  }
  if (url.hash !== "") throw new ConfigError(`${name}: must not carry a fragment`);
  return url;
}

const DATABASE_URLS = [
  "APPROVAL_DATABASE_URL",
  "KILL_SWITCH_DATABASE_URL",
  "LIMITS_DATABASE_URL",
  "SESSION_DATABASE_URL",
] as const;

/** With DATABASE_PASSWORD_FILE, no database URL may carry a password. Never prints a URL. */
function checkDatabaseUrls(e: z.infer<typeof Env>): void {
  if (e.DATABASE_PASSWORD_FILE === undefined) return;
  for (const name of DATABASE_URLS) {
    const value = e[name];
    if (value === undefined) continue;
    try {
      pgConnection({ connectionString: value, passwordFile: e.DATABASE_PASSWORD_FILE });
    } catch (cause) {
      const both = cause instanceof TypeError && cause.message.endsWith("set one, not both");
      throw new ConfigError(
        both
          ? `${name} carries a password and DATABASE_PASSWORD_FILE is set: set one, not both`
          : `${name}: not a PostgreSQL connection URL`,
      );
    }
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  // An empty variable is an unset one (compose's `${X:-}` passes "" for "not configured").
  const parsed = Env.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, value]) => value !== "")),
  );
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    );
  }
  const e = parsed.data;
  if (e.IDP_JWKS_URL !== undefined && e.IDP_JWKS_FILE !== undefined) {
    throw new ConfigError("IDP_JWKS_URL and IDP_JWKS_FILE: set one, not both");
  }
  if (e.POSTURE_JWKS_URL !== undefined && e.POSTURE_JWKS_FILE !== undefined) {
    throw new ConfigError("POSTURE_JWKS_URL and POSTURE_JWKS_FILE: set one, not both");
  }
  if (e.METRICS_TOKEN !== undefined && e.METRICS_TOKEN_FILE !== undefined) {
    throw new ConfigError("METRICS_TOKEN and METRICS_TOKEN_FILE: set one, not both");
  }
  if (e.IDP_ALGORITHMS.length === 0)
    throw new ConfigError("IDP_ALGORITHMS: at least one algorithm");
  try {
    // "none", HS* or an unknown algorithm: the verifiers would refuse it, under no name.
    checkAlgorithms(e.IDP_ALGORITHMS);
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/^"algorithms" /, "") : "";
    throw new ConfigError(`IDP_ALGORITHMS: ${why}`);
  }
  if (e.APPROVAL_STORE === "postgres" && e.APPROVAL_DATABASE_URL === undefined) {
    throw new ConfigError("APPROVAL_STORE=postgres needs APPROVAL_DATABASE_URL");
  }
  checkDatabaseUrls(e);
  const keys = devKeyPaths(e.ZYX_STATE_DIR).signers;
  const source = (urlValue: URL | undefined, file: string | undefined, fallback: string) =>
    urlValue === undefined
      ? ({ kind: "file", path: file ?? fallback } as const)
      : ({ kind: "remote", url: urlValue } as const);
  return {
    host: e.GATEWAY_HOST,
    port: e.GATEWAY_PORT,
    stateDir: e.ZYX_STATE_DIR,
    devKeys: e.DEV_KEYS,
    ...policySettings(e),
    metricsToken:
      e.METRICS_TOKEN_FILE === undefined
        ? e.METRICS_TOKEN
        : ({ kind: "file", path: e.METRICS_TOKEN_FILE } as const),
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    trustedProxies: e.TRUSTED_PROXIES,
    accessTokens: {
      issuer: e.IDP_ISSUER,
      audience: e.IDP_AUDIENCE,
      keys: source(e.IDP_JWKS_URL, e.IDP_JWKS_FILE, keys.idp.jwks),
      algorithms: e.IDP_ALGORITHMS,
      groupsClaim: e.IDP_GROUPS_CLAIM,
      clockToleranceSec: e.IDP_CLOCK_TOLERANCE_SEC,
      maxTokenAgeSec: e.IDP_MAX_TOKEN_AGE_SEC,
      cacheMaxEntries: e.IDP_TOKEN_CACHE_MAX,
    },
    posture: {
      issuer: e.POSTURE_ISSUER,
      audience: e.POSTURE_AUDIENCE,
      keys: source(e.POSTURE_JWKS_URL, e.POSTURE_JWKS_FILE, keys["device-trust"].jwks),
      algorithms: e.IDP_ALGORITHMS,
      clockToleranceSec: e.IDP_CLOCK_TOLERANCE_SEC,
      maxTokenAgeSec: e.IDP_MAX_TOKEN_AGE_SEC,
    },
    audit: {
      path:
        e.AUDIT_LOG ??
        join(
          e.AUDIT_DIR ?? join(e.ZYX_STATE_DIR, "audit"),
          e.GATEWAY_REPLICA_ID === undefined
            ? "audit.jsonl"
            : `audit-${e.GATEWAY_REPLICA_ID}.jsonl`,
        ),
      replica: e.GATEWAY_REPLICA_ID,
      fsync: e.AUDIT_FSYNC,
      checkpoint: {
        keyFile: e.GATEWAY_CHECKPOINT_KEY_FILE,
        everyRecords: e.AUDIT_CHECKPOINT_RECORDS,
        everySeconds: e.AUDIT_CHECKPOINT_SECONDS,
      },
    },
    worker: {
      url: e.WORKER_URL,
      timeoutMs: e.WORKER_TIMEOUT_MS,
      maxResponseBytes: e.WORKER_MAX_RESPONSE_BYTES,
      callKeyFile: e.GATEWAY_CALL_KEY_FILE ?? keys.gateway.privateJwk,
      publishJwksTo: e.GATEWAY_CALL_JWKS_PUBLISH,
    },
    denialWindowMs: e.DENIAL_WINDOW_SEC * 1000,
    ...sharedStores(e),
    reach: reachSettings(e),
    approvalStore:
      e.APPROVAL_STORE === "postgres" && e.APPROVAL_DATABASE_URL !== undefined
        ? ({
            kind: "postgres",
            connectionString: e.APPROVAL_DATABASE_URL,
            passwordFile: e.DATABASE_PASSWORD_FILE,
          } as const)
        : ({
            kind: "sqlite",
            path: e.APPROVAL_SQLITE_PATH ?? join(e.ZYX_STATE_DIR, "approvals", "approvals.db"),
          } as const),
  };
}

/** Where the policy comes from (file, bundle server, OPA), its shadow, and the decision log. */
function policySettings(e: z.infer<typeof Env>) {
  return {
    policyBundle: e.POLICY_BUNDLE,
    policyBundlePublicKey: e.POLICY_BUNDLE_PUBLIC_KEY,
    policyBundlePollMs: e.POLICY_BUNDLE_POLL_MS,
    policyOpaUrl: e.POLICY_OPA_URL,
    policyBundleServer:
      e.POLICY_BUNDLE_URL === undefined
        ? undefined
        : {
            url: e.POLICY_BUNDLE_URL,
            cachePath:
              e.POLICY_BUNDLE_CACHE ?? join(e.ZYX_STATE_DIR, "policy", "downloaded-bundle.tar.gz"),
            pollMs: e.POLICY_BUNDLE_URL_POLL_MS,
            tokenFile: e.POLICY_BUNDLE_TOKEN_FILE,
          },
    policyShadowBundle: e.POLICY_SHADOW_BUNDLE,
    policyHighWater: policyHighWater(e),
    decisionLog:
      e.DECISION_LOG_URL === undefined
        ? undefined
        : {
            url: e.DECISION_LOG_URL,
            tokenFile: e.DECISION_LOG_TOKEN_FILE,
            maxBuffered: e.DECISION_LOG_MAX_BUFFERED,
            maxBatch: e.DECISION_LOG_MAX_BATCH,
            flushIntervalMs: e.DECISION_LOG_FLUSH_MS,
          },
  };
}

/**
 * Kill-switch reach: a page to KILL_SWITCH_PAGE_URL needs its routing key; only with development
 * keys (DEV_KEYS) may a placeholder stand in, so that a production page never goes nowhere.
 */
function reachSettings(e: z.infer<typeof Env>) {
  if (
    e.KILL_SWITCH_PAGE_URL !== undefined &&
    e.KILL_SWITCH_PAGE_ROUTING_KEY === undefined &&
    !e.DEV_KEYS
  ) {
    throw new ConfigError("KILL_SWITCH_PAGE_URL needs KILL_SWITCH_PAGE_ROUTING_KEY");
  }
  return {
    revoke: e.KILL_SWITCH_REVOKE,
    pageUrl: e.KILL_SWITCH_PAGE_URL,
    routingKey: e.KILL_SWITCH_PAGE_ROUTING_KEY ?? "zyx-dev-routing-key",
  };
}

/**
 * Where the bundle anti-rollback high-water mark persists: with the shared kill switch in
 * PostgreSQL (replicas), the same database, so a fresh replica refuses what another superseded;
 * else a file in ZYX_STATE_DIR (this host's restarts).
 */
function policyHighWater(e: z.infer<typeof Env>) {
  const url = e.KILL_SWITCH_DATABASE_URL ?? e.APPROVAL_DATABASE_URL;
  if (e.KILL_SWITCH_STORE === "postgres" && url !== undefined) {
    return {
      kind: "postgres",
      connectionString: url,
      passwordFile: e.DATABASE_PASSWORD_FILE,
    } as const;
  }
  return { kind: "file", path: join(e.ZYX_STATE_DIR, "policy", "bundle-high-water.json") } as const;
}

/** Where the replicas' shared state lives (PostgreSQL), or the embedded defaults. */
function sharedStores(e: z.infer<typeof Env>) {
  const killSwitchUrl = e.KILL_SWITCH_DATABASE_URL ?? e.APPROVAL_DATABASE_URL;
  if (e.KILL_SWITCH_STORE === "postgres" && killSwitchUrl === undefined) {
    throw new ConfigError(
      "KILL_SWITCH_STORE=postgres needs KILL_SWITCH_DATABASE_URL (or APPROVAL_DATABASE_URL)",
    );
  }
  if (
    e.KILL_SWITCH_STORE === "postgres" &&
    e.KILL_SWITCH_STALE_AFTER_MS < 2 * e.KILL_SWITCH_SYNC_MS
  ) {
    // Re-read once per interval: a shorter bound marks a healthy store lost on every other tick.
    throw new ConfigError("KILL_SWITCH_STALE_AFTER_MS must be at least twice KILL_SWITCH_SYNC_MS");
  }
  const limitsUrl = e.LIMITS_DATABASE_URL ?? e.APPROVAL_DATABASE_URL;
  if (e.LIMITS_STORE === "postgres" && limitsUrl === undefined) {
    throw new ConfigError(
      "LIMITS_STORE=postgres needs LIMITS_DATABASE_URL (or APPROVAL_DATABASE_URL)",
    );
  }
  const sessionUrl = e.SESSION_DATABASE_URL ?? e.APPROVAL_DATABASE_URL;
  if (e.SESSION_STORE === "postgres" && sessionUrl === undefined) {
    throw new ConfigError(
      "SESSION_STORE=postgres needs SESSION_DATABASE_URL (or APPROVAL_DATABASE_URL)",
    );
  }
  const database = (connectionString: string) => ({
    connectionString,
    passwordFile: e.DATABASE_PASSWORD_FILE,
  });
  return {
    sessionStore:
      e.SESSION_STORE === "postgres" && sessionUrl !== undefined
        ? ({ kind: "postgres", ...database(sessionUrl) } as const)
        : ({ kind: "memory" } as const),
    limitsStore:
      e.LIMITS_STORE === "postgres" && limitsUrl !== undefined
        ? ({ kind: "postgres", ...database(limitsUrl) } as const)
        : ({ kind: "memory" } as const),
    killSwitchStore:
      e.KILL_SWITCH_STORE === "postgres" && killSwitchUrl !== undefined
        ? ({
            kind: "postgres",
            ...database(killSwitchUrl),
            syncMs: e.KILL_SWITCH_SYNC_MS,
            staleAfterMs: e.KILL_SWITCH_STALE_AFTER_MS,
          } as const)
        : ({ kind: "file", path: join(e.ZYX_STATE_DIR, "kill-switch.json") } as const),
  };
}
