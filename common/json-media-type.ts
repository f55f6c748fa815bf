// Which request bodies a JSON route reads: only those declared `Content-Type: application/json`.
// Used by the gateway (gateway/src/lib/body.ts, mcp/door.ts) and the agent worker.
//
// Why: a JSON body sent as text/plain (or with no Content-Type) is a "simple" cross-site request
// that a browser sends without a CORS preflight, and a body labelled one thing but read as
// another is how parsers in front of a service (a WAF, a proxy's body inspection) and the service
// itself come to disagree. A route that reads JSON refuses anything else, before it reads a byte.
//
// The rule, on headers alone (so the fast path of common/body-limit.ts stays cheap):
//   - `Content-Type` whose media type is application/json (case-insensitive; parameters allowed,
//     a charset only if UTF-8, RFC 8259 §8.1): accepted;
//   - no body at all (Content-Length: 0, or a request that carries none: a POST with nothing to
//     send, as `POST /v1/approvals/{id}/approve` is): accepted whatever its Content-Type, since
//     there is nothing to misread;
//   - anything else (text/plain, a form, no Content-Type with a body, an unparseable header):
//     refused.
import type { Context } from "hono";
import { servedByNode } from "./body-limit.ts";

/** RFC 9110 token characters, for the type and subtype of a media type. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DECIMAL = /^[0-9]{1,15}$/;

/** The media type of a Content-Type header, lower-cased ("type/subtype"), or undefined. */
export function mediaTypeOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const essence = (header.split(";", 1)[0] ?? "").trim();
  const [type, subtype, ...rest] = essence.split("/");
  if (rest.length > 0 || type === undefined || subtype === undefined) return undefined;
  if (!TOKEN.test(type) || !TOKEN.test(subtype)) return undefined;
  return `${type}/${subtype}`.toLowerCase();
}

/** The charset parameter of a Content-Type header, lower-cased and unquoted, if any. */
function charsetOf(header: string): string | undefined {
  for (const parameter of header.split(";").slice(1)) {
    const at = parameter.indexOf("=");
    if (at < 0) continue;
    if (parameter.slice(0, at).trim().toLowerCase() !== "charset") continue;
    return parameter
      .slice(at + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
  }
  return undefined;
}

/** `Content-Type: application/json`, with any parameters, a charset only if UTF-8. */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  if (header === "application/json") return true;
  if (mediaTypeOf(header) !== "application/json") return false;
  const charset = charsetOf(header);
  return charset === undefined || charset === "utf-8" || charset === "utf8";
}

/**
 * Whether the request may carry a body. Node's HTTP/1 parser gives a request a body only when it
 * declares one (Content-Length above 0, or Transfer-Encoding); any other request (app.request(),
 * another adapter) is judged by whether it has a body stream at all. Unsure: a body.
 */
export function mayHaveBody(c: Context): boolean {
  const length = c.req.header("content-length");
  const chunked = c.req.header("transfer-encoding") !== undefined;
  if (length !== undefined && !chunked && DECIMAL.test(length)) return Number(length) > 0;
  if (chunked || length !== undefined) return true;
  // RFC 9112 §6.3: neither header, no body (Node's parser reads none).
  if (servedByNode(c.env)) return false;
  return c.req.raw.body !== null;
}

/**
 * Why this request's body may not be read as JSON, or undefined when it may (or has none).
 * The reason names the media type received, never more of the header.
 */
export function jsonBodyRefusal(c: Context): string | undefined {
  const header = c.req.header("content-type");
  if (isJsonContentType(header)) return undefined;
  if (!mayHaveBody(c)) return undefined;
  if (header === undefined) {
    return "the request body has no Content-Type: send it as application/json";
  }
  const type = mediaTypeOf(header);
  if (type === "application/json") {
    return "a JSON request body is UTF-8: send application/json without another charset";
  }
  return type === undefined
    ? "the request's Content-Type does not parse: send the body as application/json"
    : `the request body is ${type}: send it as application/json`;
}
