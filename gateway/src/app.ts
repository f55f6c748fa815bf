// The gateway's HTTP surface: the route table. Each route is a thin adapter; the behaviour is
// one hop away:
//
//   POST /v1/tools/{tool}           → pipeline/ (the tool call, every step failing closed)
//   GET|POST /v1/approvals/{id}...  → approvals/routes.ts (approvers; humans only)
//   /v1/admin/kill-switch...        → killswitch/routes.ts (security administrators)
//   POST /mcp, /.well-known/oauth-protected-resource[/mcp] → mcp/ (the MCP door, same pipeline)
//   /healthz, /readyz, /openapi.json (generated from http/contract.ts)
//   GET /metrics                    → metrics/route.ts (the platform's scraper, bearer token)
//   /console/...                    → console/routes.ts (approvers' pages, OIDC sign-in; when configured)
//
// One error model: every failure of every route is thrown as a GatewayError (or a domain error
// that is one) and rendered once, by `problemHandler`, as an RFC 9457 problem document.
import { randomUUID } from "node:crypto";
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { jsonLog, type Log } from "../../common/service.ts";
import { createApproverNotice } from "./approvals/notify.ts";
import { createApprovalRoutes } from "./approvals/routes.ts";
import { createConsoleRoutes, type ConsoleOptions } from "./console/routes.ts";
import { compensateDue, createCompensator, type Compensator } from "./posthoc/compensate.ts";
import { openApiDocument } from "./http/contract.ts";
import { createKillSwitchRoutes } from "./killswitch/routes.ts";
import type { GatewayMetrics } from "./metrics/gateway-metrics.ts";
import { metricsHandler } from "./metrics/route.ts";
import { limitJsonBody } from "./lib/body.ts";
import type { InFlight } from "./lib/in-flight.ts";
import { GatewayError } from "./lib/errors.ts";
import { eitherAudience, type McpDoorOptions } from "./mcp/auth.ts";
import { mountMcpDoor } from "./mcp/door.ts";
import { createTaintRoutes } from "./taints/routes.ts";
import { problemHandler } from "./lib/problem.ts";
import type { VerifiedPosture, VerifiedPrincipal } from "./identity/types.ts";
import { requireFreshPosture, requireHumanConsole, verifyCaller } from "./pipeline/authenticate.ts";
import type { Credentials, GatewayPorts, PipelineRuntime } from "./pipeline/context.ts";
import {
  createToolCallPipeline,
  type PipelineTracer,
  type ToolCallPipeline,
} from "./pipeline/index.ts";
import { combineObservers, type PartialObserver } from "./pipeline/observers.ts";
import { createRefusalRecorder, type RefusalRecorder } from "./pipeline/refusals.ts";
import { createAddressSet, type AddressSet } from "../../common/net-address.ts";
import { sourceOf } from "./lib/client-address.ts";

export type { AuditSink, GatewayPorts } from "./pipeline/context.ts";

export interface GatewayOptions {
  /** Largest accepted request body, checked before parsing. */
  bodyLimitBytes: number;
  /**
   * More of /readyz, for information (never a check): the bundle server's and the shadow
   * policy's status, from main.ts.
   */
  readiness?: () => Record<string, unknown>;
  /**
   * Receives the work the app leaves to main.ts's sweeper: catching up post-hoc compensations
   * that are due (posthoc/compensate.ts). Absent: nothing retries them.
   */
  background?: (tasks: { compensateDue(nowMs: number): Promise<number> }) => void;
  /** The clock, in epoch milliseconds (frozen in tests). */
  now?: () => number;
  newId?: () => string;
  /** Where unexpected errors and background failures go (default: JSON lines on stderr). */
  log?: Log;
  /** Audits unrecorded refusals and counts unauthenticated ones (default: over ports.audit). */
  refusals?: RefusalRecorder;
  /** Prometheus metrics: the pipeline reports to them, GET /metrics serves them. */
  metrics?: GatewayMetrics;
  /** The scraper's bearer token for GET /metrics (absent: the route answers 404). */
  metricsToken?: string;
  /** The MCP door's resource URI, authorization servers and resource-audience verifier. */
  mcp?: McpDoorOptions;
  /** The approver console (/console/): absent, not served. */
  console?: ConsoleOptions;
  /** The console's public URL, for the links in the approvers' Slack notices (CONSOLE_URL). */
  consoleUrl?: string;
  /** More pipeline observers (the decision log, the shadow policy), told after the metrics. */
  observers?: readonly PartialObserver[];
  /** OpenTelemetry spans for each call and step (tracing/); absent: no spans. */
  tracer?: PipelineTracer;
  /**
   * Counts every request until its handler has finished (a client that hung up included): the
   * graceful stop waits for it before closing the audit log (main.ts).
   */
  inFlight?: InFlight;
  /**
   * The proxies (CIDRs) whose X-Forwarded-For names the client (TRUSTED_PROXIES); default none:
   * every record's source is the socket's peer (lib/client-address.ts).
   */
  trustedProxies?: readonly string[];
}

const REQUIRED_PORTS = [
  "policy",
  "accessTokens",
  "posture",
  "audit",
  "worker",
  "sessions",
  "limiter",
  "denials",
  "killSwitch",
  "approvals",
] as const;

function checkOptions(ports: GatewayPorts, options: GatewayOptions): void {
  const { bodyLimitBytes } = options;
  if (!Number.isInteger(bodyLimitBytes) || bodyLimitBytes < 1_024) {
    throw new TypeError("bodyLimitBytes must be an integer of at least 1024");
  }
  for (const port of REQUIRED_PORTS) {
    if (typeof ports[port] !== "object") throw new TypeError(`ports.${port} is required`);
  }
}

function credentialsOf(c: Context): Credentials {
  return {
    authorization: c.req.header("authorization"),
    posture: c.req.header("x-device-posture"),
  };
}

/** The REST door: `POST /v1/tools/{tool}` as a thin adapter over the pipeline. */
function restToolCall(pipeline: ToolCallPipeline, trustedProxies: AddressSet) {
  return async (c: Context) => {
    const answer = await pipeline({
      door: "rest",
      tool: c.req.param("tool") ?? "",
      credentials: credentialsOf(c),
      traceparent: c.req.header("traceparent"),
      readBody: () => c.req.json(),
      source: sourceOf(c, trustedProxies),
    });
    if (answer.status === 202) return c.json(answer.body, 202, { location: answer.location });
    return c.json(answer.body);
  };
}

/**
 * The verified caller of a people route, remembered for the refusal record; a caller who cannot
 * be verified is counted instead.
 */
function peopleCaller(
  ports: GatewayPorts,
  refusals: RefusalRecorder,
  seen: WeakMap<Request, VerifiedPrincipal>,
) {
  return async (c: Context) => {
    try {
      const caller = await verifyCaller(ports, credentialsOf(c));
      seen.set(c.req.raw, caller.principal);
      return caller;
    } catch (thrown) {
      refusals.unauthenticated(thrown);
      throw thrown;
    }
  };
}

/** Approving and administering: a person through a human console, never an agent. */
function peopleRoutes(
  app: Hono,
  ports: GatewayPorts,
  now: () => number,
  refusals: RefusalRecorder,
  compensate: Compensator,
  consoleOptions: ConsoleOptions | undefined,
  trustedProxies: AddressSet,
): void {
  const seen = new WeakMap<Request, VerifiedPrincipal>();
  const caller = peopleCaller(ports, refusals, seen);
  // Every refusal of a verified person on these routes leaves one audit record.
  const recordRefusal: MiddlewareHandler = async (c, next) => {
    await next();
    const principal = seen.get(c.req.raw);
    if (c.error === undefined || principal === undefined) return;
    await refusals.refused(c.error, principal, {
      door: "people",
      route: `${c.req.method} ${routePath(c, -1)}`,
      source: sourceOf(c, trustedProxies),
      details: { path: c.req.path.slice(0, 256) },
    });
  };
  app.use("/v1/approvals/*", recordRefusal);
  app.use("/v1/admin/*", recordRefusal);
  const fresh = (posture: VerifiedPosture) => {
    requireFreshPosture(ports.policy, posture, Math.floor(now() / 1000));
  };
  const disabledByKillSwitch = (principal: { subject: string; email?: string }): boolean => {
    const users = ports.killSwitch.state().state.kill_switch.users;
    return (
      users.includes(principal.subject) ||
      (principal.email !== undefined && users.includes(principal.email))
    );
  };
  const authenticateAdmin = async (c: Context) => {
    const { principal, posture } = await caller(c);
    requireHumanConsole(ports.policy, principal);
    if (!posture.compliant) {
      throw new GatewayError("admin_forbidden", "administration needs a compliant device");
    }
    fresh(posture);
    // A disabled administrator must not be able to lift their own kill switch (or set others):
    // another administrator, or an operator with the store, clears it.
    if (disabledByKillSwitch(principal)) {
      throw new GatewayError("admin_forbidden", "the administrator is disabled by the kill switch");
    }
    return principal;
  };
  app.route(
    "/v1/admin",
    createKillSwitchRoutes({
      killSwitch: ports.killSwitch,
      authenticate: authenticateAdmin,
      sourceOf: (c) => sourceOf(c, trustedProxies),
    }),
  );
  if (ports.taints !== undefined) {
    app.route(
      "/v1/admin",
      createTaintRoutes({
        taints: ports.taints,
        authenticate: authenticateAdmin,
        audit: (record) => ports.audit.append(record),
        now,
        sourceOf: (c) => sourceOf(c, trustedProxies),
      }),
    );
  }
  const checkApprover = (principal: VerifiedPrincipal): void => {
    requireHumanConsole(ports.policy, principal);
    if (disabledByKillSwitch(principal)) {
      throw new GatewayError(
        "approver_not_eligible",
        "the approver is disabled by the kill switch",
      );
    }
  };
  app.route(
    "/v1",
    createApprovalRoutes({
      approvals: ports.approvals,
      authenticate: caller,
      checkApproverDevice: fresh,
      checkApprover,
      afterDeny: compensate,
      sourceOf: (c) => sourceOf(c, trustedProxies),
    }),
  );
  if (consoleOptions === undefined) return;
  app.route(
    "/",
    createConsoleRoutes(consoleOptions, {
      approvals: ports.approvals,
      accessTokens: ports.accessTokens,
      posture: ports.posture,
      rules: {
        worker: ports.worker,
        audit: ports.audit,
        now,
        connectorDisabled: (connector) =>
          ports.killSwitch.state().state.kill_switch.connectors.includes(connector),
      },
      refusals,
      now,
      checkApprover,
      checkApproverDevice: fresh,
      afterDeny: compensate,
      requireHumanConsole: (principal) => {
        requireHumanConsole(ports.policy, principal);
      },
      sourceOf: (c) => sourceOf(c, trustedProxies),
    }),
  );
}

/** The hot-reloading engine tells /readyz about its bundle (the last refusal included). */
function bundleStatus(policy: GatewayPorts["policy"]): Record<string, unknown> {
  if (!("status" in policy) || typeof policy.status !== "function") return {};
  return { policy_bundle: (policy.status as () => unknown)() };
}

function operationalRoutes(app: Hono, ports: GatewayPorts, options: GatewayOptions): void {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const checks = {
      policy: ports.policy.loadError === null,
      audit: ports.audit.healthy(),
      worker: await ports.worker.ready(),
      // The shared kill-switch store lost beyond its bound: write tools are refused.
      kill_switch_store: ports.killSwitch.storeStatus().healthy,
    };
    const ready = Object.values(checks).every(Boolean);
    return c.json(
      {
        status: ready ? "ready" : "not_ready",
        checks,
        policy_revision: ports.policy.revision ?? null,
        ...bundleStatus(ports.policy),
        ...options.readiness?.(),
      },
      ready ? 200 : 503,
    );
  });
  app.get("/openapi.json", (c) => c.json(openApiDocument()));
  app.get("/metrics", metricsHandler(options.metrics, options.metricsToken));
}

export function createGatewayApp(ports: GatewayPorts, options: GatewayOptions): Hono {
  checkOptions(ports, options);
  // A bad range throws cidr_invalid here (config.ts has already named TRUSTED_PROXIES).
  const trustedProxies = createAddressSet(options.trustedProxies ?? []);
  const now = options.now ?? Date.now;
  const log = options.log ?? jsonLog("gateway");
  const refusals = options.refusals ?? createRefusalRecorder({ audit: ports.audit, now, log });
  options.metrics?.addSources({ unauthenticated: () => refusals.unauthenticatedCounts() });
  const runtime: PipelineRuntime = {
    now,
    newId: options.newId ?? randomUUID,
    log,
    refusals,
    notifyApprovers: createApproverNotice({
      channel: ports.approvalsChannel,
      consoleUrl: options.consoleUrl,
      killSwitch: ports.killSwitch,
      audit: ports.audit,
      worker: ports.worker,
      now,
      log,
    }),
  };
  const observer = combineObservers([options.metrics?.pipeline, ...(options.observers ?? [])]);
  const pipeline = createToolCallPipeline(ports, runtime, observer, options.tracer);
  // The MCP door: the same pipeline over ports that also accept the MCP resource as audience.
  const mcp = options.mcp ?? {};
  const mcpPorts = {
    ...ports,
    accessTokens: eitherAudience(ports.accessTokens, mcp.resourceAccessTokens),
  };

  const app = new Hono();
  const { inFlight } = options;
  if (inFlight !== undefined) app.use((_c, next) => inFlight.track(next));
  app.onError(problemHandler(log));
  app.notFound(() => {
    throw new GatewayError("route_not_found", "no such route");
  });
  operationalRoutes(app, ports, options);
  const compensate = createCompensator(ports, runtime);
  // A rejection that lands while its post-hoc call is running is compensated when it answers.
  runtime.compensate = compensate;
  options.background?.({
    compensateDue: (nowMs) => compensateDue(ports.approvals, compensate, nowMs, log),
  });
  peopleRoutes(app, ports, now, refusals, compensate, options.console, trustedProxies);
  app.post(
    "/v1/tools/:tool",
    limitJsonBody(options.bodyLimitBytes),
    restToolCall(pipeline, trustedProxies),
  );
  mountMcpDoor(app, {
    ports: mcpPorts,
    pipeline: createToolCallPipeline(mcpPorts, runtime, observer, options.tracer),
    now,
    log,
    bodyLimitBytes: options.bodyLimitBytes,
    options: mcp,
    refusals,
    trustedProxies,
  });
  return app;
}
