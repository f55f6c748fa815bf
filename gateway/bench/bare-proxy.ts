// The ceiling: a bare Hono proxy with no checks at all, forwarding to the same stub worker with
// the same HTTP client (undici, kept-alive connections) the gateway uses.
//
// With BARE_AUDIT_LOG set, the floor instead: the same proxy writing only what the gateway's
// design makes durable per call, with the gateway's own log (gateway/src/audit/log.ts: O_DSYNC,
// group commit, hash chain): a small decision record durable before it forwards, a small outcome
// record durable before it answers. No identity, arguments, limits, policy or signature. What no
// gateway keeping both records durable can beat on this disk (issue 18's targets are read
// against it).
import { randomUUID } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { Agent, request } from "undici";
import { openAuditLog } from "../src/audit/log.ts";

const port = Number(process.env["PORT"] ?? "0");
const worker = new URL(process.env["WORKER_URL"] ?? "http://127.0.0.1:8081/");
const auditPath = process.env["BARE_AUDIT_LOG"];
const audit = auditPath === undefined ? undefined : await openAuditLog({ path: auditPath });

const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
const app = new Hono();
app.post("/v1/tools/:tool", async (c) => {
  const tool = c.req.param("tool");
  const decisionId = audit === undefined ? "" : randomUUID();
  await audit?.append({ event: "decision", decision_id: decisionId, tool });
  const body = await c.req.text();
  const response = await request(new URL(`v1/execute/${tool}`, worker), {
    method: "POST",
    dispatcher,
    headers: { "content-type": "application/json" },
    body,
  });
  const { result } = (await response.body.json()) as { result: unknown };
  await audit?.append({
    event: "outcome",
    decision_id: decisionId,
    tool,
    outcome: { status: "executed" },
  });
  return c.json({ result });
});
const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port }, (info) => {
  console.log(JSON.stringify({ port: info.port }));
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
