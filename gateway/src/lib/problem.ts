// RFC 9457 problem documents: every failure the gateway returns is one of these.
import type { GatewayError } from "./errors.ts";
import { ERROR_TITLES, type ErrorCode } from "./errors.ts";

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
  const description = error.message.replaceAll('"', "'").replaceAll("\\", "/");
  return `Bearer realm="zyx-agent-gateway", error="invalid_token", error_description="${description}"`;
}
