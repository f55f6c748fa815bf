// A graceful stop waits for the calls in flight (drain-in-flight.test.ts), and the requester's
// agent may long-poll its approval request (`GET /v1/approvals/{id}?wait=60`). An agent runtime
// that is itself stopping hangs up such a poll: the stop must not then wait out the poll's 60 s
// (past its own bound: "drain timed out", exit 1, the audit log never closed).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/processes.ts";
import { REMEDIATOR, SG_CHANGE, tokenArgs } from "../support/fixtures.ts";

describe("graceful stop with an approval long poll in flight", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { WORKER_TIMEOUT_MS: "1000" } });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it("a poll whose client hung up does not hold the stop until its wait runs out", async () => {
    const who = tokenArgs(REMEDIATOR);
    const headers = {
      authorization: `Bearer ${stack.token("access", ...who)}`,
      "x-device-posture": stack.token("posture", who[0] ?? "", who[1] ?? ""),
      "content-type": "application/json",
    };
    const requested = await fetch(`${stack.gatewayUrl}/v1/tools/aws_modify_security_group`, {
      method: "POST",
      headers,
      body: JSON.stringify({ arguments: SG_CHANGE, session_id: "drain-poll" }),
    });
    expect(requested.status).toBe(202);
    const { approval_id: id } = (await requested.json()) as { approval_id: string };

    const client = new AbortController();
    const poll = fetch(`${stack.gatewayUrl}/v1/approvals/${id}?wait=60`, {
      headers,
      signal: client.signal,
    }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exited = new Promise<number | null>((done) => stack.gateway.child.once("exit", done));
    const stopping = Date.now();
    client.abort();
    await poll;
    stack.gateway.child.kill("SIGTERM");
    const code = await exited;
    expect({ code, quick: Date.now() - stopping < 5_000 }).toEqual({ code: 0, quick: true });
  }, 30_000);
});
