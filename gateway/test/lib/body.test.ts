// limitBody on a real Node HTTP server and through app.request(): the Content-Length fast path
// (no WHATWG body stream built) refuses what it declares over the limit, the streaming path
// counts what it does not declare, and a declared length is never exceeded by what the handler
// reads. The protected handler never runs on a refusal.
import { request as httpRequest } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitBody } from "../../src/lib/body.ts";
import { isGatewayError } from "../../src/lib/errors.ts";

const LIMIT = 1_024;
let handled = 0;
const received: string[] = [];

function createApp(): Hono {
  const app = new Hono();
  app.post("/echo", limitBody(LIMIT), async (c) => {
    handled++;
    const text = await c.req.text();
    received.push(text);
    return c.text(text);
  });
  app.onError((thrown, c) =>
    isGatewayError(thrown)
      ? c.json({ code: thrown.code, detail: thrown.message }, 413)
      : c.json({ code: "internal_error" }, 500),
  );
  return app;
}

interface Answer {
  status: number;
  body: string;
}

/** One request over a real socket; `chunked` sends no Content-Length. */
function post(port: number, body: string, chunked: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        path: "/echo",
        method: "POST",
        headers: chunked
          ? { "transfer-encoding": "chunked" }
          : { "content-length": String(Buffer.byteLength(body)) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body: text });
        });
      },
    );
    req.on("error", reject);
    if (chunked) {
      // Several chunks, so the streaming count sees more than one piece.
      for (let i = 0; i < body.length; i += 300) req.write(body.slice(i, i + 300));
      req.end();
    } else req.end(body);
  });
}

describe("limitBody", () => {
  let server: ServerType;
  let port: number;

  beforeAll(async () => {
    server = serve({ fetch: createApp().fetch, hostname: "127.0.0.1", port: 0 });
    await new Promise((done) => server.once("listening", done));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.close();
  });

  it.each([
    ["declares its Content-Length", false],
    ["is sent chunked", true],
  ])("a body within the limit that %s reaches the handler whole", async (_, chunked) => {
    const body = `{"text":"${"é".repeat(400)}"}`;
    const before = handled;
    const answer = await post(port, body, chunked);
    expect(answer).toEqual({ status: 200, body });
    expect(handled).toBe(before + 1);
  });

  it.each([
    ["declares its Content-Length", false],
    ["is sent chunked", true],
  ])("a body over the limit that %s is 413 and the handler never runs", async (_, chunked) => {
    const before = handled;
    const answer = await post(port, "x".repeat(LIMIT + 1), chunked);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({
      code: "request_body_too_large",
      detail: `the request body exceeds ${String(LIMIT)} bytes`,
    });
    expect(handled).toBe(before);
  });

  it("a body longer than its declared Content-Length: the handler never reads past it", async () => {
    received.length = 0;
    // A raw socket: Node's own client would not send more than it declares.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.end(
          `POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello${"x".repeat(LIMIT * 4)}`,
        );
      });
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        text += chunk;
      });
      socket.on("end", () => {
        resolve(text);
      });
      socket.on("error", reject);
    });
    // Node answers the declared body, or refuses the trailing bytes as a malformed next request
    // first (400 on the connection); either way the handler saw at most the declared five bytes.
    expect(raw).toMatch(/^HTTP\/1\.1 (200|400) /);
    expect(received.every((text) => text === "hello")).toBe(true);
  });

  it("through app.request (no Node parser) a body sent without a length is counted", async () => {
    const before = handled;
    const response = await createApp().request("/echo", {
      method: "POST",
      body: "x".repeat(LIMIT + 1),
    });
    expect(response.status).toBe(413);
    expect(handled).toBe(before);
  });

  it("refuses a limit under 256 bytes at construction", () => {
    expect(() => limitBody(255)).toThrow("a body limit must be an integer of at least 256 bytes");
  });
});
