// The runtime's only way to a tool: POST /v1/tools/{tool} on the gateway, with the delegated
// token (the engineer, and this agent in "act"), the engineer's posture token unchanged, one W3C
// trace id for the whole review (a new span per call) and one session id. The gateway's answers
// become ToolOutcome values (200 executed, 202 held for approval) or ReviewErrors that keep the
// gateway's code and reasons.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { ToolName } from "../../../common/catalog.ts";
import { ReviewError, isReviewErrorCode, type ReviewErrorCode } from "./errors.ts";
import { postWithFetch, postWithUndici, type PostAnswer } from "./http-post.ts";
import { Evidence, type ToolGateway, type ToolOutcome } from "./review.ts";

export interface GatewayClientOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Abort a call after this many milliseconds (default 15000). */
  timeoutMs?: number;
  /** Calls through this fetch instead of undici's request (tests, in-process apps). */
  fetch?: typeof fetch;
  /** A new 16-hex-digit span id per call (tests fix it). */
  newSpanId?: () => string;
}

export interface GatewaySession {
  /** The delegated access token (RFC 8693 exchange). */
  accessToken: string;
  /** The engineer's device posture token, as the engineer sent it. */
  posture: string;
  /** 32 lower-case hex digits: the review's W3C trace id. */
  traceId: string;
  sessionId: string;
}

export interface GatewayClient {
  readonly session: (session: GatewaySession) => ToolGateway;
}

const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;
const SESSION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const Executed = z.looseObject({
  decision_id: z.string(),
  result: z.unknown(),
  evidence: Evidence.optional(),
});

const Pending = z.looseObject({
  decision_id: z.string(),
  approval_id: z.string().min(1),
  status_url: z.string().min(1),
});

const GatewayProblem = z.looseObject({
  code: z.string().optional(),
  detail: z.string().optional(),
  reasons: z.array(z.looseObject({ code: z.string(), message: z.string().optional() })).optional(),
  decision_id: z.string().optional(),
  trace_id: z.string().optional(),
  retry_after: z.number().optional(),
});

/** Gateway codes the runtime passes on as they are (the engineer's own doing, or policy). */
const PASSED_ON: ReadonlySet<ReviewErrorCode> = new Set([
  "posture_missing",
  "posture_invalid",
  "posture_subject_mismatch",
  "policy_denied",
  "approval_required",
  "rate_limited",
]);

function checkBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`"url" must be an absolute URL: ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`"url" must be http or https: ${url}`);
  }
  return parsed.href.replace(/\/+$/, "");
}

export function refusal(
  tool: ToolName,
  status: number,
  body: unknown,
  retryAfterHeader: string | null,
): ReviewError {
  const problem = GatewayProblem.safeParse(body);
  const data = problem.success ? problem.data : {};
  const code = data.code;
  const ids = {
    tool,
    ...(data.decision_id === undefined ? {} : { decision_id: data.decision_id }),
    ...(data.trace_id === undefined ? {} : { trace_id: data.trace_id }),
  };
  const detail = data.detail ?? `HTTP ${status}`;
  if (isReviewErrorCode(code) && PASSED_ON.has(code)) {
    const retryAfter =
      data.retry_after ??
      (retryAfterHeader !== null && /^\d+$/.test(retryAfterHeader)
        ? Number(retryAfterHeader)
        : undefined);
    return new ReviewError(code, `the gateway refused ${tool}: ${detail}`, {
      extensions: {
        ...ids,
        ...(data.reasons === undefined ? {} : { reasons: data.reasons }),
        ...(code === "rate_limited" && retryAfter !== undefined ? { retry_after: retryAfter } : {}),
      },
    });
  }
  // Anything else is not the engineer's to fix: a token the gateway would not take, arguments
  // it refused, an audit log or a worker that failed.
  return new ReviewError("gateway_failed", `the gateway could not run ${tool}: ${detail}`, {
    extensions: {
      ...ids,
      upstream_status: status,
      ...(code === undefined ? {} : { upstream_code: code }),
    },
  });
}

export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const base = checkBaseUrl(options.url);
  const timeoutMs = options.timeoutMs ?? 15_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 120_000) {
    throw new TypeError('"timeoutMs" must be an integer from 100 to 120000');
  }
  const post = options.fetch === undefined ? postWithUndici : postWithFetch(options.fetch);
  const newSpanId = options.newSpanId ?? (() => randomBytes(8).toString("hex"));

  return {
    session(session) {
      if (!TRACE_ID.test(session.traceId)) {
        throw new TypeError('"traceId" must be 32 lower-case hex digits, not all zero');
      }
      if (!SESSION_ID.test(session.sessionId)) {
        throw new TypeError('"sessionId" must be 1 to 128 of A-Z a-z 0-9 . _ : -');
      }
      if (session.accessToken === "" || session.posture === "") {
        throw new TypeError('"accessToken" and "posture" must be non-empty');
      }
      return {
        async call(tool, args, purpose): Promise<ToolOutcome> {
          const span = newSpanId();
          if (!SPAN_ID.test(span)) throw new TypeError("newSpanId must return 16 hex digits");
          let response: PostAnswer;
          try {
            response = await post(
              `${base}/v1/tools/${tool}`,
              {
                authorization: `Bearer ${session.accessToken}`,
                "x-device-posture": session.posture,
                "content-type": "application/json",
                traceparent: `00-${session.traceId}-${span}-01`,
              },
              JSON.stringify({
                arguments: args,
                session_id: session.sessionId,
                context: { decision_trace: purpose.slice(0, 8_192) },
              }),
              timeoutMs,
            );
          } catch (error) {
            const timedOut = error instanceof Error && error.name === "TimeoutError";
            throw new ReviewError(
              timedOut ? "gateway_timeout" : "gateway_unavailable",
              timedOut
                ? `the gateway did not answer ${tool} within ${timeoutMs} ms`
                : `the gateway could not be reached for ${tool}`,
              { extensions: { tool }, cause: error },
            );
          }
          const { body } = response;
          if (response.status === 200) {
            const parsed = Executed.safeParse(body);
            if (!parsed.success) {
              throw new ReviewError(
                "gateway_failed",
                `the gateway's answer to ${tool} is not JSON we read`,
                {
                  extensions: { tool, upstream_status: 200 },
                },
              );
            }
            return {
              status: "executed",
              tool,
              result: parsed.data.result,
              evidence: parsed.data.evidence,
              decisionId: parsed.data.decision_id,
            };
          }
          if (response.status === 202) {
            const parsed = Pending.safeParse(body);
            if (!parsed.success) {
              throw new ReviewError(
                "gateway_failed",
                `the gateway's answer to ${tool} is not JSON we read`,
                {
                  extensions: { tool, upstream_status: 202 },
                },
              );
            }
            return {
              status: "pending_approval",
              tool,
              approvalId: parsed.data.approval_id,
              statusUrl: parsed.data.status_url,
              decisionId: parsed.data.decision_id,
            };
          }
          throw refusal(tool, response.status, body, response.header("retry-after"));
        },
      };
    },
  };
}
