// Starts the gateway: `npm run gateway` (make run starts it with the worker).
// Configuration comes from the environment (gateway/src/config.ts); a bad one stops the process.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { serve } from "@hono/node-server";
import { jsonLog, stopGracefullyOnSignals, SERVER_TIMEOUTS } from "../../common/service.ts";
import { createGatewayApp } from "./app.ts";
import { createInFlight, type InFlight } from "./lib/in-flight.ts";
import { checkpointSignerFor } from "./audit/checkpoint.ts";
import { openAuditLog } from "./audit/log.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { createControls, type Controls } from "./controls.ts";
import { createAdminCaller, withReach } from "./killswitch/reach.ts";
import type { KillSwitch } from "./killswitch/service.ts";
import type { AuditRecordInput } from "./audit/record.ts";
import type { JWK } from "jose";
import { loadCatalog } from "../../common/catalog.ts";
import { ensureDevKeys, publicJwk, readPrivateJwk } from "../../common/keys.ts";
import { CALL_TOKEN_AUDIENCE, CALL_TOKEN_ISSUER } from "../../common/worker-contract.ts";
import { createCallTokenSigner } from "./handoff/call-token.ts";
import { createHttpWorkerClient } from "./handoff/worker-client.ts";
import { createAccessTokenVerifier } from "./identity/access-token.ts";
import { createPostureVerifier } from "./identity/posture.ts";
import { PolicyState } from "./policy/decision.ts";
import { createGatewayMetrics } from "./metrics/gateway-metrics.ts";
import { createReloadingPolicyEngine } from "./policy/reloader.ts";
import { createBundleDownloader } from "./policy/bundle-download.ts";
import { fileHighWaterStore } from "./policy/rollback.ts";
import { openPostgresHighWaterStore } from "./policy/rollback-postgres.ts";
import { connectOpaServer } from "./policy/opa-http.ts";
import { createSessionSignals, TAINTS_SATURATED } from "./session.ts";
import { openPostgresSessionSignals } from "./session-postgres.ts";
import { mcpDoorOptions } from "./mcp/config.ts";
import { consoleOptions, consoleUrl } from "./console/config.ts";
import { createEscalationNotice } from "./approvals/notify.ts";
import { setUpDecisionLogging } from "./decision-log/setup.ts";
import { tracingFromEnv } from "../../common/tracing.ts";
import { createPipelineTracer } from "./tracing/pipeline-tracer.ts";

const log = jsonLog("gateway");

async function metricsToken(
  token: ReturnType<typeof loadConfig>["metricsToken"],
): Promise<string | undefined> {
  if (typeof token !== "object") return token;
  const text = (await readFile(token.path, "utf8")).trim();
  if (text.length < 16)
    throw new ConfigError(`METRICS_TOKEN_FILE: ${token.path} holds under 16 characters`);
  return text;
}

function withConsole<T>(options: T | undefined): { console?: T } {
  return options === undefined ? {} : { console: options };
}

async function start(): Promise<void> {
  const config = loadConfig();
  if (config.devKeys) await ensureDevKeys(config.stateDir);

  const metrics = createGatewayMetrics();
  // OpenTelemetry spans, when the OTEL_* variables ask for them (off by default).
  const tracing = tracingFromEnv(process.env, "zyx-gateway");
  const { bundled, downloader, decisionLogging, policy, highWater } = await openPolicy(
    config,
    metrics,
  );
  const { keyFile, everyRecords, everySeconds } = config.audit.checkpoint;
  const signer = await checkpointSignerFor(keyFile, config.stateDir, config.devKeys);
  const audit = await openAuditLog({
    path: config.audit.path,
    fsync: config.audit.fsync,
    replica: config.audit.replica,
    checkpoints: { signer, everyRecords, everySeconds },
    onSync: (seconds, records) => {
      metrics.auditSynced(seconds, records);
    },
    // The witness: the platform's log pipeline keeps each head off this host, so a log cut back
    // to a checkpoint shows (npm run audit -- verify --expect-head <seq>:<hash>).
    onCheckpoint: (head) => {
      metrics.auditCheckpoint(head);
      log("info", "audit checkpoint", { file: config.audit.path, ...head });
    },
  });
  const { cacheMaxEntries, ...accessOptions } = config.accessTokens;
  const { callKey, worker } = await openWorker(config);
  const controls = await createControls({
    policy,
    audit,
    killSwitchPath: join(config.stateDir, "kill-switch.json"),
    killSwitchStore: config.killSwitchStore,
    limitsStore: config.limitsStore,
    approvalStore: config.approvalStore,
    log,
  });
  const killSwitch = killSwitchWithReach(config, callKey, controls.killSwitch, audit);
  const links = consoleUrl(process.env, config);
  const notifyEscalation = createEscalationNotice({
    channel: controls.approvalsChannel,
    consoleUrl: links,
    killSwitch: controls.killSwitch,
    audit,
    worker,
    now: Date.now,
    log,
  });
  // Every escalation, the sweep's or one applied on the way to an approve or deny, is announced.
  controls.approvals.onEscalated(notifyEscalation);
  const background: { compensateDue?: (nowMs: number) => Promise<number> } = {};
  // Requests and sweeps in flight: a graceful stop records their outcomes before it closes.
  const inFlight = createInFlight();
  const sweeper = startSweeper(controls.approvals, background, inFlight);
  metrics.addSources({
    policyRevision: () => policy.revision,
    bundleStatus: () => bundled.status(),
    killSwitch: () => controls.killSwitch.state(),
    audit: () => audit.stats(),
    openApprovals: () => controls.openApprovals(),
  });
  const shared = await openSharedSessions(config);
  const sessions =
    shared ??
    createSessionSignals({
      denialWindowMs: config.denialWindowMs,
      onSaturated: () => {
        log("error", TAINTS_SATURATED);
      },
    });
  metrics.addSources({ sessionTaints: () => sessions.stats() });
  const cache = cacheMaxEntries > 0 ? { cache: { maxEntries: cacheMaxEntries } } : {};
  const app = createGatewayApp(
    {
      policy,
      accessTokens: createAccessTokenVerifier({
        ...accessOptions,
        ...(cacheMaxEntries > 0 ? { cache: { maxEntries: cacheMaxEntries } } : {}),
      }),
      posture: createPostureVerifier({
        ...config.posture,
        ...(cacheMaxEntries > 0 ? { cache: { maxEntries: cacheMaxEntries } } : {}),
      }),
      audit,
      worker,
      sessions,
      taints: sessions,
      ...controls,
      killSwitch,
    },
    {
      bodyLimitBytes: config.bodyLimitBytes,
      trustedProxies: config.trustedProxies,
      inFlight,
      background: (tasks) => {
        background.compensateDue = (nowMs) => tasks.compensateDue(nowMs);
      },
      readiness: () => ({
        ...(downloader === undefined ? {} : { policy_bundle_server: downloader.status() }),
        ...withShadow(decisionLogging.shadowStatus()),
      }),
      metrics,
      ...(await metricsToken(config.metricsToken).then((t) =>
        t === undefined ? {} : { metricsToken: t },
      )),
      mcp: mcpDoorOptions(process.env, config, { ...accessOptions, ...cache }),
      ...withConsole(consoleOptions(process.env, config)),
      consoleUrl: links,
      ...(decisionLogging.observer === undefined ? {} : { observers: [decisionLogging.observer] }),
      ...(tracing === undefined ? {} : { tracer: createPipelineTracer(tracing.tracer) }),
    },
  );

  const server = serve(
    { fetch: app.fetch, hostname: config.host, port: config.port, serverOptions: SERVER_TIMEOUTS },
    (info) => {
      log("info", "listening", {
        address: info.address,
        port: info.port,
        policy_revision: policy.revision ?? null,
        tracing: tracing !== undefined,
        decision_log: config.decisionLog?.url.origin ?? null,
      });
    },
  );

  stopGracefullyOnSignals(server, {
    log,
    // Long enough for a call handed to the worker just before the stop to answer and be recorded.
    timeoutMs: config.worker.timeoutMs + 10_000,
    afterDrain: async () => {
      clearInterval(sweeper);
      // The sockets are closed, not necessarily the calls: a client that hung up mid-call leaves
      // its call running; its outcome record is written before the audit log closes. Approval
      // long polls (`?wait=`, up to 60 s) are answered now, not waited out: one whose client hung
      // up would otherwise hold the stop past its bound (ending waits is all close() does).
      controls.approvals.close();
      await inFlight.idle();
      downloader?.close();
      bundled.close();
      await Promise.all([
        controls.close().then(() => audit.close()),
        worker.close(),
        shared?.close(),
        decisionLogging.close(),
        highWater.close?.(),
        tracing?.shutdown(),
      ]);
    },
  });
}

/**
 * The policy the gateway decides with: downloaded from POLICY_BUNDLE_URL (ETag / If-None-Match)
 * or read from POLICY_BUNDLE, signature-verified, hot-reloaded (a refused bundle keeps the last
 * good revision serving), optionally delegated to an OPA server, wrapped by decision logging and
 * the shadow policy. A bundle that cannot load leaves the gateway up and denying every call.
 */
async function openPolicy(
  config: ReturnType<typeof loadConfig>,
  metrics: ReturnType<typeof createGatewayMetrics>,
) {
  // POLICY_BUNDLE_URL: downloaded (ETag / If-None-Match) into a cache file the reloader loads.
  const bundleServer = config.policyBundleServer;
  const downloader =
    bundleServer === undefined
      ? undefined
      : createBundleDownloader({
          ...bundleServer,
          log,
          onOutcome: (outcome) => {
            metrics.bundleDownload(outcome);
          },
        });
  await downloader?.download();
  // Anti-rollback: the highest bundle serial accepted, kept across restarts (rollback.ts).
  const mark = config.policyHighWater;
  const highWater =
    mark.kind === "postgres"
      ? await openPostgresHighWaterStore(mark)
      : fileHighWaterStore(mark.path);
  // Signed, verified, not older than the mark, hot-reloaded: a refused bundle keeps the last
  // good revision serving.
  const bundled = await createReloadingPolicyEngine({
    bundlePath: bundleServer?.cachePath ?? config.policyBundle,
    publicKeyPath: config.policyBundlePublicKey,
    pollMs: config.policyBundlePollMs,
    highWater,
    log,
    onEvent: (event) => {
      metrics.policyReload(event);
    },
  });
  downloader?.start(() => bundled.check());
  const deciding =
    config.policyOpaUrl === undefined
      ? bundled
      : await connectOpaServer({
          url: config.policyOpaUrl,
          state: PolicyState.parse(bundled.data?.zyx.state),
        });
  // OPA-format decision logs (DECISION_LOG_URL) and the shadow policy (POLICY_SHADOW_BUNDLE).
  const decisionLogging = await setUpDecisionLogging(config, deciding, metrics, log);
  const { policy } = decisionLogging;
  if (policy.loadError !== null) {
    // Fail closed but stay up: every call is denied with policy_unavailable and /readyz says why.
    log("error", "policy not loaded: every call will be denied", {
      code: policy.loadError.code,
      detail: policy.loadError.message,
    });
  }
  return { bundled, downloader, decisionLogging, policy, highWater };
}

/** SESSION_STORE=postgres: taint and recent denials shared by every replica; else none. */
async function openSharedSessions(config: ReturnType<typeof loadConfig>) {
  if (config.sessionStore.kind !== "postgres") return undefined;
  return openPostgresSessionSignals({
    denialWindowMs: config.denialWindowMs,
    connectionString: config.sessionStore.connectionString,
    passwordFile: config.sessionStore.passwordFile,
    log,
  });
}

function withShadow(status: Record<string, unknown> | undefined): Record<string, unknown> {
  return status === undefined ? {} : { policy_shadow_bundle: status };
}

/** The call-token key, its public half published for the worker, and the worker's client. */
async function openWorker(config: ReturnType<typeof loadConfig>) {
  const callKey = await readPrivateJwk(config.worker.callKeyFile);
  if (config.worker.publishJwksTo !== undefined) {
    // Written beside and renamed over: a running worker reads the set again when it changes
    // (agent/src/gateway-keys.ts) and must never see half a file.
    const target = config.worker.publishJwksTo;
    await mkdir(dirname(target), { recursive: true });
    const temporary = `${target}.${randomUUID()}.tmp`;
    await writeFile(temporary, `${JSON.stringify({ keys: [publicJwk(callKey)] }, null, 2)}\n`, {
      mode: 0o644,
      flag: "wx",
    });
    await rename(temporary, target);
  }
  const worker = createHttpWorkerClient({
    baseUrl: config.worker.url,
    timeoutMs: config.worker.timeoutMs,
    maxResponseBytes: config.worker.maxResponseBytes,
    signer: createCallTokenSigner({
      privateJwk: callKey,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      ttlSec: 30,
    }),
  });
  return { callKey, worker };
}

/**
 * Escalates, then expires, approval requests nobody acted on in time (the service announces
 * each escalation: onEscalated). A failed sweep is logged and tried again at the next tick.
 */
function startSweeper(
  approvals: Controls["approvals"],
  background: { compensateDue?: (nowMs: number) => Promise<number> },
  inFlight: InFlight,
): NodeJS.Timeout {
  const sweeper = setInterval(() => {
    // Post-hoc compensations that are due: never run (the deny route failed), a retry, a lease
    // left by a runner that died.
    const due = background.compensateDue;
    if (due !== undefined) {
      inFlight
        .track(() => due(Date.now()))
        .then((ran) => {
          if (ran > 0) log("info", "post-hoc compensations caught up", { ran });
        })
        .catch((error: unknown) => {
          log("error", "post-hoc compensation sweep failed", { error: String(error) });
        });
    }
    approvals
      .sweep()
      .then((swept) => {
        if (swept.escalated.length + swept.expired.length > 0)
          log("info", "approvals swept", { ...swept });
      })
      .catch((error: unknown) => {
        log("error", "approval sweep failed", { error: String(error) });
      });
  }, 5_000);
  sweeper.unref();
  return sweeper;
}

/** The kill switch whose connector and all-writes stops revoke and page (killswitch/reach.ts). */
function killSwitchWithReach(
  config: ReturnType<typeof loadConfig>,
  callKey: JWK,
  killSwitch: KillSwitch,
  audit: { append(record: AuditRecordInput): Promise<unknown> },
): KillSwitch {
  const catalog = loadCatalog();
  return withReach(killSwitch, {
    admin: config.reach.revoke
      ? createAdminCaller({
          baseUrl: config.worker.url,
          privateJwk: callKey,
          issuer: CALL_TOKEN_ISSUER,
          audience: CALL_TOKEN_AUDIENCE,
          timeoutMs: config.worker.timeoutMs,
        })
      : undefined,
    pager:
      config.reach.pageUrl === undefined
        ? undefined
        : { url: config.reach.pageUrl, routingKey: config.reach.routingKey },
    writeConnectors: [
      ...new Set(
        Object.values(catalog.tools)
          .filter((tool) => tool.write)
          .map((tool) => tool.connector),
      ),
    ],
    audit: (record) => audit.append(record),
    log,
  });
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
