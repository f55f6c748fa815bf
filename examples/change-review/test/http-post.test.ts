// One contract for the runtime's two ways to POST (undici's request, the default, and fetch), on
// a real socket: what is sent, how the answer is read, and how a silent or absent server fails.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postWithFetch, postWithUndici, type PostJson } from "../src/http-post.ts";

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage["headers"];
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      seen.push({ method: request.method, url: request.url, headers: request.headers, body });
      if (request.url === "/silent") return; // never answers
      if (request.url === "/moved") {
        response.writeHead(307, { location: "/elsewhere" }).end();
        return;
      }
      if (request.url === "/text") {
        response.writeHead(502, { "content-type": "text/plain" }).end("bad gateway");
        return;
      }
      response
        .writeHead(429, { "content-type": "application/json", "Retry-After": "7" })
        .end(JSON.stringify({ code: "rate_limited", echo: body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe.each<[string, PostJson]>([
  ["undici", postWithUndici],
  ["fetch", postWithFetch(fetch)],
])("POST with %s", (_name, post) => {
  it("sends the headers and the body, and reads the status, a header and the JSON answer", async () => {
    const answer = await post(
      `${base}/v1/tools/jira_read`,
      { authorization: "Bearer t", "content-type": "application/json" },
      '{"arguments":{}}',
      2_000,
    );
    expect(answer.status).toBe(429);
    expect(answer.header("retry-after")).toBe("7");
    expect(answer.header("Retry-After")).toBe("7");
    expect(answer.header("x-absent")).toBeNull();
    expect(answer.body).toEqual({ code: "rate_limited", echo: '{"arguments":{}}' });
    expect(seen.at(-1)).toMatchObject({
      method: "POST",
      url: "/v1/tools/jira_read",
      headers: { authorization: "Bearer t", "content-type": "application/json" },
      body: '{"arguments":{}}',
    });
  });

  it("gives undefined for a body that is not JSON, with its status", async () => {
    const answer = await post(`${base}/text`, {}, "", 2_000);
    expect(answer).toMatchObject({ status: 502, body: undefined });
  });

  it("answers a redirect with its 3xx and never posts the body again elsewhere", async () => {
    const before = seen.length;
    const answer = await post(`${base}/moved`, { authorization: "Bearer t" }, "secret", 2_000);
    expect(answer).toMatchObject({ status: 307, body: undefined });
    expect(answer.header("location")).toBe("/elsewhere");
    expect(seen.slice(before).map((request) => request.url)).toEqual(["/moved"]);
  });

  it("rejects with a TimeoutError when the server does not answer in time", async () => {
    await expect(post(`${base}/silent`, {}, "x", 150)).rejects.toMatchObject({
      name: "TimeoutError",
    });
  });

  it("rejects with another error when nothing listens", async () => {
    const refused = post("http://127.0.0.1:1/", {}, "x", 2_000);
    await expect(refused).rejects.toBeInstanceOf(Error);
    await expect(refused).rejects.not.toMatchObject({ name: "TimeoutError" });
  });
});
