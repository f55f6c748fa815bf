// The README's approval walkthrough as real processes, with a gateway restart in the middle:
// the request lives in the embedded SQLite store and survives it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, startStack, waitFor, type Stack, type Started } from "../support/processes.ts";
import {
  APPROVER as APPROVER_PERSON,
  REMEDIATOR as REMEDIATOR_PERSON,
  SG_CHANGE as ARGS,
  tokenArgs,
} from "../support/fixtures.ts";

const REQUESTER = tokenArgs(REMEDIATOR_PERSON);
const APPROVER = tokenArgs(APPROVER_PERSON);

describe("an approval survives a gateway restart", () => {
  let stack: Stack;
  let restarted: Started | undefined;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await Promise.all([stack.stop(), restarted?.stop()]);
  });

  it("is requested, the gateway restarts, then it is approved and executed once", async () => {
    const as = (who: string[]) => ({
      authorization: `Bearer ${stack.token("access", ...who)}`,
      "x-device-posture": stack.token("posture", who[0] ?? "", who[1] ?? ""),
      "content-type": "application/json",
    });
    const call = (base: string, extra: Record<string, unknown> = {}) =>
      fetch(`${base}/v1/tools/aws_modify_security_group`, {
        method: "POST",
        headers: as(REQUESTER),
        body: JSON.stringify({ arguments: ARGS, session_id: "sg-demo", ...extra }),
      });

    const requested = await call(stack.gatewayUrl);
    expect(requested.status).toBe(202);
    const { approval_id: id } = (await requested.json()) as { approval_id: string };

    // A real restart: SIGTERM drains and closes the store; a new process opens it again.
    expect(await stack.gateway.stop()).toBe(0);
    restarted = startNode("gateway/src/main.ts", stack.gatewayEnv);
    await waitFor(`${stack.gatewayUrl}/readyz`, restarted);

    const approved = await fetch(`${stack.gatewayUrl}/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: as(APPROVER),
    });
    expect(approved.status).toBe(200);
    const status = await fetch(`${stack.gatewayUrl}/v1/approvals/${id}?wait=5`, {
      headers: as(REQUESTER),
    });
    expect(await status.json()).toMatchObject({ status: "approved" });

    const executed = await call(stack.gatewayUrl, { approval_id: id });
    expect(executed.status).toBe(200);
    expect(await executed.json()).toMatchObject({
      compensation: { kind: "security_group_change" },
    });
    const replayed = await call(stack.gatewayUrl, { approval_id: id });
    expect(replayed.status).toBe(409);
  });
});
