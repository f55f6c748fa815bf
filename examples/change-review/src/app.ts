// The runtime's HTTP surface: the walkthrough's POST /review-change, authenticated by the
// engineer's own tokens. Per request, in order, each step failing closed:
//   body limit (413) → the engineer's access token (401) → a posture token present (401) →
//   the body (400) → token exchange for a delegated token (503/403/502) → the review, one
//   gateway call per tool (the gateway's refusals passed on) → 200 with the review.
// The walkthrough's x-user-email, x-user-groups and x-device-compliant headers are never read.
import { randomBytes } from "node:crypto";
import { Hono } from "hono";
import { z } from "zod";
import { TOOL_ARGUMENT_SCHEMAS } from "../../../common/tool-arguments.ts";
import type { EngineerVerifier } from "./auth.ts";
import type { Delegation } from "./delegation.ts";
import {
  PROBLEM_CONTENT_TYPE,
  ReviewError,
  isReviewError,
  problemOf,
  wwwAuthenticate,
} from "./errors.ts";
import type { GatewayClient } from "./gateway-client.ts";
import type { Narrator } from "./narrative.ts";
import { runReview, type ReviewOptions, type ReviewRequest } from "./review.ts";
import { limitRequestBody } from "../../../common/body-limit.ts";

export interface ChangeReviewPorts {
  engineers: EngineerVerifier;
  delegation: Delegation;
  gateway: GatewayClient;
  /** Optional model narrative (MODEL_URL); absent: the deterministic review only. */
  narrator?: Narrator;
}

export interface ChangeReviewAppOptions {
  /** The GitHub owner a bare repository name ("platform-infra") belongs to: "zyx-bank". */
  defaultOwner: string;
  review: ReviewOptions;
  /** Default 16384. */
  bodyLimitBytes?: number;
  /** A new W3C trace id (32 hex digits) per review. */
  newTraceId?: () => string;
  /** One JSON-able record per review (default: a JSON line on stderr). Never a token. */
  log?: (record: Record<string, unknown>) => void;
}

const GITHUB_OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

const Body = z.strictObject({
  ticket: z.string().max(64),
  repository: z.string().max(140),
  pull_request: z.union(
    [
      z.number(),
      z
        .string()
        .regex(/^[1-9][0-9]{0,9}$/)
        .transform(Number),
    ],
    { error: 'must be a pull request number: 991 or "991"' },
  ),
});

function issuesOf(error: z.ZodError, prefix: readonly string[] = []) {
  return error.issues.map((issue) => ({
    path: [...prefix, ...issue.path.map(String)].join("."),
    message: issue.message,
  }));
}

/** The body, checked with the gateway's own argument schemas after the seed's forms are mapped. */
function parseRequest(json: unknown, defaultOwner: string): ReviewRequest {
  const body = Body.safeParse(json);
  if (!body.success) {
    throw new ReviewError(
      "request_malformed",
      "the body must be {ticket, repository, pull_request}",
      {
        extensions: { issues: issuesOf(body.error) },
      },
    );
  }
  const { ticket, pull_request: pullRequest } = body.data;
  // The walkthrough sends the bare "platform-infra": the organisation is the configured one.
  const repository = body.data.repository.includes("/")
    ? body.data.repository
    : `${defaultOwner}/${body.data.repository}`;
  const issues = [
    ...(() => {
      const parsed = TOOL_ARGUMENT_SCHEMAS.jira_read.safeParse({ ticket });
      return parsed.success ? [] : issuesOf(parsed.error);
    })(),
    ...(() => {
      const parsed = TOOL_ARGUMENT_SCHEMAS.github_read_pr.safeParse({
        repository,
        pull_request: pullRequest,
      });
      return parsed.success ? [] : issuesOf(parsed.error);
    })(),
  ];
  if (issues.length > 0) {
    throw new ReviewError("request_malformed", `${issues.length} problem(s) with the request`, {
      extensions: { issues },
    });
  }
  return { ticket, repository, pull_request: pullRequest };
}

export function createChangeReviewApp(
  ports: ChangeReviewPorts,
  options: ChangeReviewAppOptions,
): Hono {
  for (const port of ["engineers", "delegation", "gateway"] as const) {
    if (typeof ports[port] !== "object") throw new TypeError(`ports.${port} is required`);
  }
  if (!GITHUB_OWNER.test(options.defaultOwner)) {
    throw new TypeError('"defaultOwner" must be a GitHub owner such as zyx-bank');
  }
  const bodyLimitBytes = options.bodyLimitBytes ?? 16_384;
  if (!Number.isInteger(bodyLimitBytes) || bodyLimitBytes < 256) {
    throw new TypeError('"bodyLimitBytes" must be an integer of at least 256');
  }
  const newTraceId = options.newTraceId ?? (() => randomBytes(16).toString("hex"));
  const log =
    options.log ??
    ((record: Record<string, unknown>) => {
      console.error(
        JSON.stringify({ time: new Date().toISOString(), service: "change-review", ...record }),
      );
    });

  const app = new Hono();

  app.onError((error, c) => {
    const failure = isReviewError(error)
      ? error
      : new ReviewError("internal_error", "the review failed unexpectedly");
    if (!isReviewError(error))
      log({ level: "error", message: "unexpected error", error: String(error) });
    if (failure.status === 401 && failure.code.startsWith("token_")) {
      c.header("WWW-Authenticate", wwwAuthenticate(failure));
    }
    const retryAfter = failure.extensions["retry_after"];
    if (typeof retryAfter === "number") c.header("Retry-After", String(retryAfter));
    c.header("content-type", PROBLEM_CONTENT_TYPE);
    return c.body(JSON.stringify(problemOf(failure)), failure.status as 400);
  });

  app.notFound(() => {
    throw new ReviewError("route_not_found", "no such route");
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.post(
    "/review-change",
    limitRequestBody({
      maxSize: bodyLimitBytes,
      onError: () => {
        throw new ReviewError(
          "request_body_too_large",
          `the request body exceeds ${bodyLimitBytes} bytes`,
        );
      },
    }),
    async (c) => {
      const engineer = await ports.engineers.verify(c.req.header("authorization"));
      const posture = c.req.header("x-device-posture")?.trim() ?? "";
      if (posture === "") {
        throw new ReviewError(
          "posture_missing",
          "no X-Device-Posture header: the device-trust service's token is required",
        );
      }
      let json: unknown;
      try {
        json = await c.req.json();
      } catch {
        throw new ReviewError("request_malformed", "the request body is not JSON");
      }
      const request = parseRequest(json, options.defaultOwner);

      const traceId = newTraceId();
      const context = {
        trace_id: traceId,
        sub: engineer.subject,
        ticket: request.ticket,
        repository: request.repository,
        pull_request: request.pull_request,
      };
      try {
        const accessToken = await ports.delegation.exchange(engineer.token);
        const gateway = ports.gateway.session({
          accessToken,
          posture,
          traceId,
          sessionId: `change-review:${traceId}`,
        });
        const result = await runReview(request, gateway, options.review);
        const narrative = await ports.narrator?.narrate(result);
        log({
          level: "info",
          message: "review_completed",
          ...context,
          risk_rating: result.risk_rating,
          findings: result.findings.length,
          tools_used: result.tools_used,
          pending_approvals: result.pending_approvals.length,
          evidence_warnings: result.evidence_warnings.length,
        });
        return c.json({
          ticket: result.ticket,
          repository: result.repository,
          pull_request: result.pull_request,
          risk_rating: result.risk_rating,
          findings: result.findings,
          required_approvals: result.required_approvals,
          recommended_remediation: result.recommended_remediation,
          tools_used: result.tools_used,
          audit_trace_id: traceId,
          pending_approvals: result.pending_approvals,
          evidence_warnings: result.evidence_warnings,
          ...(narrative === undefined ? {} : { narrative }),
        });
      } catch (error) {
        if (!isReviewError(error)) throw error;
        log({ level: "info", message: "review_refused", ...context, code: error.code });
        // The trace id finds every gateway decision this review caused in the audit log.
        throw new ReviewError(error.code, error.message, {
          extensions: { ...error.extensions, audit_trace_id: traceId },
          cause: error,
        });
      }
    },
  );

  return app;
}
