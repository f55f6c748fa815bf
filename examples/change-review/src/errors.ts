// The runtime's closed union of error codes, each with its HTTP status, and the RFC 9457 problem
// documents it answers with. Where the gateway already has a word for the failure (policy_denied,
// posture_invalid, rate_limited...), the runtime uses the same word: an engineer's client reads
// one vocabulary whichever hop refused.
import { challengeDescription } from "../../../common/challenge.ts";

export const REVIEW_ERROR_STATUS = {
  // the engineer's request
  request_body_too_large: 413,
  request_malformed: 400,
  route_not_found: 404,
  // the engineer's own credentials (401 carries WWW-Authenticate)
  token_missing: 401,
  token_invalid: 401,
  token_expired: 401,
  posture_missing: 401,
  // ... and the gateway's verdict on the posture token, passed through
  posture_invalid: 401,
  posture_subject_mismatch: 401,
  // delegation (RFC 8693 token exchange at the identity provider)
  identity_provider_unavailable: 503,
  /** The identity provider refused to let the agent act for this engineer (invalid_grant). */
  delegation_refused: 403,
  /** The exchange failed on the runtime's side: its client credentials or configuration. */
  delegation_failed: 502,
  // the gateway's decisions, passed through
  policy_denied: 403,
  approval_required: 403,
  rate_limited: 429,
  // the gateway as a service
  /** The gateway refused the call for a reason that is the runtime's fault, or failed (5xx). */
  gateway_failed: 502,
  gateway_unavailable: 503,
  gateway_timeout: 504,
  /** A tool's result did not have the shape the review reads. */
  tool_result_invalid: 502,
  internal_error: 500,
} as const satisfies Record<string, number>;

export type ReviewErrorCode = keyof typeof REVIEW_ERROR_STATUS;

const TITLES: Record<ReviewErrorCode, string> = {
  request_body_too_large: "Request body too large",
  request_malformed: "Malformed request",
  route_not_found: "Not found",
  token_missing: "Access token missing",
  token_invalid: "Access token invalid",
  token_expired: "Access token expired",
  posture_missing: "Device posture missing",
  posture_invalid: "Device posture invalid",
  posture_subject_mismatch: "Device posture for another subject",
  identity_provider_unavailable: "Identity provider unavailable",
  delegation_refused: "Delegation refused",
  delegation_failed: "Delegation failed",
  policy_denied: "Denied by policy",
  approval_required: "Approval required",
  rate_limited: "Too many calls",
  gateway_failed: "Gateway call failed",
  gateway_unavailable: "Gateway unavailable",
  gateway_timeout: "Gateway timeout",
  tool_result_invalid: "Unexpected tool result",
  internal_error: "Internal error",
};

export function isReviewErrorCode(value: unknown): value is ReviewErrorCode {
  return typeof value === "string" && Object.hasOwn(REVIEW_ERROR_STATUS, value);
}

export class ReviewError extends Error {
  readonly code: ReviewErrorCode;
  readonly status: number;
  /** Extension members of the problem document (reasons, tool, decision_id...). */
  readonly extensions: Record<string, unknown>;

  constructor(
    code: ReviewErrorCode,
    message: string,
    options: { extensions?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ReviewError";
    this.code = code;
    this.status = REVIEW_ERROR_STATUS[code];
    this.extensions = options.extensions ?? {};
  }
}

export function isReviewError(value: unknown): value is ReviewError {
  return value instanceof ReviewError;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
const TYPE_BASE = "https://change-review.zyxbank.example/problems/";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ReviewErrorCode;
  [extension: string]: unknown;
}

export function problemOf(error: ReviewError): Problem {
  return {
    type: `${TYPE_BASE}${error.code}`,
    title: TITLES[error.code],
    status: error.status,
    detail: error.message,
    ...error.extensions,
    code: error.code,
  };
}

/** RFC 6750 challenge for a 401 about the engineer's access token. */
export function wwwAuthenticate(error: ReviewError): string {
  if (error.code === "token_missing") return 'Bearer realm="zyx-change-review"';
  const description = challengeDescription(error.message);
  return `Bearer realm="zyx-change-review", error="invalid_token", error_description="${description}"`;
}
