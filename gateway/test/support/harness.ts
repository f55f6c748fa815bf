// A whole gateway, wired from real parts: the built policy.wasm, jose verifiers over keys the
// test generates, a real hash-chained audit log in a temp dir, the real call-token signer, and
// the real worker app (call-token verification included) reached through app.request().
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { JWK } from "jose";
import { afterAll } from "vitest";
import { createCallTokenVerifier } from "../../../agent/src/call-token.ts";
import { loadCatalog } from "../../../common/catalog.ts";
import { createWorkerApp } from "../../../agent/src/app.ts";
import { createFixtureConnectors } from "../../../agent/src/connectors/index.ts";
import { createToolExecutor } from "../../../agent/src/tools.ts";
import type { ToolCall } from "../../../common/tool-arguments.ts";
import { createGatewayApp, type AuditSink, type GatewayPorts } from "../../src/app.ts";
import { openAuditLog, type AuditLog } from "../../src/audit/log.ts";
import {
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
  generateDevKey,
  publicJwk,
} from "../../../common/keys.ts";
import {
  mintAccessToken,
  mintDelegatedAccessToken,
  mintPostureToken,
} from "../../../idp/src/mint.ts";
import { CALL_TOKEN_AUDIENCE, CALL_TOKEN_ISSUER } from "../../../common/worker-contract.ts";
import { createCallTokenSigner } from "../../src/handoff/call-token.ts";
import { createHttpWorkerClient, type WorkerClient } from "../../src/handoff/worker-client.ts";
import { createAccessTokenVerifier } from "../../src/identity/access-token.ts";
import { createPostureVerifier } from "../../src/identity/posture.ts";
import { loadPolicyEngine, type PolicyEngine } from "../../src/policy/engine.ts";
import type { ApprovalStoreConfig } from "../../src/approvals/store.ts";
import { createControls, type Controls } from "../../src/controls.ts";
import type { RefusalRecorder } from "../../src/pipeline/refusals.ts";
import type { ConsoleOptions } from "../../src/console/routes.ts";
import { createSessionSignals, type MemorySessionSignals } from "../../src/session.ts";
import { BUNDLE_PATH } from "./paths.ts";
import { RECENT_WINDOW_SEC } from "../../src/config.ts";
import type { PipelineTracer } from "../../src/pipeline/index.ts";
import type { Tracer } from "@opentelemetry/api";

/** Wednesday 2026-05-20 10:00 in Singapore: business hours, so no time-of-day risk. */
export const NOW_SEC = 1_779_242_400;

export const ENGINEER = {
  user: "engineer@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-devops-readonly"],
  agent: "change-reviewer",
};

/** The remediation agent's engineer, allowed to change security groups (with approval). */
export const REMEDIATOR = {
  user: "cloud@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers", "grp-ai-devops-readonly"],
  agent: "change-remediator",
};

/** An approver of production changes, through the approver console. */
export const APPROVER = {
  user: "approver.one@zyxbank.example",
  groups: ["grp-ai-prod-approvers"],
  agent: "approvals-console",
};

/** A security administrator, through the admin console (kill switch, taints). */
export const ADMIN = {
  user: "secadmin@zyxbank.example",
  groups: ["grp-ai-security-admins"],
  agent: "admin-console",
};

export interface WorkerCallSeen {
  call: ToolCall;
  traceparent: string | undefined;
}

export interface HarnessOptions {
  bundlePath?: string;
  /** Replace parts (a failing audit, a failing worker...). */
  ports?: (defaults: GatewayPorts) => Partial<GatewayPorts>;
  workerExecute?: (call: ToolCall) => unknown;
  /** How long the gateway waits for the worker (default 2 s); the worker's deadline follows. */
  workerTimeoutMs?: number;
  /** Runs in the worker before each call is executed (by workerExecute or the fixture tools). */
  beforeExecute?: (call: ToolCall) => Promise<void>;
  /** Default: SQLite in the harness's temp dir. */
  approvalStore?: ApprovalStoreConfig;
  /** Default: the app's own, over the harness's audit log. */
  refusals?: RefusalRecorder;
  /** Serve the approver console, built from the harness's keys, clock and audit log. */
  console?: (parts: {
    keys: { idp: JWK; device: JWK };
    nowSec: () => number;
    auditPath: string;
  }) => Promise<ConsoleOptions>;
  /** OpenTelemetry: the gateway pipeline's tracer and the worker's (default: no spans). */
  tracing?: { gateway?: PipelineTracer; worker?: Tracer };
  /** The gateway's TRUSTED_PROXIES (CIDRs); default none. */
  trustedProxies?: string[];
}

/**
 * What @hono/node-server hands the app as `c.env` for a connection from `address`: lets
 * app.request() calls come from a given socket peer (lib/client-address.ts reads it).
 */
export function fromPeer(address: string): { incoming: { socket: { remoteAddress: string } } } {
  return { incoming: { socket: { remoteAddress: address } } };
}

export interface Harness {
  app: ReturnType<typeof createGatewayApp>;
  /** The default session signals (taints, denials), unless the test gave its own. */
  sessions: MemorySessionSignals;
  auditPath: string;
  audit: AuditLog;
  policy: PolicyEngine;
  controls: Controls;
  /** The frozen clock every part reads (epoch ms); tests move it. */
  clock: { now: number };
  workerCalls: WorkerCallSeen[];
  /** The fixture connectors' writes (JSON Lines): what reached "Jira" and "Slack". */
  writesPath: string;
  keys: { idp: JWK; device: JWK; gateway: JWK };
  accessToken(
    overrides?: Partial<{
      user: string;
      /** An "email" apart from the subject (an opaque `sub`, as most identity providers issue). */
      email: string;
      groups: string[];
      agent: string | undefined;
      ttlSec: number;
      now: number;
      notBefore: number;
      audience: string;
      issuer: string;
      key: JWK;
    }>,
  ): Promise<string>;
  postureToken(
    overrides?: Partial<{
      user: string;
      compliant: boolean;
      checkedAt: number;
      key: JWK;
      issuer: string;
    }>,
  ): Promise<string>;
  /** `peer`: the socket's remote address the call comes from (default: none, as app.request). */
  call(
    tool: string,
    body: unknown,
    headers?: Record<string, string>,
    peer?: string,
  ): Promise<Response>;
  /** Runs the sweeper's post-hoc compensation catch-up at the harness's clock. */
  compensateDue(): Promise<number>;
  /** A call with fresh tokens for the engineer (or `as`), merged headers. */
  callAs(
    tool: string,
    args: Record<string, unknown>,
    options?: {
      as?: Partial<typeof ENGINEER>;
      compliant?: boolean;
      headers?: Record<string, string>;
      sessionId?: string;
      /** The socket peer the call comes from (see `call`). */
      peer?: string;
    },
  ): Promise<Response>;
}

const servers: ReturnType<typeof serve>[] = [];
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

/** The harness's audit log as records, in order (none before the first is written). */
export function auditRecords(h: Pick<Harness, "auditPath">): Record<string, unknown>[] {
  if (!existsSync(h.auditPath)) return [];
  return readFileSync(h.auditPath, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "zyx-gateway-"));
  const keys = {
    idp: await generateDevKey(),
    device: await generateDevKey(),
    gateway: await generateDevKey("EdDSA"),
  };
  const clock = { now: NOW_SEC * 1000 };
  const nowSec = (): number => Math.floor(clock.now / 1000);
  const policy = await loadPolicyEngine({ bundlePath: options.bundlePath ?? BUNDLE_PATH });
  const auditPath = join(dir, "audit.jsonl");
  const audit = await openAuditLog({ path: auditPath });

  const workerCalls: WorkerCallSeen[] = [];
  const writesPath = join(dir, "fixture-writes.jsonl");
  const tools = createToolExecutor(createFixtureConnectors(writesPath), loadCatalog());
  let lastTraceparent: string | undefined;
  const workerApp = createWorkerApp({
    verifier: createCallTokenVerifier({
      jwks: { keys: [publicJwk(keys.gateway)] },
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: 2,
      maxReplayEntries: 10_000,
      now: () => clock.now,
    }),
    execute: async (call) => {
      workerCalls.push({ call, traceparent: lastTraceparent });
      await options.beforeExecute?.(call);
      return options.workerExecute === undefined
        ? tools(call)
        : { result: await options.workerExecute(call) };
    },
    log: () => undefined,
    tracer: options.tracing?.worker,
  });
  // The worker on a real loopback socket: the gateway's HTTP client is exercised for real.
  const front = new Hono();
  front.use(async (c, next) => {
    lastTraceparent = c.req.header("traceparent");
    await next();
  });
  front.route("/", workerApp);
  const server = serve({ fetch: front.fetch, hostname: "127.0.0.1", port: 0 });
  servers.push(server);
  await new Promise((done) => server.once("listening", done));
  const { port } = server.address() as AddressInfo;
  const worker: WorkerClient = createHttpWorkerClient({
    baseUrl: new URL(`http://127.0.0.1:${port}/`),
    timeoutMs: options.workerTimeoutMs ?? 2_000,
    signer: createCallTokenSigner({
      privateJwk: keys.gateway,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      ttlSec: 30,
      now: () => clock.now,
    }),
  });

  const sessions = createSessionSignals({ denialWindowMs: RECENT_WINDOW_SEC * 1000 });
  const controls = await createControls({
    policy,
    audit,
    killSwitchPath: join(dir, "kill-switch.json"),
    approvalStore: options.approvalStore ?? { kind: "sqlite", path: join(dir, "approvals.db") },
    now: () => clock.now,
  });
  const defaults: GatewayPorts = {
    policy,
    accessTokens: createAccessTokenVerifier({
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      keys: { kind: "jwks", jwks: { keys: [publicJwk(keys.idp)] } },
      now: nowSec,
    }),
    posture: createPostureVerifier({
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      keys: { kind: "jwks", jwks: { keys: [publicJwk(keys.device)] } },
      now: nowSec,
    }),
    audit: audit satisfies AuditSink,
    worker,
    sessions,
    taints: sessions,
    ...controls,
  };
  let background: { compensateDue(nowMs: number): Promise<number> } | undefined;
  const overrides = options.ports?.(defaults) ?? {};
  const ports: GatewayPorts = { ...defaults, ...overrides };
  // Other session signals without their own admin handle: no taint routes (not the old store's).
  if (overrides.sessions !== undefined && overrides.taints === undefined) delete ports.taints;
  const app = createGatewayApp(ports, {
    bodyLimitBytes: 65_536,
    now: () => clock.now,
    ...(options.refusals === undefined ? {} : { refusals: options.refusals }),
    ...(options.trustedProxies === undefined ? {} : { trustedProxies: options.trustedProxies }),
    ...(options.console === undefined
      ? {}
      : { console: await options.console({ keys, nowSec, auditPath }) }),
    ...(options.tracing?.gateway === undefined ? {} : { tracer: options.tracing.gateway }),
    background: (tasks) => {
      background = tasks;
    },
  });

  const harness: Harness = {
    app,
    sessions,
    compensateDue: () => {
      if (background === undefined) throw new Error("the app gave no background tasks");
      return background.compensateDue(clock.now);
    },
    auditPath,
    audit,
    policy,
    controls,
    clock,
    workerCalls,
    writesPath,
    keys,
    accessToken: (o = {}) => {
      const agent = "agent" in o ? o.agent : ENGINEER.agent;
      if (o.email !== undefined) {
        return mintDelegatedAccessToken({
          privateJwk: o.key ?? keys.idp,
          issuer: o.issuer ?? DEV_ISSUER,
          audience: o.audience ?? GATEWAY_AUDIENCE,
          subject: o.user ?? ENGINEER.user,
          email: o.email,
          groups: o.groups ?? ENGINEER.groups,
          actor: agent ?? ENGINEER.agent,
          clientId: "harness",
          ttlSec: o.ttlSec ?? 300,
          now: o.now ?? nowSec(),
        });
      }
      return mintAccessToken({
        privateJwk: o.key ?? keys.idp,
        issuer: o.issuer ?? DEV_ISSUER,
        audience: o.audience ?? GATEWAY_AUDIENCE,
        user: o.user ?? ENGINEER.user,
        groups: o.groups ?? ENGINEER.groups,
        ...(agent === undefined ? {} : { agent }),
        ttlSec: o.ttlSec ?? 300,
        now: o.now ?? nowSec(),
        ...(o.notBefore === undefined ? {} : { notBefore: o.notBefore }),
      });
    },
    postureToken: (o = {}) =>
      mintPostureToken({
        privateJwk: o.key ?? keys.device,
        issuer: o.issuer ?? DEV_POSTURE_ISSUER,
        audience: GATEWAY_AUDIENCE,
        user: o.user ?? ENGINEER.user,
        compliant: o.compliant ?? true,
        checkedAt: o.checkedAt ?? nowSec() - 60,
        ttlSec: 600,
        now: nowSec(),
      }),
    call: async (tool, body, headers = {}, peer) =>
      app.request(
        `/v1/tools/${tool}`,
        {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: typeof body === "string" ? body : JSON.stringify(body),
        },
        peer === undefined ? undefined : fromPeer(peer),
      ),
    callAs: async (tool, args, o = {}) => {
      const who = { ...ENGINEER, ...o.as };
      return harness.call(
        tool,
        { arguments: args, session_id: o.sessionId ?? "session-1" },
        {
          authorization: `Bearer ${await harness.accessToken(who)}`,
          "x-device-posture": await harness.postureToken({
            user: who.user,
            compliant: o.compliant ?? true,
          }),
          ...o.headers,
        },
        o.peer,
      );
    },
  };
  return harness;
}
