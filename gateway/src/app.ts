// The gateway's HTTP surface. One tool call, in this order, each step failing closed:
// body limit → access token → device posture → arguments → decision → durable audit → hand-off.
import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { argumentsDigest } from "../../common/canonical.ts";
import { parseToolArguments } from "../../common/tool-arguments.ts";
import type { AuditRecordInput } from "./audit/record.ts";
import type { WorkerClient } from "./handoff/worker-client.ts";
import { bearerToken } from "./identity/access-token.ts";
import type { AccessTokenVerifier, PostureVerifier } from "./identity/types.ts";
import { GatewayError, isGatewayError } from "./lib/errors.ts";
import { PROBLEM_CONTENT_TYPE, problemOf, wwwAuthenticate } from "./lib/problem.ts";
import { traceFrom, traceparentOf } from "./lib/trace.ts";
import { openApiDocument } from "./openapi.ts";
import type { Decision, DecisionInput } from "./policy/decision.ts";
import type { PolicyEngine } from "./policy/engine.ts";
import type { Context } from "hono";
import { approvalCall, createApprovalRoutes, view } from "./approvals/routes.ts";
import type { ApprovalRequest } from "./approvals/request.ts";
import type { ApprovalService } from "./approvals/service.ts";
import { createKillSwitchRoutes } from "./killswitch/routes.ts";
import type { KillSwitch } from "./killswitch/service.ts";
import type { DenialMonitor } from "./limits/denial-monitor.ts";
import type { RateLimiter } from "./limits/rate-limiter.ts";
import type { SessionSignals } from "./session.ts";

export interface AuditSink {
  /**
   * Makes the record durable, secrets masked and sizes bounded (the audit log does both for
   * every field, so callers hand it the values as they are).
   */
  append(record: AuditRecordInput): Promise<unknown>;
  healthy(): boolean;
}

export interface GatewayPorts {
  policy: PolicyEngine;
  accessTokens: AccessTokenVerifier;
  posture: PostureVerifier;
  audit: AuditSink;
  worker: WorkerClient;
  sessions: SessionSignals;
  /** Sliding-window call limits per agent, user and tool (policy data "limits"). */
  limiter: RateLimiter;
  /** Suspends an agent through the kill switch after too many denials. */
  denials: DenialMonitor;
  /** Mounted under /v1/admin for the security-admin group. */
  killSwitch: KillSwitch;
  /** Human approval of calls the policy will not allow alone. */
  approvals: ApprovalService;
  /** The approvers' Slack channel (policy data approvals.notify_channel). */
  approvalsChannel?: string;
  /** How long an approved call may wait to be executed (default: 5 minutes). */
  approvalExecutionWindowMs?: number;
}

export interface GatewayOptions {
  /** Largest accepted request body, checked before parsing. */
  bodyLimitBytes: number;
  /** The clock, in epoch milliseconds (frozen in tests). */
  now?: () => number;
  newId?: () => string;
}

const RequestBody = z.strictObject({
  arguments: z.record(z.string(), z.unknown()),
  session_id: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, "1 to 128 of A-Z a-z 0-9 . _ : -"),
  /** Executes a call that humans approved: the same tool and exactly the same arguments. */
  approval_id: z.uuid().optional(),
  context: z
    .strictObject({
      decision_trace: z.string().max(8_192).optional(),
      model: z.string().max(200).optional(),
    })
    .optional(),
});

function denialMessage(decision: Decision): string {
  return decision.reasons.map((r) => r.message).join("; ");
}

export function createGatewayApp(ports: GatewayPorts, options: GatewayOptions): Hono {
  const { bodyLimitBytes } = options;
  if (!Number.isInteger(bodyLimitBytes) || bodyLimitBytes < 1_024) {
    throw new TypeError("bodyLimitBytes must be an integer of at least 1024");
  }
  for (const port of [
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
  ] as const) {
    if (typeof ports[port] !== "object") throw new TypeError(`ports.${port} is required`);
  }
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const agents = () =>
    ports.policy.data?.zyx.config["agents"] as Record<string, { workflow?: string }> | undefined;

  const app = new Hono();

  app.onError((error, c) => {
    const gatewayError = isGatewayError(error)
      ? error
      : new GatewayError("internal_error", "the gateway failed; nothing was executed");
    if (!isGatewayError(error)) console.error("gateway: unexpected error", error);
    if (gatewayError.status === 401) c.header("WWW-Authenticate", wwwAuthenticate(gatewayError));
    const retryAfter = gatewayError.extensions["retry_after"];
    if (typeof retryAfter === "number") c.header("Retry-After", String(retryAfter));
    c.header("content-type", PROBLEM_CONTENT_TYPE);
    return c.body(JSON.stringify(problemOf(gatewayError)), gatewayError.status as 400);
  });

  app.notFound(() => {
    throw new GatewayError("route_not_found", "no such route");
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const checks = {
      policy: ports.policy.loadError === null,
      audit: ports.audit.healthy(),
      worker: await ports.worker.ready(),
    };
    const ready = Object.values(checks).every(Boolean);
    return c.json(
      {
        status: ready ? "ready" : "not_ready",
        checks,
        policy_revision: ports.policy.revision ?? null,
      },
      ready ? 200 : 503,
    );
  });

  app.get("/openapi.json", (c) => c.json(openApiDocument()));

  // The verified caller of an administrative route: access token, then posture on a compliant
  // device. Which groups may act is the route's business.
  // Approving a call and administering the kill switch are for people, through a human
  // console: a token whose acting party is an AI agent never does them, whoever it acts for.
  const requireHumanConsole = (principal: { agent: string }): void => {
    const consoles = ports.policy.data?.zyx.config["human_consoles"];
    if (!Array.isArray(consoles) || !consoles.includes(principal.agent)) {
      throw new GatewayError(
        "console_required",
        `${principal.agent} is not a human console: an agent cannot approve or administer`,
      );
    }
  };
  const disabledByKillSwitch = (principal: { subject: string; email?: string }): boolean => {
    const users = ports.killSwitch.state().state.kill_switch.users;
    return (
      users.includes(principal.subject) ||
      (principal.email !== undefined && users.includes(principal.email))
    );
  };
  // Every caller, of every route: the verified access token (with its acting agent), then the
  // signed device posture for the same subject. Never plain headers.
  const verifyCaller = async (c: Context) => {
    const principal = await ports.accessTokens.verify(bearerToken(c.req.header("authorization")));
    const posture = await ports.posture.verify(c.req.header("x-device-posture"), principal.subject);
    return { principal, posture };
  };
  const authenticate = async (c: Context) => {
    const { principal, posture } = await verifyCaller(c);
    requireHumanConsole(principal);
    if (!posture.compliant) {
      throw new GatewayError("admin_forbidden", "administration needs a compliant device");
    }
    return principal;
  };
  app.route("/v1/admin", createKillSwitchRoutes({ killSwitch: ports.killSwitch, authenticate }));
  app.route(
    "/v1",
    createApprovalRoutes({
      approvals: ports.approvals,
      authenticate: verifyCaller,
      checkApprover: (principal) => {
        requireHumanConsole(principal);
        if (disabledByKillSwitch(principal)) {
          throw new GatewayError(
            "approver_not_eligible",
            "the approver is disabled by the kill switch",
          );
        }
      },
    }),
  );

  /** Tells the approvers, through the worker's Slack connector. Best effort, logged. */
  // The system's own write, outside the policy (no agent asked for it): it still obeys the kill
  // switch for Slack and for all writes, and is audited before it is sent.
  const notifyApprovers = (request: ApprovalRequest, traceparent: string): void => {
    const channel = ports.approvalsChannel;
    if (channel === undefined) return;
    const killSwitch = ports.killSwitch.state().state.kill_switch;
    if (killSwitch.all_writes || killSwitch.connectors.includes("slack")) return;
    const text =
      `Approval needed: ${request.agent} for ${request.requester.email ?? request.requester.subject} ` +
      `asks to run ${request.tool} (risk ${request.risk_score}, ${request.approvers_required} approver(s) ` +
      `from ${request.approver_groups.join(", ")}). Review: /v1/approvals/${request.id}`;
    const args = { channel, text };
    const send = async () => {
      await ports.audit.append({
        timestamp: new Date(now()).toISOString(),
        event: "notification",
        decision_id: request.id,
        trace_id: request.trace_id,
        agent: "zyx-agent-gateway",
        tool: "slack_post_message",
        arguments: args,
        details: { approval_id: request.id, purpose: "approvers_notified" },
      });
      await ports.worker.execute({
        tool: "slack_post_message",
        arguments: args,
        argumentsDigest: argumentsDigest(args),
        decisionId: request.id,
        traceparent,
        user: "system:approvals",
        agent: "zyx-agent-gateway",
      });
    };
    send().catch((error: unknown) => {
      console.error("gateway: approval notification failed", error);
    });
  };

  app.post(
    "/v1/tools/:tool",
    bodyLimit({
      maxSize: bodyLimitBytes,
      onError: () => {
        throw new GatewayError(
          "request_body_too_large",
          `the request body exceeds ${bodyLimitBytes} bytes`,
        );
      },
    }),
    async (c) => {
      const started = performance.now();
      const trace = traceFrom(c.req.header("traceparent"));

      // 2. Authentication: the verified access token, with its acting agent; then
      // 3. device posture: a signed token from the device-trust service, same subject.
      const { principal, posture } = await verifyCaller(c);

      // 4. The request and the tool's arguments.
      let json: unknown;
      try {
        json = await c.req.json();
      } catch {
        throw new GatewayError("request_malformed", "the request body is not JSON");
      }
      const body = RequestBody.safeParse(json);
      if (!body.success) {
        throw new GatewayError(
          "request_malformed",
          "the request body does not match the contract",
          {
            extensions: {
              issues: body.error.issues.map((i) => ({
                path: i.path.join("."),
                message: i.message,
              })),
            },
          },
        );
      }
      const tool = c.req.param("tool");
      const parsed = parseToolArguments(tool, body.data.arguments);
      if (!parsed.ok) {
        if (parsed.reason === "tool_not_found") {
          throw new GatewayError("tool_not_found", `no tool named ${tool.slice(0, 64)}`);
        }
        throw new GatewayError(
          "arguments_invalid",
          `${parsed.issues.length} problem(s) with the arguments of ${tool}`,
          {
            extensions: { issues: parsed.issues },
          },
        );
      }
      const args: Record<string, unknown> = parsed.arguments;

      // Runaway-loop limits, before the policy is asked: a refused call is not counted.
      const verdict = ports.limiter.check({
        agent: principal.agent,
        user: principal.subject,
        tool,
      });
      if (!verdict.allowed) {
        const limitedId = newId();
        try {
          await ports.audit.append({
            timestamp: new Date(now()).toISOString(),
            event: "outcome",
            decision_id: limitedId,
            trace_id: trace.traceId,
            user: {
              subject: principal.subject,
              ...(principal.email === undefined ? {} : { email: principal.email }),
            },
            groups: [...principal.groups],
            agent: principal.agent,
            session_id: body.data.session_id,
            tool,
            outcome: { status: "rate_limited", code: "rate_limited", http_status: 429 },
            details: {
              scope: verdict.scope,
              limit: verdict.limit,
              window_seconds: verdict.windowSeconds,
              cause: verdict.cause,
            },
          });
        } catch (thrown) {
          throw new GatewayError("audit_unavailable", "the audit record could not be written", {
            cause: thrown,
          });
        }
        throw new GatewayError(
          "rate_limited",
          `more than ${verdict.limit} calls per ${verdict.windowSeconds} s for this ${verdict.scope}`,
          {
            extensions: {
              decision_id: limitedId,
              trace_id: trace.traceId,
              scope: verdict.scope,
              limit: verdict.limit,
              window_seconds: verdict.windowSeconds,
              retry_after: verdict.retryAfterSeconds,
            },
          },
        );
      }

      // 5. The decision, from verified facts and server-side context only.
      const decisionId = newId();
      const nowMs = now();
      const sessionId = body.data.session_id;
      // The taint follows the verified user and agent too: the session id is the caller's to
      // choose, and a new one must not wash away what the agent has read.
      const actorKey = `actor:${principal.subject}\u0000${principal.agent}`;
      const tainted = () =>
        ports.sessions.isTainted(sessionId) || ports.sessions.isTainted(actorKey);
      const workflow = agents()?.[principal.agent]?.workflow ?? "unassigned";
      // A call that humans approved: the request must be this caller's, for this tool, with
      // exactly these arguments; its approvers go to the policy, which decides again now.
      const digest = argumentsDigest(args);
      let approved: ApprovalRequest | undefined;
      if (body.data.approval_id !== undefined) {
        approved = await approvalCall(ports.approvals.get(body.data.approval_id));
        if (approved === undefined) {
          throw new GatewayError("approval_not_found", "no such approval request");
        }
        if (
          approved.requester.subject !== principal.subject ||
          approved.agent !== principal.agent
        ) {
          throw new GatewayError(
            "approval_not_yours",
            "the approval was requested by someone else",
          );
        }
        if (approved.tool !== tool || approved.arguments_digest !== digest) {
          throw new GatewayError(
            "approval_arguments_mismatch",
            "the approval is for another tool or other arguments",
          );
        }
        if (
          approved.status === "executing" ||
          approved.status === "executed" ||
          approved.status === "failed"
        ) {
          throw new GatewayError("approval_already_executed", "the approved call already ran");
        }
        if (approved.status !== "approved") {
          throw new GatewayError(
            "approval_not_approved",
            `the approval request is ${approved.status}`,
          );
        }
        // An approval is for now, not for ever: it must be used within the approvers' window.
        const decidedAt = Date.parse(approved.decided_at ?? approved.created_at);
        if (nowMs > decidedAt + (ports.approvalExecutionWindowMs ?? 300_000)) {
          throw new GatewayError("approval_not_open", "the approval is too old to use: ask again");
        }
      }
      const input: DecisionInput = {
        principal: {
          sub: principal.subject,
          ...(principal.email === undefined ? {} : { email: principal.email }),
          groups: principal.groups,
        },
        agent: { id: principal.agent },
        device: { compliant: posture.compliant, checked_at: posture.checkedAt },
        tool,
        arguments: args,
        context: {
          now: Math.floor(nowMs / 1000),
          workflow,
          session_tainted: tainted(),
          recent_denials: ports.sessions.recentDenials(principal.agent, nowMs),
        },
        ...(approved === undefined
          ? {}
          : {
              approval: {
                approvers: approved.approvals.map((a) => ({ sub: a.subject, groups: a.groups })),
              },
            }),
      };
      const outcome = await ports.policy.evaluate(input);

      const record = (extra: Partial<AuditRecordInput>): AuditRecordInput => ({
        timestamp: new Date(now()).toISOString(),
        event: "decision",
        decision_id: decisionId,
        trace_id: trace.traceId,
        user: {
          subject: principal.subject,
          ...(principal.email === undefined ? {} : { email: principal.email }),
        },
        groups: [...principal.groups],
        device: {
          compliant: posture.compliant,
          checked_at: posture.checkedAt,
          ...(posture.deviceId === undefined ? {} : { device_id: posture.deviceId }),
        },
        agent: principal.agent,
        ...(body.data.context?.model === undefined ? {} : { model: body.data.context.model }),
        ...(body.data.context?.decision_trace === undefined
          ? {}
          : { decision_trace: body.data.context.decision_trace }),
        workflow,
        session_id: sessionId,
        tool,
        arguments: args,
        policy_revision: ports.policy.revision ?? "none",
        // Everything the policy saw, so a forensic replay can rebuild the decision exactly.
        decision_input: { ...input },
        latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
        ...extra,
      });
      const append = async (entry: AuditRecordInput): Promise<void> => {
        try {
          await ports.audit.append(entry);
        } catch (thrown) {
          throw isGatewayError(thrown) && thrown.code === "audit_unavailable"
            ? thrown
            : new GatewayError("audit_unavailable", "the audit record could not be written", {
                cause: thrown,
              });
        }
      };
      const ids = { decision_id: decisionId, trace_id: trace.traceId };

      if (!outcome.ok) {
        await append(
          record({
            decision: { allow: false, reasons: [] },
            outcome: { status: "error", code: "policy_unavailable", http_status: 503 },
            details: { policy_error: outcome.code, message: outcome.message },
          }),
        );
        throw new GatewayError(
          "policy_unavailable",
          `no policy decision (${outcome.code}): nothing was executed`,
          {
            extensions: { ...ids, policy_error: outcome.code },
          },
        );
      }
      const { decision } = outcome;
      const approvalState = decision.approval.required
        ? decision.allow
          ? "approved"
          : "pending"
        : "not_required";
      // 6. Durable audit of the decision, before anything acts or the denial returns.
      const decided = record({
        decision: { allow: decision.allow, reasons: decision.reasons },
        risk_score: decision.risk.score,
        approval: {
          required: decision.approval.required,
          approvers_required: decision.approval.approvers_required,
          state: approvalState,
        },
        policy_revision: decision.policy_revision,
      });

      if (!decision.allow) {
        ports.sessions.recordDenial(principal.agent, nowMs);
        // Too many denials suspend the agent through the kill switch. Not awaited: the monitor
        // audits its own alert, and a failure to suspend is retried at the next denial.
        if (!decision.reasons.every((r) => r.code === "approval_required")) {
          ports.denials
            .recordDenial(principal.agent, { code: "policy_denied", decisionId })
            .catch((error: unknown) => {
              console.error("gateway: denial monitor failed", error);
            });
        }
        const onlyApproval = decision.reasons.every((r) => r.code === "approval_required");
        if (onlyApproval && approved === undefined && decision.approval.approvers_required > 0) {
          // Nothing runs: the call waits for humans, bound to these exact arguments.
          await append(decided);
          const request = await approvalCall(
            ports.approvals.request({
              tool,
              arguments: args,
              requester: {
                subject: principal.subject,
                ...(principal.email === undefined ? {} : { email: principal.email }),
                groups: principal.groups,
              },
              agent: principal.agent,
              session_id: sessionId,
              workflow,
              policy_revision: decision.policy_revision,
              risk_score: decision.risk.score,
              approvers_required: decision.approval.approvers_required === 2 ? 2 : 1,
              approver_groups: decision.approval.approver_groups,
              fallback_groups: decision.approval.fallback_groups,
              decision_id: decisionId,
              trace_id: trace.traceId,
            }),
          );
          await append({
            ...decided,
            event: "outcome",
            outcome: { status: "pending_approval", http_status: 202 },
            details: { approval_id: request.id },
          });
          notifyApprovers(request, traceparentOf(trace));
          return c.json(
            {
              ...ids,
              ...view(request),
              reasons: decision.reasons,
              approval: decision.approval,
              risk: decision.risk,
            },
            202,
            { location: `/v1/approvals/${request.id}` },
          );
        }
        const code = onlyApproval ? "approval_required" : "policy_denied";
        await Promise.all([
          append(decided),
          append({
            ...decided,
            event: "outcome",
            outcome: { status: "denied", code, http_status: 403 },
          }),
        ]);
        throw new GatewayError(code, denialMessage(decision), {
          extensions: {
            ...ids,
            reasons: decision.reasons,
            approval: decision.approval,
            risk: decision.risk,
          },
        });
      }
      await append(decided);
      if (approved !== undefined) {
        // Exactly once: a second claim (a replay) is refused before anything runs.
        await approvalCall(ports.approvals.claimForExecution(approved.id, digest));
      }
      const settle = (outcomeOf: { code?: string; http_status: number }, failed: boolean): void => {
        if (approved === undefined) return;
        const outcome = { decision_id: decisionId, ...outcomeOf };
        (failed
          ? ports.approvals.markFailed(approved.id, outcome)
          : ports.approvals.markExecuted(approved.id, outcome)
        ).catch((error: unknown) => {
          console.error("gateway: approval outcome not recorded", error);
        });
      };

      // 7. Hand-off to the worker with a gateway-signed call token.
      try {
        const { result, evidence, compensation } = await ports.worker.execute({
          tool: parsed.tool,
          arguments: args,
          argumentsDigest: digest,
          decisionId,
          traceparent: traceparentOf(trace),
          user: principal.subject,
          agent: principal.agent,
        });
        settle({ http_status: 200 }, false);
        // The decision record that authorised this call is already durable. The outcome joins the
        // next group commit without holding the response; if it cannot be written, the log fails
        // closed and the next call is refused with audit_unavailable.
        // Content flagged as prompt injection taints the session: from now on the policy asks
        // for approval before any write in it.
        if (evidence?.injection.suspected === true) {
          ports.sessions.taint(sessionId);
          ports.sessions.taint(actorKey);
        }
        ports.audit
          .append({
            ...decided,
            event: "outcome",
            outcome: { status: "executed", http_status: 200 },
            ...(evidence === undefined
              ? {}
              : {
                  details: {
                    redactions: evidence.redactions,
                    injection_suspected: evidence.injection.suspected,
                    injection_indicators: evidence.injection.indicators,
                    session_tainted: tainted(),
                  },
                }),
            latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
          })
          .catch((error: unknown) => {
            console.error("gateway: outcome audit record failed", error);
          });
        // 8. The worker's result, with the decision id and the trace id.
        return c.json({
          ...ids,
          result,
          ...(evidence === undefined ? {} : { evidence }),
          ...(compensation === undefined ? {} : { compensation }),
        });
      } catch (thrown) {
        const error = isGatewayError(thrown)
          ? thrown
          : new GatewayError("worker_failed", "the tool call failed", { cause: thrown });
        if (error.code === "audit_unavailable")
          throw new GatewayError(error.code, error.message, { extensions: ids });
        settle({ code: error.code, http_status: error.status }, true);
        await append({
          ...decided,
          event: "outcome",
          outcome: { status: "failed", code: error.code, http_status: error.status },
        });
        throw new GatewayError(error.code, error.message, {
          extensions: { ...error.extensions, ...ids },
        });
      }
    },
  );

  return app;
}
