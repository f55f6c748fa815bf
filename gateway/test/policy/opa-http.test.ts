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

  it("denies when the server has lost the kill-switch state (a restart)", async () => {
    const server = await startOpaServer();
    const engine = await connectOpaServer({ url: server.url, state: await defaultState() });
    expect(await engine.evaluate(input)).toMatchObject({ ok: true, decision: { allow: true } });
    const removed = await fetch(new URL("v1/data/zyx/state", server.url), { method: "DELETE" });
    expect(removed.status).toBe(204);
    expect(await engine.evaluate(input)).toMatchObject({ ok: false, code: "policy_result_empty" });
    await server.stop();
  });
});
