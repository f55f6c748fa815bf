// Which worker answers make a write's outcome definite. The worker's problem codes are read
// loosely (common/worker-contract.ts: "a newer worker's new code is still reported"), so a code
// this gateway does not know can reach outcomeUnknown. Only the worker's own refusals and
// tool_failed say the write did not take effect (README, post-hoc review): a code the gateway
// cannot interpret says nothing of the kind, and must leave the outcome unknown (an alert, a
// person checks), never "failed".
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpWorkerClient } from "../../src/handoff/worker-client.ts";
import { isGatewayError } from "../../src/lib/errors.ts";
import { outcomeUnknown } from "../../src/pipeline/handoff.ts";

const signer = { kid: "k", ttlSec: 30, sign: () => Promise.resolve("header.payload.signature") };
const call = {
  tool: "jira_add_comment" as const,
  arguments: { ticket: "CHG-18422", body: "AI security review: no findings." },
  argumentsDigest: "0".repeat(64),
  decisionId: "d-1",
  traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
  user: "engineer@zyxbank.example",
  agent: "change-reviewer",
};

let server: Server | undefined;
afterEach(async () => {
  const open = server;
  server = undefined;
  if (open === undefined) return;
  open.closeAllConnections();
  await new Promise((resolve) => open.close(resolve));
});

/** A worker that answers every call with this problem document. */
async function answering(status: number, code: string): Promise<URL> {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(status, { "content-type": "application/problem+json" }).end(
        JSON.stringify({
          type: `https://agent-worker.zyxbank.example/problems/${code}`,
          title: "Tool call interrupted",
          status,
          detail: "the connector's request was sent; its answer was lost",
          code,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return new URL(`http://127.0.0.1:${String(port)}/`);
}

async function failureOf(status: number, code: string) {
  const client = createHttpWorkerClient({
    baseUrl: await answering(status, code),
    timeoutMs: 2_000,
    signer,
  });
  const thrown: unknown = await client.execute(call).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!isGatewayError(thrown)) throw new Error("expected a GatewayError");
  return thrown;
}

describe("a write's outcome, by the worker's problem code", () => {
  it("a code this gateway does not know leaves the write's outcome unknown", async () => {
    const error = await failureOf(502, "connector_write_interrupted");
    expect(error).toMatchObject({
      code: "worker_failed",
      extensions: { worker_code: "connector_write_interrupted" },
    });
    expect(outcomeUnknown("jira_add_comment", error)).toBe(true);
  });

  it("the worker's known refusals and tool_failed stay definite", async () => {
    for (const [status, code] of [
      [502, "tool_failed"],
      [401, "call_token_invalid"],
      [400, "arguments_invalid"],
      [504, "deadline_exceeded"],
      [503, "replay_cache_full"],
    ] as const) {
      expect(outcomeUnknown("jira_add_comment", await failureOf(status, code))).toBe(false);
      await new Promise((resolve) => server?.close(resolve));
      server = undefined;
    }
    expect(outcomeUnknown("jira_add_comment", await failureOf(504, "tool_outcome_unknown"))).toBe(
      true,
    );
  });
});
