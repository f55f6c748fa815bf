// MCP sessions without server state: the door runs the Streamable HTTP transport stateless (a
// fresh server per request, so any replica answers any request), and issues at initialize an
// Mcp-Session-Id that carries what the audit wants to know of the connection: a random id and
// the client's declared name. `<uuid>.<base64url(client name)>`, visible ASCII only.
//
// Invariants: the session id is a LABEL, never authority. Identity comes from the token and the
// posture of every request; the client name is what the client declared in `initialize`
// (recorded as such, like the REST door's session_id). A session id that does not parse is
// refused (404, as MCP says for an unknown session: the client starts a new one).
import { createHash, randomUUID } from "node:crypto";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64URL = /^[A-Za-z0-9_-]{0,200}$/;
/** Printable, no controls: what a client name may be once decoded. */
const CLIENT_NAME = /^[\x20-\x7E]{1,100}$/;

export interface McpSession {
  id: string;
  /** The id the pipeline records and keys the session's taint on. */
  pipelineSessionId: string;
  client: string | undefined;
}

function clientName(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.slice(0, 100);
  return CLIENT_NAME.test(trimmed) ? trimmed : undefined;
}

/**
 * The verified caller's part of a pipeline session id. The header is a label anyone holding it
 * can send: keyed on the uuid alone, another user presenting it shared the session's taint.
 */
function actorTag(actor: string): string {
  return createHash("sha256").update(actor).digest("hex").slice(0, 32);
}

/** A new session for a client that declared `name` in initialize (anything else: no name). */
export function newSession(name: unknown, actor: string): McpSession {
  const uuid = randomUUID();
  const client = clientName(name);
  const encoded = Buffer.from(client ?? "", "utf8").toString("base64url");
  return { id: `${uuid}.${encoded}`, pipelineSessionId: `mcp:${uuid}:${actorTag(actor)}`, client };
}

/** The session a client sent back; undefined when the header does not parse (refuse it). */
export function parseSession(header: string, actor: string): McpSession | undefined {
  const dot = header.indexOf(".");
  if (dot < 0) return undefined;
  const uuid = header.slice(0, dot);
  const encoded = header.slice(dot + 1);
  if (!UUID.test(uuid) || !BASE64URL.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, "base64url").toString("utf8");
  const client = decoded === "" ? undefined : clientName(decoded);
  if (decoded !== "" && client === undefined) return undefined;
  return { id: header, pipelineSessionId: `mcp:${uuid}:${actorTag(actor)}`, client };
}

/**
 * The calls of a client that sent no session: one session per verified user and agent (`actor`,
 * session.ts actorKey), so that an approval asked for in one call can be used by the next (an
 * approval is bound to its session) and the session's taint spans them, as the actor's does.
 */
export function sessionless(actor: string): McpSession {
  return { id: "", pipelineSessionId: `mcp:sessionless:${actorTag(actor)}`, client: undefined };
}
