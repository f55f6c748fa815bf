// Reading request bodies: bounded before parsing, parsed against the route's contract schema.
//
// Invariants: no route reads a body without a byte limit (checked on Content-Length and again
// while streaming, before anything is parsed); a body over it is 413 request_body_too_large; a
// JSON route (limitJsonBody) reads only a body declared `Content-Type: application/json`, any
// other is 415 request_media_type_unsupported before the handler runs (a request without a body
// passes: the approve route takes none); a body that is not JSON or does not fit the schema is
// 400 request_malformed with its issues. The limit itself, and why it reads a declared
// Content-Length cheaply: common/body-limit.ts; the media-type rule: common/json-media-type.ts.
import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import { limitRequestBody } from "../../../common/body-limit.ts";
import { jsonBodyRefusal } from "../../../common/json-media-type.ts";
import { GatewayError } from "./errors.ts";

export function limitBody(maxBytes: number): MiddlewareHandler {
  if (!Number.isInteger(maxBytes) || maxBytes < 256) {
    throw new TypeError("a body limit must be an integer of at least 256 bytes");
  }
  return limitRequestBody({
    maxSize: maxBytes,
    onError: () => {
      throw new GatewayError(
        "request_body_too_large",
        `the request body exceeds ${String(maxBytes)} bytes`,
      );
    },
  });
}

/** 415 request_media_type_unsupported unless the body (if any) is application/json. */
export const requireJsonBody: MiddlewareHandler = async (c, next) => {
  const refusal = jsonBodyRefusal(c);
  if (refusal !== undefined) throw new GatewayError("request_media_type_unsupported", refusal);
  await next();
};

/**
 * A JSON route's body: at most `maxBytes` (413) and application/json (415), both before the
 * handler runs.
 */
export function limitJsonBody(maxBytes: number): MiddlewareHandler {
  const limit = limitBody(maxBytes);
  return (c, next) =>
    limit(c, async () => {
      await requireJsonBody(c, next);
    });
}

/** The issues of a failed zod parse, as problem documents list them. */
export function issuesOf(error: {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
}

/** `text` parsed as JSON (an empty body as `empty`), or request_malformed. */
export function parseJson(text: string, empty?: unknown): unknown {
  if (empty !== undefined && text.trim() === "") return empty;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError("request_malformed", "the request body is not JSON");
  }
}

/** `value` checked against `schema`, or request_malformed with `message` and the issues. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  message: string,
): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new GatewayError("request_malformed", message, {
      extensions: { issues: issuesOf(parsed.error) },
    });
  }
  return parsed.data;
}
