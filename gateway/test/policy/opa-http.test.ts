// The sidecar adapter fails closed like the in-process engine.
import { describe, expect, it } from "vitest";
import type { DecisionInput, PolicyState } from "../../src/policy/decision.ts";
import { loadPolicyEngine } from "../../src/policy/engine.ts";
import { connectOpaServer } from "../../src/policy/opa-http.ts";
import { freePort, startOpaServer } from "../support/opa-server.ts";
import { BUNDLE_PATH } from "../support/paths.ts";
import { ENGINEER_READS } from "../../../test/support/fixtures.ts";

const input: DecisionInput = ENGINEER_READS;

async function defaultState(): Promise<PolicyState> {
  const wasm = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
  return wasm.data?.zyx.state as PolicyState;
}

describe("OPA server adapter", () => {
  it("denies every call when the server cannot be reached at start", async () => {
    const url = new URL(`http://127.0.0.1:${await freePort()}/`);
    const engine = await connectOpaServer({ url, state: await defaultState(), timeoutMs: 500 });
    expect(engine.loadError?.code).toBe("policy_bundle_missing");
    expect(await engine.evaluate(input)).toMatchObject({
      ok: false,
      code: "policy_bundle_missing",
    });
  });

  it("denies with policy_evaluation_failed when the server goes away", async () => {
    const server = await startOpaServer();
    const engine = await connectOpaServer({ url: server.url, state: await defaultState() });
    expect(await engine.evaluate(input)).toMatchObject({ ok: true, decision: { allow: true } });
    await server.stop();
    expect(await engine.evaluate(input)).toMatchObject({
      ok: false,
      code: "policy_evaluation_failed",
    });
  });

  it("hands a server that lost the kill-switch state (a restart) the newest again, and decides under it", async () => {
    const server = await startOpaServer();
    const engine = await connectOpaServer({ url: server.url, state: await defaultState() });
    expect(await engine.evaluate(input)).toMatchObject({ ok: true, decision: { allow: true } });
    const stopped = structuredClone(await defaultState());
    stopped.kill_switch.agents = [input.agent.id];
    await engine.setState(stopped);
    const removed = await fetch(new URL("v1/data/zyx/state", server.url), { method: "DELETE" });
    expect(removed.status).toBe(204);
    // Not a 503 until the next kill-switch change, and never a decision blind to the switch.
    expect(await engine.evaluate(input)).toMatchObject({
      ok: true,
      decision: { allow: false, reasons: [expect.objectContaining({ code: "kill_switch_agent" })] },
    });
    const held = await fetch(new URL("v1/data/zyx/state/kill_switch/agents", server.url));
    expect(await held.json()).toEqual({ result: [input.agent.id] });
    await server.stop();
  });

  it("denies when the lost state cannot be pushed again", async () => {
    const server = await startOpaServer();
    let refusePuts = false;
    const engine = await connectOpaServer({
      url: server.url,
      state: await defaultState(),
      fetch: (url, init) =>
        refusePuts && init?.method === "PUT"
          ? Promise.resolve(new Response("no", { status: 500 }))
          : fetch(url, init),
    });
    await fetch(new URL("v1/data/zyx/state", server.url), { method: "DELETE" });
    refusePuts = true;
    expect(await engine.evaluate(input)).toMatchObject({
      ok: false,
      code: "policy_evaluation_failed",
    });
    await server.stop();
  });
});
