// The golden decision cases: one contract suite over every adapter of the policy port, the
// in-process policy.wasm and an OPA server sidecar. `opa test` runs the very same file
// (rego/zyx/gateway/golden_test.rego): every side must give the same answers.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { DecisionInput, PolicyState } from "../../src/policy/decision.ts";
import { loadPolicyEngine, type PolicyEngine } from "../../src/policy/engine.ts";
import { connectOpaServer } from "../../src/policy/opa-http.ts";
import { startOpaServer } from "../support/opa-server.ts";
import { BUNDLE_PATH, GOLDEN_PATH } from "../support/paths.ts";

const Json = z.record(z.string(), z.unknown());
const Golden = z.strictObject({
  base_input: Json,
  cases: z.array(
    z.strictObject({
      name: z.string(),
      why: z.string().optional(),
      input: Json,
      state: Json.optional(),
      expect: z.strictObject({
        allow: z.boolean(),
        reasons: z.array(z.string()),
        approvers_required: z.number(),
        risk_band: z.string(),
      }),
    }),
  ),
});

const golden = Golden.parse(JSON.parse(readFileSync(GOLDEN_PATH, "utf8")));

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Rego's object.union: objects merge key by key, recursively; anything else is replaced. */
function union(
  left: Record<string, unknown>,
  right: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...left };
  for (const [key, value] of Object.entries(right)) {
    const base = out[key];
    out[key] = isObject(base) && isObject(value) ? union(base, value) : value;
  }
  return out;
}

type Adapter = () => Promise<{ engine: PolicyEngine; stop: () => Promise<void> }>;

const adapters: [string, Adapter][] = [
  [
    "in-process policy.wasm",
    async () => ({
      engine: await loadPolicyEngine({ bundlePath: BUNDLE_PATH }),
      stop: () => Promise.resolve(),
    }),
  ],
  [
    "opa run --server sidecar",
    async () => {
      const server = await startOpaServer();
      const wasm = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
      const state = wasm.data?.zyx.state as PolicyState;
      return {
        engine: await connectOpaServer({ url: server.url, state }),
        stop: () => server.stop(),
      };
    },
  ],
];

describe.each(adapters)("golden decision cases through %s", (_name, adapter) => {
  let engine: PolicyEngine;
  let stop: () => Promise<void>;
  let defaultState: Record<string, unknown>;

  beforeAll(async () => {
    ({ engine, stop } = await adapter());
    expect(engine.loadError).toBeNull();
    defaultState = Json.parse(engine.data?.zyx.state);
  });

  afterAll(async () => {
    await stop();
  });

  it("has at least 30 cases, each named once", () => {
    expect(golden.cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(golden.cases.map((c) => c.name)).size).toBe(golden.cases.length);
  });

  it.each(golden.cases.map((c) => [c.name, c] as const))("%s", async (_name, goldenCase) => {
    await engine.setState(union(defaultState, goldenCase.state ?? {}) as PolicyState);
    const input = union(golden.base_input, goldenCase.input) as unknown as DecisionInput;
    const outcome = await engine.evaluate(input);
    if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.message}`);
    const { decision } = outcome;
    expect({
      allow: decision.allow,
      reasons: decision.reasons.map((r) => r.code).sort(),
      approvers_required: decision.approval.approvers_required,
      risk_band: decision.risk.band,
    }).toEqual(goldenCase.expect);
    expect(decision.policy_revision).toBe(engine.revision);
  });
});
