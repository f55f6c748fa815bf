// The ceiling: a bare Hono proxy with no checks at all, forwarding to the same stub worker with
// the same HTTP client (undici, kept-alive connections) the gateway uses.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { Agent, request } from "undici";

const port = Number(process.env["PORT"] ?? "0");
const worker = new URL(process.env["WORKER_URL"] ?? "http://127.0.0.1:8081/");

const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
const app = new Hono();
app.post("/v1/tools/:tool", async (c) => {
  const body = await c.req.text();
  const response = await request(new URL(`v1/execute/${c.req.param("tool")}`, worker), {
    method: "POST",
    dispatcher,
    headers: { "content-type": "application/json" },
    body,
  });
  return c.json({ result: ((await response.body.json()) as { result: unknown }).result });
});
const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port }, (info) => {
  console.log(JSON.stringify({ port: info.port }));
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
