// A local stand-in for Slack's Web API, for tests and offline demos of the real adapter. It
// answers as slack.com/api does, from the fixture workspace (shared.ts):
//
//   POST /api/chat.postMessage   form-encoded (as WebClient sends it) or JSON
//   POST /api/chat.delete        a message this fake accepted (message_not_found otherwise)
//   POST /api/auth.test
//
// - The token: "Authorization: Bearer xoxb-..." (or a `token` form field). None is
//   {"ok":false,"error":"not_authed"}, a wrong one "invalid_auth"; a token without chat:write
//   (the `scopes` option) "missing_scope" with "needed" and "provided". All with HTTP 200, as
//   Slack does; x-oauth-scopes and x-accepted-oauth-scopes headers as Slack sends them.
// - An unknown method is {"ok":false,"error":"unknown_method"}.
// - `fault()` queues failures for the next requests: a status with headers and body (429 with
//   Retry-After is {"ok":false,"error":"ratelimited"}), a delay, a non-JSON body, a hang, or a
//   dropped connection; `applied` posts the message first (Slack did it, the answer was lost).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  DEFAULT_SLACK_WORKSPACE,
  createTsClock,
  loadWorkspace,
  simulateDelete,
  simulatePostMessage,
} from "../../src/connectors/slack/shared.ts";

export interface SlackFault {
  status?: number;
  headers?: Record<string, string>;
  /** JSON body; defaults to {"ok":false,"error":"ratelimited"} for 429, else {"ok":false}. */
  body?: unknown;
  /** Sent as is with this content type instead of JSON. */
  raw?: { contentType: string; text: string };
  /** Answer after this many milliseconds (the normal answer when no status is given). */
  delayMs?: number;
  /** Never answer (until close()). */
  hang?: boolean;
  /** Do what the request asks (post the message) before the fault answers: the answer is lost. */
  applied?: boolean;
  /** Close the connection instead of answering (after `applied`, if set). */
  drop?: boolean;
  /** How many requests this fault answers (default 1; Infinity for all). */
  times?: number;
}

export interface RecordedSlackRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  authorization: string | undefined;
  params: Record<string, unknown>;
  at: number;
}

export interface FakeSlackServer {
  /** The Web API base URL, ending in /api/. */
  url: string;
  requests: RecordedSlackRequest[];
  /** Messages the fake accepted: channel ID, ts and text as received. */
  messages: { channel: string; ts: string; text: string }[];
  /** Messages deleted through chat.delete, in order. */
  deleted: { channel: string; ts: string }[];
  fault(fault: SlackFault): void;
  /** Drops the queued faults, the recorded requests and the messages. */
  reset(): void;
  close(): Promise<void>;
}

export interface FakeSlackOptions {
  /** The bot token the server accepts. */
  token: string;
  /** The token's scopes (default ["chat:write"]). */
  scopes?: string[];
  workspacePath?: string;
  now?: () => number;
}

const MAX_BODY = 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseParams(contentType: string | undefined, body: string): Record<string, unknown> {
  if (contentType?.startsWith("application/json")) {
    const parsed: unknown = body === "" ? {} : JSON.parse(body);
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  }
  return Object.fromEntries(new URLSearchParams(body));
}

export async function startFakeSlackServer(options: FakeSlackOptions): Promise<FakeSlackServer> {
  const workspace = loadWorkspace(options.workspacePath ?? DEFAULT_SLACK_WORKSPACE);
  const scopes = options.scopes ?? ["chat:write"];
  const nextTs = createTsClock(options.now);
  const faults: SlackFault[] = [];
  const requests: RecordedSlackRequest[] = [];
  const messages: FakeSlackServer["messages"] = [];
  const deleted: FakeSlackServer["deleted"] = [];

  function send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "x-slack-req-id": `fake-${requests.length}`,
      "x-oauth-scopes": scopes.join(","),
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  function answer(method: string, params: Record<string, unknown>, authorization?: string) {
    const bearer = /^Bearer +(\S+)$/i.exec(authorization ?? "")?.[1];
    const token = bearer ?? (typeof params["token"] === "string" ? params["token"] : undefined);
    if (token === undefined) return { ok: false, error: "not_authed" };
    if (token !== options.token) return { ok: false, error: "invalid_auth" };
    if (method === "auth.test") {
      return {
        ok: true,
        url: `https://${workspace.team.domain}.slack.com/`,
        team: workspace.team.name,
        user: workspace.bot.name,
        team_id: workspace.team.id,
        user_id: workspace.bot.user_id,
        bot_id: workspace.bot.bot_id,
        is_enterprise_install: false,
      };
    }
    if (method === "chat.delete") return deleteMessage(params);
    if (method !== "chat.postMessage")
      return { ok: false, error: "unknown_method", req_method: method };
    if (!scopes.includes("chat:write")) {
      return {
        ok: false,
        error: "missing_scope",
        needed: "chat:write",
        provided: scopes.join(","),
      };
    }
    const channel = typeof params["channel"] === "string" ? params["channel"] : "";
    const text = typeof params["text"] === "string" ? params["text"] : "";
    if (channel === "") return { ok: false, error: "channel_not_found" };
    const result = simulatePostMessage(workspace, nextTs, channel, text);
    if (!result.ok) return result;
    messages.push({ channel: result.channel, ts: result.ts, text });
    return { ok: true, channel: result.channel, ts: result.ts, message: result.message };
  }

  function deleteMessage(params: Record<string, unknown>) {
    const channel = typeof params["channel"] === "string" ? params["channel"] : "";
    const ts = typeof params["ts"] === "string" ? params["ts"] : "";
    const result = simulateDelete(workspace, messages, channel, ts);
    if (!result.ok) return result;
    messages.splice(
      messages.findIndex((m) => m.channel === channel && m.ts === ts),
      1,
    );
    deleted.push({ channel, ts });
    return result;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const contentType = req.headers["content-type"];
    let params: Record<string, unknown> = {};
    try {
      params = parseParams(contentType, await readBody(req));
    } catch {
      send(res, 200, { ok: false, error: "invalid_json" });
      return;
    }
    requests.push({
      method: req.method ?? "",
      path: url.pathname,
      contentType,
      authorization: req.headers.authorization,
      params,
      at: Date.now(),
    });

    const fault = faults[0];
    if (fault !== undefined) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.shift();
      if (fault.hang) return;
      if (fault.applied === true) {
        const method = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname)?.[1];
        if (method !== undefined) answer(method, params, req.headers.authorization);
      }
      if (fault.drop === true) {
        req.socket.destroy();
        return;
      }
      const respond = (): void => {
        if (fault.status === undefined) {
          route(req, res, url, params);
        } else if (fault.raw) {
          res.writeHead(fault.status, { "content-type": fault.raw.contentType, ...fault.headers });
          res.end(fault.raw.text);
        } else {
          send(
            res,
            fault.status,
            fault.body ??
              (fault.status === 429 ? { ok: false, error: "ratelimited" } : { ok: false }),
            fault.headers,
          );
        }
      };
      if (fault.delayMs === undefined) respond();
      else setTimeout(respond, fault.delayMs);
      return;
    }
    route(req, res, url, params);
  }

  function route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    params: Record<string, unknown>,
  ): void {
    const method = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname)?.[1];
    if (method === undefined) {
      res.writeHead(404, { "content-type": "text/html; charset=utf-8" });
      res.end("<html><body>Not Found</body></html>");
      return;
    }
    const body = answer(method, params, req.headers.authorization);
    send(
      res,
      200,
      body,
      method === "chat.postMessage" ? { "x-accepted-oauth-scopes": "chat:write" } : {},
    );
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/api/`,
    requests,
    messages,
    deleted,
    fault(fault) {
      faults.push({ ...fault });
    },
    reset() {
      faults.length = 0;
      requests.length = 0;
      messages.length = 0;
      deleted.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
      });
    },
  };
}
