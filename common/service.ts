// What every long-running process of the project does the same way: one JSON log line per
// event on stderr, through pino, written synchronously so a line logged just before an exit is
// not lost ({"level":"info","time":"<ISO 8601>","service":...,"message":...,...fields}); and a
// graceful stop on SIGTERM/SIGINT (stop accepting, let calls in flight finish, close what must
// be flushed, exit; or exit 1 when the drain takes too long).

import { pino, type DestinationStream } from "pino";

export type LogLevel = "info" | "warn" | "error";
export type Log = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** The process's logger; `destination` defaults to stderr (tests pass a stream). */
export function jsonLog(
  service: string,
  destination: DestinationStream = pino.destination({ dest: 2, sync: true }),
): Log {
  const logger = pino(
    {
      base: { service },
      messageKey: "message",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return (level, message, fields = {}) => {
    logger[level](fields, message);
  };
}

/**
 * Timeouts for every HTTP server of the project (gateway, worker, IdP, agent runtime): a client
 * that sends its headers slowly, or stalls its body, is cut off instead of holding a socket for
 * Node's default five minutes. Long answers (the approvals' bounded long poll) are not limited:
 * these bound receiving the request, not computing the response.
 */
export const SERVER_TIMEOUTS = serverTimeouts(process.env);

/** The timeouts, each overridable from the environment (SERVER_*_MS), checked. */
export function serverTimeouts(env: Record<string, string | undefined>): {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  const ms = (name: string, fallback: number): number => {
    const raw = env[name];
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 100 || value > 600_000) {
      throw new TypeError(`${name} must be an integer from 100 to 600000 (milliseconds)`);
    }
    return value;
  };
  const requestTimeout = ms("SERVER_REQUEST_TIMEOUT_MS", 30_000);
  return {
    /** The whole header block must arrive within this. */
    headersTimeout: Math.min(ms("SERVER_HEADERS_TIMEOUT_MS", 10_000), requestTimeout),
    /** The whole request, body included, must arrive within this. */
    requestTimeout,
    /** An idle kept-alive connection is closed after this. */
    keepAliveTimeout: 5_000,
    /** How often Node looks for requests past their timeouts. */
    connectionsCheckingInterval: Math.min(1_000, requestTimeout),
  };
}

export interface Drainable {
  close(callback: () => void): unknown;
  closeIdleConnections?: () => void;
}

export function stopGracefullyOnSignals(
  server: Drainable,
  options: { log: Log; timeoutMs: number; afterDrain?: () => Promise<unknown> },
): void {
  const { log, timeoutMs } = options;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log("info", "draining", { signal });
    server.close(() => {
      (options.afterDrain?.() ?? Promise.resolve())
        .then(() => {
          log("info", "stopped");
          process.exit(0);
        })
        .catch((error: unknown) => {
          log("error", "close after drain failed", { error: String(error) });
          process.exit(1);
        });
    });
    server.closeIdleConnections?.();
    setTimeout(() => {
      log("error", "drain timed out");
      process.exit(1);
    }, timeoutMs).unref();
  };
  process.on("SIGTERM", () => {
    stop("SIGTERM");
  });
  process.on("SIGINT", () => {
    stop("SIGINT");
  });
}
