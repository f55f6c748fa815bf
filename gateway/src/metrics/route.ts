// GET /metrics: the Prometheus text exposition, for the platform's scraper only.
//
// Invariants: answered only to a caller presenting `Authorization: Bearer <METRICS_TOKEN>`
// (compared in constant time); no token configured means the route answers 404 as if absent,
// so agents never read it. Failure modes: a missing bearer is token_missing (401), a wrong one
// token_invalid (401); a failing scrape is an internal error (500), never partial text.
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { GatewayError } from "../lib/errors.ts";
import type { GatewayMetrics } from "./gateway-metrics.ts";

const digest = (text: string) => createHash("sha256").update(text).digest();

export function metricsHandler(metrics: GatewayMetrics | undefined, token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token);
  return async (c: Context) => {
    if (metrics === undefined || expected === undefined) {
      throw new GatewayError("route_not_found", "no such route");
    }
    const authorization = c.req.header("authorization");
    const match = /^Bearer (\S+)$/i.exec(authorization ?? "");
    if (match?.[1] === undefined) {
      throw new GatewayError("token_missing", "the metrics scraper's bearer token is required");
    }
    if (!timingSafeEqual(digest(match[1]), expected)) {
      throw new GatewayError("token_invalid", "not the metrics scraper's token");
    }
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { "content-type": contentType, "cache-control": "no-store" });
  };
}
