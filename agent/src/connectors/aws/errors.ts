// EC2's errors, from the SDK or from the in-memory store, as the port's ConnectorError.
//
// EC2 names its errors by code (in the XML body: <Errors><Error><Code>); the SDK makes the code
// the error's `name` and keeps the HTTP status in `$metadata.httpStatusCode`. The code decides
// first, the status second:
//   InvalidGroup.NotFound (400)                          connector_not_found
//   UnauthorizedOperation (403)                          connector_forbidden
//   AuthFailure (401) and the other credential codes     connector_unauthorized
//   InvalidPermission.Duplicate / .NotFound (400)        connector_rejected
//   RequestLimitExceeded (503) and other throttling,
//   or 429, still failing after the SDK's retries        connector_rate_limited
//   5xx after the retries, or the network failed         connector_unavailable
//   TimeoutError (socket idle), the call's deadline      connector_timeout
//   an answer the SDK could not parse                    connector_bad_response
// Messages name the operation, the account and region, and EC2's code and words (which never
// hold credentials; secret-looking text is masked all the same).
import { redactSecrets } from "../../../../common/secrets.ts";
import { ConnectorError, type ConnectorErrorCode } from "../port.ts";
import { Ec2Fault } from "./store.ts";

const NOT_FOUND = new Set([
  "InvalidGroup.NotFound",
  "InvalidGroupId.NotFound",
  "InvalidVpcID.NotFound",
]);
const FORBIDDEN = new Set(["UnauthorizedOperation", "OptInRequired", "Blocked", "AccessDenied"]);
const UNAUTHORIZED = new Set([
  "AuthFailure",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "IncompleteSignature",
  "MissingAuthenticationToken",
  "ExpiredToken",
  "RequestExpired",
  "UnrecognizedClientException",
  "CredentialsProviderError",
]);
// The SDK's own list (THROTTLING_ERROR_CODES in @smithy/core/retry), as EC2 uses it.
const THROTTLED = new Set([
  "RequestLimitExceeded",
  "EC2ThrottledException",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "BandwidthLimitExceeded",
  "LimitExceededException",
  "SlowDown",
  "PriorRequestNotComplete",
]);
const TIMEOUT = new Set([
  "TimeoutError",
  "AbortError",
  "RequestTimeout",
  "RequestTimeoutException",
]);
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
]);

interface ErrorFacts {
  name: string;
  code: string | undefined;
  message: string;
  status: number | undefined;
}

function facts(error: unknown): ErrorFacts {
  if (error instanceof Ec2Fault) {
    return { name: error.code, code: error.code, message: error.message, status: error.status };
  }
  if (typeof error !== "object" || error === null) {
    return { name: "Error", code: undefined, message: String(error), status: undefined };
  }
  const record = error as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const status = record.$metadata?.httpStatusCode;
  return {
    name: typeof record.name === "string" ? record.name : "Error",
    code: typeof record.code === "string" ? record.code : undefined,
    message: typeof record.message === "string" ? record.message : "",
    status: typeof status === "number" ? status : undefined,
  };
}

function classify({ name, code, message, status }: ErrorFacts): ConnectorErrorCode {
  if (TIMEOUT.has(name) || code === "ETIMEDOUT" || code === "ABORT_ERR") return "connector_timeout";
  if (NOT_FOUND.has(name)) return "connector_not_found";
  if (FORBIDDEN.has(name)) return "connector_forbidden";
  if (UNAUTHORIZED.has(name)) return "connector_unauthorized";
  if (THROTTLED.has(name) || status === 429) return "connector_rate_limited";
  if (status !== undefined) {
    if (status >= 200 && status < 300) return "connector_bad_response"; // unreadable 2xx answer
    if (status === 401) return "connector_unauthorized";
    if (status === 403) return "connector_forbidden";
    if (status === 404) return "connector_not_found";
    if (status >= 500) return "connector_unavailable";
    return "connector_rejected";
  }
  if (message.includes("Deserialization error") || name === "SyntaxError") {
    return "connector_bad_response";
  }
  if (code !== undefined && NETWORK.has(code)) return "connector_unavailable";
  return "connector_unavailable";
}

/** The port's error for a failed EC2 call; a ConnectorError passes through unchanged. */
export function toConnectorError(error: unknown, operation: string): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const found = facts(error);
  const code = classify(found);
  const detail =
    code === "connector_timeout"
      ? "no answer in time"
      : code === "connector_bad_response"
        ? `unreadable answer: ${found.message.split("\n")[0] ?? ""}`
        : `${found.name}: ${found.message}`;
  const message = redactSecrets(`AWS EC2 ${operation}: ${detail}`).text;
  // The cause travels (never into a message): whether a failed change ever left this machine
  // decides whether its outcome is unknown (connectors/network.ts writeNotApplied).
  return new ConnectorError(
    "aws",
    code,
    message,
    found.status === undefined ? { cause: error } : { status: found.status, cause: error },
  );
}
