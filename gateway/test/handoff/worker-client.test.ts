// The hand-off client against a real HTTP server on loopback: timeouts, refusals, and a worker
// that is not there, each a stable gateway error.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpWorkerClient } from "../../src/handoff/worker-client.ts";

const signer = { kid: "k", ttlSec: 30, sign: () => Promise.resolve("header.payload.signature") };
const call = {
  tool: "jira_read" as const,
  arguments: { ticket: "CHG-18422" },
  argumentsDigest: "0".repeat(64),
  decisionId: "d-1",
  traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
  user: "engineer@zyxbank.example",
  agent: "change-reviewer",
};

const evidence = {
  untrusted: true,
  redactions: 0,
  injection: { suspected: false, indicators: [] },
};

let server: Server | undefined;

async function listen(handler: Parameters<typeof createServer>[1]): Promise<URL> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return new URL(`http://127.0.0.1:${port}/`);
}

afterEach(async () => {
  const open = server;
  server = undefined;
  if (open === undefined) return;
  open.closeAllConnections();
  await new Promise((resolve) => open.close(resolve));
});

describe("worker client", () => {
  it("sends the call token, the trace and the arguments, and returns the result", async () => {
    let seen: { url?: string; auth?: string; traceparent?: string; body?: string } = {};
    const baseUrl = await listen((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        seen = {
          url: req.url ?? "",
          auth: req.headers.authorization ?? "",
          traceparent: String(req.headers["traceparent"]),
          body,
        };
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ result: { ok: 1 }, evidence }));
      });
    });
    const client = createHttpWorkerClient({ baseUrl, timeoutMs: 2_000, signer });
    await expect(client.execute(call)).resolves.toEqual({ result: { ok: 1 }, evidence });
    expect(seen).toEqual({
      url: "/v1/execute/jira_read",
      auth: "Bearer header.payload.signature",
      traceparent: call.traceparent,
      body: JSON.stringify({
        arguments: call.arguments,
        decision_id: "d-1",
        trace_id: "a".repeat(32),
      }),
    });
    await expect(client.ready()).resolves.toBe(true); // this server answers 200 on /healthz too
  });

  it("502 worker_failed when the answer lacks the output guard's verdict", async () => {
    const baseUrl = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end('{"result":{"ok":1}}');
    });
    const client = createHttpWorkerClient({ baseUrl, timeoutMs: 2_000, signer });
    await expect(client.execute(call)).rejects.toMatchObject({
      code: "worker_failed",
      message: "the agent worker answered without its output guard's verdict",
    });
  });

  it("hands the signer its own wait, for the worker's deadline", async () => {
    const seen: unknown[] = [];
    const recording = {
      ...signer,
      sign: (claims: unknown) => {
        seen.push(claims);
        return Promise.resolve("header.payload.signature");
      },
    };
    const baseUrl = await listen((_req, res) => {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ result: { ok: 1 }, evidence }));
    });
    const client = createHttpWorkerClient({ baseUrl, timeoutMs: 1_234, signer: recording });
    await client.execute(call);
    expect(seen).toMatchObject([{ decisionId: "d-1", timeoutMs: 1_234 }]);
  });

  it("504 worker_timeout when the worker does not answer in time", async () => {
    const baseUrl = await listen(() => undefined); // never answers
    const client = createHttpWorkerClient({ baseUrl, timeoutMs: 150, signer });
    await expect(client.execute(call)).rejects.toMatchObject({
      code: "worker_timeout",
      status: 504,
      message: "the agent worker did not answer within 150 ms",
    });
  });

  it("502 worker_failed with the worker's own code when it refuses", async () => {
    const baseUrl = await listen((_req, res) => {
      res.writeHead(409, { "content-type": "application/problem+json" }).end(
        JSON.stringify({
          type: "https://agent-worker.zyxbank.example/problems/call_token_replayed",
          title: "Call token already used",
          status: 409,
          detail: "m",
          code: "call_token_replayed",
        }),
      );
    });
    const client = createHttpWorkerClient({ baseUrl, timeoutMs: 2_000, signer });
    await expect(client.execute(call)).rejects.toMatchObject({
      code: "worker_failed",
      status: 502,
      message: "the agent worker refused or failed the call (409 call_token_replayed)",
      extensions: { worker_status: 409, worker_code: "call_token_replayed" },
    });
  });

  it("502 worker_unavailable when nothing listens", async () => {
    const baseUrl = await listen(() => undefined);
    const open = server;
    server = undefined;
    await new Promise((resolve) => open?.close(resolve));
    const client = createHttpWorkerClient({ baseUrl, timeoutMs: 2_000, signer });
    await expect(client.execute(call)).rejects.toMatchObject({
      code: "worker_unavailable",
      status: 502,
    });
    await expect(client.ready()).resolves.toBe(false);
  });

  it("504 worker_timeout when the worker trickles its answer past the deadline", async () => {
    const baseUrl = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      // One byte every 50 ms: never idle long enough for an idle timeout, never done in time.
      const timer = setInterval(() => res.write(" "), 50);
      res.on("close", () => {
        clearInterval(timer);
      });
    });
    const client = createHttpWorkerClient({ baseUrl, timeoutMs: 300, signer });
    await expect(client.execute(call)).rejects.toMatchObject({
      code: "worker_timeout",
      status: 504,
    });
  });

  /** A client that reads at most 1 KiB of an answer. */
  const boundedClient = (baseUrl: URL, timeoutMs: number) =>
    createHttpWorkerClient({ baseUrl, timeoutMs, signer, maxResponseBytes: 1_024 });

  it("502 worker_failed for an answer over the size bound, declared or streamed", async () => {
    const big = JSON.stringify({ result: "x".repeat(4_096), evidence });
    const declared = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(big);
    });
    const client = boundedClient(declared, 2_000);
    await expect(client.execute(call)).rejects.toMatchObject({
      code: "worker_failed",
      message: "the agent worker's answer is larger than 1024 bytes",
    });
    const open = server;
    open?.closeAllConnections();
    await new Promise((resolve) => open?.close(resolve));
    const chunked = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }); // no content-length
      for (let i = 0; i < 8; i++) res.write(big.slice(i * 600, (i + 1) * 600));
      res.end(big.slice(4_800));
    });
    const streamed = boundedClient(chunked, 2_000);
    await expect(streamed.execute(call)).rejects.toMatchObject({ code: "worker_failed" });
    // Under the bound, the same answer is read whole.
    const roomy = createHttpWorkerClient({ baseUrl: chunked, timeoutMs: 2_000, signer });
    await expect(roomy.execute(call)).resolves.toMatchObject({ evidence });
  });

  it("502 worker_failed at once for an answer that declares more than the bound, even if it stalls", async () => {
    const stalling = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "10000000" });
      res.write("{");
    });
    const client = boundedClient(stalling, 1_000);
    // Refused on the header (waiting for the body would end in worker_timeout).
    await expect(client.execute(call)).rejects.toMatchObject({
      code: "worker_failed",
      message: "the agent worker's answer is larger than 1024 bytes",
    });
    await client.close();
  });

  it("checks its options at construction", () => {
    expect(() =>
      createHttpWorkerClient({ baseUrl: new URL("http://x/"), timeoutMs: 0, signer }),
    ).toThrow("timeoutMs must be a positive integer");
    expect(() =>
      createHttpWorkerClient({
        baseUrl: new URL("http://x/"),
        timeoutMs: 10,
        signer,
        maxResponseBytes: 0,
      }),
    ).toThrow("maxResponseBytes must be a positive integer");
  });
});
