// One small HTTP client for the Atlassian Cloud REST APIs (Jira and Confluence): plain fetch,
// Basic auth (email and API token), a timeout per attempt, bounded retries with p-retry, and the
// port's error codes.
//
// Retries (p-retry, exponential backoff with jitter, `retries` + 1 attempts at most):
// - 429 is always retried: the request was not processed.
// - 503 is always retried too: Atlassian answers it when it sheds load, with Retry-After.
// - Other 5xx answers and network failures are retried only for idempotent requests (GET). A
//   POST that failed that way may or may not have been applied (Jira has no idempotency key for
//   comments), so it is not sent twice; a connection that was refused never reached the server
//   and is retried for every method.
// - A timeout is not retried: the timeout is the whole budget of one attempt and the caller has
//   its own deadline. It becomes connector_timeout.
// - Retry-After (delta-seconds or an HTTP date) is honoured: the wait before the next attempt
//   is at least what the server asked for. A server that asks for more than `maxRetryAfterMs`
//   is not waited for: the call fails at once (connector_rate_limited / connector_unavailable).
// - The gateway's deadline for the call (connectors/deadline.ts) bounds it all: an attempt in
//   flight is aborted when it passes (connector_timeout), no retry starts after it, and a
//   Retry-After longer than what is left fails at once.
//
// Error messages name the connector, the method, the path (never the query, never a header) and
// the system's own error text, with the credential redacted should a system ever echo it.
import pRetry, { AbortError } from "p-retry";
import { callDeadline, remainingMs, withCallDeadline } from "../deadline.ts";
import { NOT_SENT_CODES, networkCode } from "../network.ts";
import { ConnectorError, type ConnectorErrorCode } from "../port.ts";

export type AtlassianConnector = "jira" | "confluence";

export const HTTP_DEFAULTS = {
  timeoutMs: 10_000,
  retries: 3,
  minBackoffMs: 500,
  maxBackoffMs: 8_000,
  maxRetryAfterMs: 30_000,
  maxResponseBytes: 5 * 1024 * 1024,
} as const;

export interface AtlassianHttpOptions {
  connector: AtlassianConnector;
  /** Site root such as https://zyx-bank.atlassian.net (checked by `normalizeBaseUrl`). */
  baseUrl: string;
  email: string;
  apiToken: string;
  /** Per attempt, headers and body included. */
  timeoutMs?: number;
  /** Retries after the first attempt. */
  retries?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The longest Retry-After that is waited for. */
  maxRetryAfterMs?: number;
  maxResponseBytes?: number;
  fetch?: typeof fetch;
}

export interface AtlassianRequest {
  method: "GET" | "POST" | "DELETE";
  /** Path from the site root, already percent-encoded, optionally with a query. */
  path: string;
  query?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
}

export interface AtlassianHttp {
  readonly baseUrl: string;
  /** The parsed JSON answer of a 2xx response. */
  request(request: AtlassianRequest): Promise<unknown>;
}

export function basicAuthorization(email: string, apiToken: string): string {
  return `Basic ${Buffer.from(`${email}:${apiToken}`, "utf8").toString("base64")}`;
}

/**
 * Milliseconds to wait from a Retry-After value: delta-seconds or an HTTP date (RFC 9110
 * 10.2.3). Undefined when absent or unreadable; 0 for a date in the past.
 */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^[0-9]{1,10}$/.test(text)) return Number(text) * 1000;
  // An HTTP date names its weekday and month; a bare number or garbage is not one.
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001F\u007F]+/g;

/** Keeps a system's error text short, on one line, and free of our credential. */
function sanitize(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) {
    if (secret !== "") clean = clean.split(secret).join("[redacted]");
  }
  clean = clean.replace(CONTROL_CHARACTERS, " ").replace(/\s+/g, " ").trim();
  return clean.length > 300 ? `${clean.slice(0, 297)}...` : clean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The human-readable part of an Atlassian error body: Jira's
 * {"errorMessages":[...],"errors":{"field":"..."}} or Confluence's {"message":"..."}; short
 * plain text otherwise; "" for HTML pages and empty bodies.
 */
export function atlassianErrorText(body: string): string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    const trimmed = body.trim();
    return trimmed.startsWith("<") ? "" : trimmed;
  }
  if (!isRecord(json)) return "";
  const parts: string[] = [];
  const errorMessages = json["errorMessages"];
  if (Array.isArray(errorMessages)) {
    for (const message of errorMessages) if (typeof message === "string") parts.push(message);
  }
  const errors = json["errors"];
  if (isRecord(errors)) {
    for (const [field, message] of Object.entries(errors)) {
      if (typeof message === "string") parts.push(`${field}: ${message}`);
    }
  }
  const message = json["message"];
  if (typeof message === "string") parts.push(message);
  return parts.join("; ");
}

function codeForStatus(status: number): ConnectorErrorCode {
  if (status === 401) return "connector_unauthorized";
  if (status === 403) return "connector_forbidden";
  if (status === 404) return "connector_not_found";
  if (status === 429) return "connector_rate_limited";
  if (status >= 500) return "connector_unavailable";
  if (status >= 400) return "connector_rejected";
  return "connector_bad_response";
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createAtlassianHttp(options: AtlassianHttpOptions): AtlassianHttp {
  const connector = options.connector;
  const baseUrl = options.baseUrl;
  const timeoutMs = options.timeoutMs ?? HTTP_DEFAULTS.timeoutMs;
  const retries = options.retries ?? HTTP_DEFAULTS.retries;
  const minBackoffMs = options.minBackoffMs ?? HTTP_DEFAULTS.minBackoffMs;
  const maxBackoffMs = Math.max(minBackoffMs, options.maxBackoffMs ?? HTTP_DEFAULTS.maxBackoffMs);
  const maxRetryAfterMs = options.maxRetryAfterMs ?? HTTP_DEFAULTS.maxRetryAfterMs;
  const maxResponseBytes = options.maxResponseBytes ?? HTTP_DEFAULTS.maxResponseBytes;
  const fetchImpl = options.fetch ?? fetch;
  const authorization = basicAuthorization(options.email, options.apiToken);
  const secrets = [options.apiToken, authorization.slice("Basic ".length)];

  for (const [name, value] of [
    ["timeoutMs", timeoutMs],
    ["retries", retries],
    ["minBackoffMs", minBackoffMs],
    ["maxRetryAfterMs", maxRetryAfterMs],
    ["maxResponseBytes", maxResponseBytes],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new Error(`${connector}: ${name} must be a non-negative integer`);
    }
  }
  if (timeoutMs === 0) throw new Error(`${connector}: timeoutMs must be positive`);
  // Basic credentials cannot carry a colon in the user part, nor anything a header refuses.
  if (!/^[^\s:@]+@[^\s:@]+$/.test(options.email)) {
    throw new Error(`${connector}: the email is not an email address`);
  }
  if (!/^[\x21-\x7E]+$/.test(options.apiToken)) {
    throw new Error(`${connector}: the API token is empty or holds spaces or non-ASCII characters`);
  }

  function failure(
    code: ConnectorErrorCode,
    message: string,
    status?: number,
    cause?: unknown,
  ): ConnectorError {
    const extra: { status?: number; cause?: unknown } = {};
    if (status !== undefined) extra.status = status;
    if (cause !== undefined) extra.cause = cause;
    return new ConnectorError(connector, code, sanitize(message, secrets), extra);
  }

  async function readBody(response: Response, what: string): Promise<string> {
    if (response.body === null) return "";
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxResponseBytes) {
        await reader.cancel().catch(() => undefined);
        throw new AbortError(
          failure(
            "connector_bad_response",
            `${what}: the answer is larger than ${maxResponseBytes} bytes`,
            response.status,
          ),
        );
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  async function request(req: AtlassianRequest): Promise<unknown> {
    if (!req.path.startsWith("/") || req.path.startsWith("//")) {
      throw new Error(`${connector}: request paths start with a single "/"`);
    }
    const url = new URL(baseUrl + req.path);
    for (const [key, value] of Object.entries(req.query ?? {})) url.searchParams.set(key, value);
    const what = `${connector}: ${req.method} ${url.pathname}`;
    const idempotent = req.method === "GET";
    const headers: Record<string, string> = {
      authorization,
      accept: "application/json",
      "user-agent": "zyx-agent-worker",
    };
    let body: string | undefined;
    if (req.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(req.body);
    }

    /** Set by a failed attempt that the server asked us to wait after. */
    let retryAfterMs: number | undefined;

    const attempt = async (): Promise<unknown> => {
      retryAfterMs = undefined;
      const signal = withCallDeadline(AbortSignal.timeout(timeoutMs));
      const init: RequestInit = { method: req.method, headers, signal, redirect: "manual" };
      if (body !== undefined) init.body = body;
      let response: Response;
      let text: string;
      try {
        response = await fetchImpl(url, init);
        text = await readBody(response, what);
      } catch (error) {
        if (error instanceof AbortError) throw error;
        if (signal.aborted) {
          throw new AbortError(
            failure(
              "connector_timeout",
              callDeadline()?.aborted === true
                ? `${what}: no answer before the gateway's deadline`
                : `${what}: no answer within ${timeoutMs} ms`,
              undefined,
              error,
            ),
          );
        }
        const code = networkCode(error);
        const unavailable = failure(
          "connector_unavailable",
          `${what}: network failure${code === undefined ? "" : ` (${code})`}`,
          undefined,
          error,
        );
        if (idempotent || (code !== undefined && NOT_SENT_CODES.has(code))) throw unavailable;
        throw new AbortError(unavailable);
      }

      const status = response.status;
      if (status >= 200 && status < 300) {
        if (status === 204 || text.trim() === "") return null;
        try {
          return JSON.parse(text) as unknown;
        } catch (error) {
          throw new AbortError(
            failure("connector_bad_response", `${what}: the answer is not JSON`, status, error),
          );
        }
      }
      if (status >= 300 && status < 400) {
        throw new AbortError(
          failure("connector_bad_response", `${what}: unexpected redirect (${status})`, status),
        );
      }

      const detail = atlassianErrorText(text);
      const message = `${what} answered ${status}${detail === "" ? "" : `: ${detail}`}`;
      const error = failure(codeForStatus(status), message, status);
      const retryable = status === 429 || status === 503 || (status >= 500 && idempotent);
      if (!retryable) throw new AbortError(error);

      const asked = parseRetryAfter(response.headers.get("retry-after"));
      if (asked !== undefined && (asked > maxRetryAfterMs || asked > remainingMs())) {
        throw new AbortError(
          failure(
            error.code,
            `${message} (asked to retry after ${Math.ceil(asked / 1000)} s, more than this connector waits: ${Math.ceil(maxRetryAfterMs / 1000)} s, and what is left before the gateway's deadline)`,
            status,
          ),
        );
      }
      retryAfterMs = asked;
      throw error;
    };

    const deadline = callDeadline();
    try {
      return await pRetry(attempt, {
        retries,
        minTimeout: minBackoffMs,
        maxTimeout: maxBackoffMs,
        factor: 2,
        randomize: true,
        // No retry after the gateway's deadline: it would run a write nobody waits for.
        maxRetryTime: remainingMs(),
        ...(deadline === undefined ? {} : { signal: deadline }),
        onFailedAttempt: async ({ retriesLeft, retryDelay }) => {
          // p-retry waits `retryDelay` next; top it up to what the server asked for.
          if (retriesLeft > 0 && retryAfterMs !== undefined && retryAfterMs > retryDelay) {
            await delay(retryAfterMs - retryDelay);
          }
        },
      });
    } catch (error) {
      if (error instanceof ConnectorError) throw error;
      if (deadline?.aborted === true) {
        throw failure(
          "connector_timeout",
          `${what}: the gateway's deadline passed`,
          undefined,
          error,
        );
      }
      throw failure("connector_unavailable", `${what}: unexpected failure`, undefined, error);
    }
  }

  return { baseUrl, request };
}
