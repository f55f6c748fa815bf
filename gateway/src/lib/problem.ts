// RFC 9457 problem documents: every failure the gateway returns is one of these, rendered here
// and only here. `renderProblem` is the app's one `onError`: a GatewayError (approval and
// kill-switch errors are GatewayErrors) keeps its code, status and extensions; anything else is
// a bug, logged once and answered as internal_error (never an allow: nothing ran after it).
import type { Context } from "hono";
import type { Log } from "../../../common/service.ts";
import { ERROR_TITLES, GatewayError, isGatewayError, type ErrorCode } from "./errors.ts";
import { challengeDescription } from "../../../common/challenge.ts";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
const TYPE_BASE = "https://gateway.zyxbank.example/problems/";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extension: string]: unknown;
}

export function problemOf(error: GatewayError): Problem {
  return {
    type: `${TYPE_BASE}${error.code}`,
    title: ERROR_TITLES[error.code],
    status: error.status,
    detail: error.message,
    ...error.extensions,
    code: error.code,
  };
}

/** RFC 6750 challenge for a 401: which realm, and why the token was refused. */
export function wwwAuthenticate(error: GatewayError): string {
  if (error.code === "token_missing") return 'Bearer realm="zyx-agent-gateway"';
  const description = challengeDescription(error.message);
  return `Bearer realm="zyx-agent-gateway", error="invalid_token", error_description="${description}"`;
}

/** Anything thrown, as the GatewayError the caller will see. */
export function asGatewayError(thrown: unknown): GatewayError {
  return isGatewayError(thrown)
    ? thrown
    : new GatewayError("internal_error", "the gateway failed; nothing was executed or changed", {
        cause: thrown,
      });
}

/** The problem document of `error` as a Response, with its 401 challenge and Retry-After. */
export function problemResponse(error: GatewayError): Response {
  const headers = new Headers({
    "content-type": PROBLEM_CONTENT_TYPE,
    "cache-control": "no-store",
  });
  if (error.status === 401) headers.set("www-authenticate", wwwAuthenticate(error));
  const retryAfter = error.extensions["retry_after"];
  if (typeof retryAfter === "number") headers.set("retry-after", String(retryAfter));
  return new Response(JSON.stringify(problemOf(error)), { status: error.status, headers });
}

/** The one error handler, for `app.onError`: every route's failures leave through it. */
export function problemHandler(log: Log): (thrown: Error, c: Context) => Response {
  return (thrown) => {
    if (!isGatewayError(thrown)) {
      log("error", "unexpected error", {
        error: thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown),
      });
    }
    return problemResponse(asGatewayError(thrown));
  };
}
