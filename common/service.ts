// What every long-running process of the project does the same way: one JSON log line per
// event on stderr, and a graceful stop on SIGTERM/SIGINT (stop accepting, let calls in flight
// finish, close what must be flushed, exit; or exit 1 when the drain takes too long).

export type LogLevel = "info" | "warn" | "error";
export type Log = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export function jsonLog(service: string): Log {
  return (level, message, fields = {}) => {
    console.error(
      JSON.stringify({ time: new Date().toISOString(), service, level, message, ...fields }),
    );
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
