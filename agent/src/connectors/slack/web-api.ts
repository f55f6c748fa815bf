// The real Slack adapter: chat.postMessage (and chat.delete, a compensation) through @slack/web-api's WebClient.
//
// - `channel` is sent as "#name" (see shared.ts); Slack answers with the channel's ID and the
//   message's ts, which are returned.
// - The text is escaped (&, <, >) so that an agent cannot mention @channel or disguise a link;
//   unfurling is off.
// - Timeouts: WebClient's `timeout` (per attempt).
// - 503 and connections that never reached Slack: WebClient's own retries (`retryConfig`,
//   p-retry), `retries` times with exponential backoff from retryBaseDelayMs. Nothing whose
//   outcome is unknown is retried (another 5xx, a connection lost once the request went out, a
//   timeout): Slack may have posted it, and a retry would post it twice. Nor are 4xx statuses.
// - 429: WebClient would wait Retry-After without a bound (rejectRateLimitedCalls: false), and a
//   caller giving up meanwhile would not stop the post that follows. So rejectRateLimitedCalls is
//   true and this adapter waits Retry-After itself, at most rateLimitRetries times and never
//   longer than maxRetryAfterMs (a longer wait fails at once: connector_rate_limited).
// - Slack's errors ({"ok": false, "error": "..."} with HTTP 200) map as shared.ts platformError.
import { deadlineFetch, remainingMs } from "../deadline.ts";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ErrorCode,
  LogLevel,
  WebClient,
  type Logger,
  type RetryOptions,
  type ChatDeleteResponse,
  type ChatPostMessageResponse,
  type KnownBlock,
} from "@slack/web-api";
import { neverSent } from "../network.ts";
import { ConnectorError, type SlackPort } from "../port.ts";
import { channelArgument, escapeSlackText, platformError, slackError } from "./shared.ts";

export interface SlackWebApiOptions {
  /** Slack's Web API base URL, e.g. https://slack.com/api/ */
  apiUrl: string;
  /** A bot token (xoxb-...) with the chat:write scope. */
  token: string;
  /** Per attempt (default 5000 ms). */
  timeoutMs?: number;
  /** Retries after a 503 or a connection that never reached Slack (default 2). */
  retries?: number;
  /** First retry wait; doubles each time (default 250 ms). */
  retryBaseDelayMs?: number;
  /** How many Retry-After waits per message (default 2). */
  rateLimitRetries?: number;
  /** The longest Retry-After honoured; a longer one fails at once (default 5000 ms). */
  maxRetryAfterMs?: number;
  /** The fetch underneath (default: the global fetch). */
  fetch?: typeof fetch;
}

function integer(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new TypeError(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

/** https, or http to this machine only (a fake server in tests): never a token in clear text. */
export function checkSlackApiUrl(value: string, variable: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${variable} is not a valid URL`);
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback))
    throw new TypeError(`${variable} must be an https URL (http only to localhost)`);
  if (url.username || url.password || url.search || url.hash)
    throw new TypeError(`${variable} must not carry credentials, a query or a fragment`);
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

const noop = (): void => undefined;
/** WebClient logs each failed attempt with console.warn; failures are reported as errors instead. */
const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  setLevel: noop,
  getLevel: () => LogLevel.ERROR,
  setName: noop,
};

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

function isTimeout(error: unknown): boolean {
  const original = field(error, "original");
  const name = field(original, "name");
  return name === "TimeoutError" || name === "AbortError";
}

export function createSlackWebApi(options: SlackWebApiOptions): SlackPort {
  const apiUrl = checkSlackApiUrl(options.apiUrl, "the Slack API URL");
  const token = options.token;
  if (token === "" || /\s/.test(token))
    throw new TypeError("the Slack token is empty or has whitespace");
  const timeoutMs = integer("timeoutMs", options.timeoutMs ?? 5_000, 1, 600_000);
  const retries = integer("retries", options.retries ?? 2, 0, 10);
  const retryBaseDelayMs = integer("retryBaseDelayMs", options.retryBaseDelayMs ?? 250, 0, 60_000);
  const rateLimitRetries = integer("rateLimitRetries", options.rateLimitRetries ?? 2, 0, 10);
  const maxRetryAfterMs = integer(
    "maxRetryAfterMs",
    options.maxRetryAfterMs ?? 5_000,
    0,
    3_600_000,
  );

  // WebClient hands retryConfig to p-retry, whose onFailedAttempt may stop the retries by
  // throwing (RetryOptions only types node-retry's part of it).
  const retryConfig: RetryOptions & { onFailedAttempt: (error: unknown) => void } = {
    retries,
    factor: 2,
    minTimeout: retryBaseDelayMs,
    maxTimeout: retryBaseDelayMs * 8,
    randomize: false,
    // Retried only when Slack cannot have acted: a 503 (shedding load, as Atlassian's client
    // treats it) or a connection that never reached it. After any other 5xx, a lost connection
    // or a timeout the post may be in the channel, and a retry would post it twice (only the
    // second message's handle would reach a post-hoc review's compensation).
    onFailedAttempt(error) {
      if (field(error, "statusCode") === 503) return;
      if (field(error, "code") === ErrorCode.RequestError && neverSent(field(error, "original"))) {
        return;
      }
      throw error;
    },
  };

  const client = new WebClient(token, {
    slackApiUrl: apiUrl,
    timeout: timeoutMs,
    retryConfig,
    rejectRateLimitedCalls: true,
    allowAbsoluteUrls: false,
    logger: silentLogger,
    // Every request is also aborted at the gateway's deadline for the call (connectors/deadline.ts).
    fetch: deadlineFetch(options.fetch ?? globalThis.fetch),
    // No queue in the client: a request it queued would start in the context of the one whose
    // end released it, under that call's deadline instead of its own. Slack's own rate limits
    // (429, handled below) bound the rate.
    maxRequestConcurrency: Number.POSITIVE_INFINITY,
  });

  return {
    async deleteMessage(channel: string, ts: string): Promise<{ channel: string; ts: string }> {
      // chat.delete of the bot's own message (chat:write). Not retried after a timeout either:
      // a second delete of a deleted message would only answer message_not_found.
      let result: ChatDeleteResponse;
      try {
        result = await client.chat.delete({ channel, ts });
      } catch (error) {
        const code = field(field(error, "data"), "error");
        if (field(error, "code") === ErrorCode.PlatformError && typeof code === "string") {
          throw platformError(code, "chat.delete");
        }
        throw toConnectorError(error, token);
      }
      if (result.channel !== channel || result.ts !== ts) {
        throw slackError(
          "connector_bad_response",
          "Slack's answer to chat.delete names another message",
        );
      }
      return { channel, ts };
    },

    async postMessage(channel, text, blocks): Promise<{ channel: string; ts: string }> {
      const args = {
        channel: channelArgument(channel),
        text: escapeSlackText(text),
        ...(blocks === undefined ? {} : { blocks: [...blocks] as unknown as KnownBlock[] }),
        unfurl_links: false,
        unfurl_media: false,
      };
      let result: ChatPostMessageResponse;
      for (let attempt = 0; ; attempt += 1) {
        try {
          result = await client.chat.postMessage(args);
          break;
        } catch (error) {
          const retryAfter = field(error, "retryAfter");
          if (
            field(error, "code") === ErrorCode.RateLimitedError &&
            typeof retryAfter === "number"
          ) {
            const waitMs = retryAfter * 1000;
            if (attempt < rateLimitRetries && waitMs <= Math.min(maxRetryAfterMs, remainingMs())) {
              await sleep(waitMs);
              continue;
            }
            throw slackError(
              "connector_rate_limited",
              `Slack rate limit reached for chat.postMessage; retry after ${retryAfter} s`,
              { status: 429, cause: error },
            );
          }
          throw toConnectorError(error, token);
        }
      }
      const answeredChannel = result.channel;
      const ts = result.ts;
      if (typeof answeredChannel !== "string" || typeof ts !== "string" || !/^\d+\.\d+$/.test(ts)) {
        throw slackError(
          "connector_bad_response",
          "Slack's answer to chat.postMessage has no channel or ts",
        );
      }
      return { channel: answeredChannel, ts };
    },
  };
}

/** Anything WebClient throws as a ConnectorError, without the token. */
export function toConnectorError(error: unknown, token: string): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const redact = (text: string): string => text.split(token).join("[redacted]").slice(0, 200);
  const code = field(error, "code");

  if (code === ErrorCode.PlatformError) {
    const slackCode = field(field(error, "data"), "error");
    // WebClient turns an answer that is not JSON into {"ok": false, "error": <the body>}.
    if (typeof slackCode !== "string" || !/^[a-z0-9_]{1,100}$/.test(slackCode)) {
      return slackError(
        "connector_bad_response",
        "Slack's answer to chat.postMessage is not JSON",
        {
          cause: error,
        },
      );
    }
    return platformError(slackCode);
  }
  if (code === ErrorCode.HTTPError) {
    const status = field(error, "statusCode");
    const options = typeof status === "number" ? { status, cause: error } : { cause: error };
    const message = `Slack answered chat.postMessage with HTTP ${String(status)}`;
    if (status === 401) return slackError("connector_unauthorized", message, options);
    if (status === 403) return slackError("connector_forbidden", message, options);
    if (status === 404) return slackError("connector_not_found", message, options);
    if (status === 429) return slackError("connector_rate_limited", message, options);
    if (typeof status === "number" && status >= 500)
      return slackError("connector_unavailable", message, options);
    return slackError("connector_rejected", message, options);
  }
  if (code === ErrorCode.RequestError) {
    if (isTimeout(error)) {
      return slackError("connector_timeout", "Slack did not answer chat.postMessage in time", {
        cause: error,
      });
    }
    const original = field(error, "original");
    const detail = field(original, "message");
    return slackError(
      "connector_unavailable",
      `Slack could not be reached: ${redact(typeof detail === "string" ? detail : "network error")}`,
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  // WebClient's answer to a 429 whose Retry-After it cannot read (not a number of seconds).
  if (message.startsWith("Retry header did not contain a valid timeout")) {
    return slackError("connector_rate_limited", "Slack rate limit reached for chat.postMessage", {
      status: 429,
      cause: error,
    });
  }
  return slackError(
    "connector_bad_response",
    `Slack's answer to chat.postMessage could not be read: ${redact(message)}`,
    { cause: error },
  );
}
