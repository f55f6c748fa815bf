// The official MCP SDK client (Client + StreamableHTTPClientTransport) connected to a gateway:
// over a real socket (a URL), or to an in-process app through its fetch; and a hand-written
// POST /mcp as the engineer, for bodies and headers the SDK's client would never send.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Harness } from "../support/harness.ts";

/** POST /mcp as the engineer, verified token and posture; `body` a string is sent as is. */
export async function postAsEngineer(
  h: Harness,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return h.app.request("http://gateway.test/mcp", {
    method: "POST",
    headers: {
      authorization: `Bearer ${await h.accessToken()}`,
      "x-device-posture": await h.postureToken(),
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export interface McpConnection {
  client: Client;
  transport: StreamableHTTPClientTransport;
  close(): Promise<void>;
}

export async function connectMcp(options: {
  url: string;
  authorization: string;
  posture: string;
  clientName?: string;
  fetch?: (url: string | URL, init?: RequestInit) => Promise<Response>;
}): Promise<McpConnection> {
  const transport = new StreamableHTTPClientTransport(new URL(options.url), {
    requestInit: {
      headers: { authorization: options.authorization, "x-device-posture": options.posture },
    },
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  const client = new Client({ name: options.clientName ?? "zyx-test-client", version: "1.0.0" });
  await client.connect(transport);
  return {
    client,
    transport,
    close: async () => {
      await client.close();
    },
  };
}

/** The structuredContent of a tools/call result, as a plain record. */
export function structured(result: unknown): Record<string, unknown> {
  const content = (result as { structuredContent?: unknown }).structuredContent;
  if (typeof content !== "object" || content === null) throw new Error("no structuredContent");
  return content as Record<string, unknown>;
}
