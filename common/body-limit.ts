// A request body limit for Hono routes served by @hono/node-server, cheap on the common case.
// Used by the gateway (gateway/src/lib/body.ts) and the agent worker.
//
// Invariant: the handler never reads more than `maxSize` bytes. A request that declares a
// Content-Length (plain digits, no Transfer-Encoding) and arrived through Node's HTTP server is
// judged on that header alone and its body left unread: Node's parser holds the body to exactly
// the declared length, and the handler's `c.req.text()` or `json()` then takes the adapter's
// direct read. Hono's own bodyLimit touches `c.req.raw.body` first on every request, which builds
// a whole WHATWG Request and stream per call (issue 18: about a fifth of the gateway's CPU per
// call). Every other request (chunked, a Content-Length that is not plain digits, a Request not
// from Node's server, as in app.request()) goes through hono's bodyLimit, which counts the bytes
// while streaming.
import { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

export interface BodyLimitOptions {
  /** Largest body accepted, in bytes. */
  maxSize: number;
  /** The answer to a larger body (or throw). The handler does not run. */
  onError: (c: Context) => Response | Promise<Response>;
}

/** A Content-Length the fast path trusts: digits only, short enough to be a safe integer. */
const DECIMAL = /^[0-9]{1,15}$/;

/** Served by @hono/node-server over HTTP/1: Node's parser reads exactly the declared length. */
export function servedByNode(env: unknown): boolean {
  return (
    typeof env === "object" &&
    env !== null &&
    "incoming" in env &&
    env.incoming instanceof IncomingMessage
  );
}

export function limitRequestBody(options: BodyLimitOptions): MiddlewareHandler {
  const { maxSize, onError } = options;
  if (!Number.isSafeInteger(maxSize) || maxSize < 0) {
    throw new TypeError("maxSize must be a non-negative safe integer");
  }
  const streaming = bodyLimit({ maxSize, onError });
  return async (c, next) => {
    const length = c.req.header("content-length");
    if (
      !servedByNode(c.env) ||
      length === undefined ||
      !DECIMAL.test(length) ||
      c.req.header("transfer-encoding") !== undefined
    ) {
      return streaming(c, next);
    }
    if (Number(length) > maxSize) return onError(c);
    await next();
  };
}
