// Every way the policy engine can fail ends in a deny with a clear code, never an allow.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import type { DecisionInput } from "../../src/policy/decision.ts";
import { loadPolicyEngine, type WasmLoader, type WasmPolicy } from "../../src/policy/engine.ts";
import { BUNDLE_PATH } from "../support/paths.ts";
import { devSigningKey, rewriteBundle, signFiles } from "./signing.ts";
import { ENGINEER_READS } from "../../../test/support/fixtures.ts";

const input: DecisionInput = ENGINEER_READS;

const tmp = mkdtempSync(join(tmpdir(), "zyx-policy-"));

/**
 * Rewrites one member of the real bundle (tar is uncompressed after gunzip; same length keeps
 * offsets), then signs it again with the build's key: a validly signed bundle whose content is
 * broken, which the engine must still refuse.
 */
async function bundleWith(name: string, edit: (tar: Buffer) => Buffer): Promise<string> {
  const path = join(tmp, name);
  writeFileSync(path, gzipSync(edit(gunzipSync(readFileSync(BUNDLE_PATH)))));
  const key = await devSigningKey();
  return rewriteBundle(path, path, (files) => signFiles(files, key));
}

/** Wraps the real loader so that evaluate() answers what a test wants. */
function loaderAnswering(evaluate: WasmPolicy["evaluate"]): WasmLoader {
  return () =>
    Promise.resolve({
      evaluate,
      setData: () => undefined,
    });
}

describe("policy engine", () => {
  beforeAll(() => {
    readFileSync(BUNDLE_PATH); // the built bundle must exist: `make policy`
  });

  it("allows the seed's engineer through the real WASM", async () => {
    const engine = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const outcome = engine.evaluate(input);
    expect(outcome).toMatchObject({ ok: true, decision: { allow: true, reasons: [] } });
    expect(engine.revision).toMatch(/^[0-9a-f]{16}$/);
  });

  it("denies with policy_bundle_missing when there is no bundle", async () => {
    const engine = await loadPolicyEngine({ bundlePath: join(tmp, "absent.tar.gz") });
    expect(engine.loadError?.code).toBe("policy_bundle_missing");
    expect(engine.evaluate(input)).toEqual({
      ok: false,
      code: "policy_bundle_missing",
      message: `no policy bundle at ${join(tmp, "absent.tar.gz")}: run make policy`,
    });
  });

  it("denies with policy_bundle_corrupt when the file is not a gzip tarball", async () => {
    const path = join(tmp, "garbage.tar.gz");
    writeFileSync(path, "this is not a bundle");
    const engine = await loadPolicyEngine({ bundlePath: path });
    const outcome = engine.evaluate(input);
    expect(outcome.ok).toBe(false);
    expect(outcome).toMatchObject({ code: "policy_bundle_corrupt" });
    expect(engine.revision).toBeUndefined();
  });

  it("denies with policy_bundle_corrupt when the tarball is truncated", async () => {
    const path = join(tmp, "truncated.tar.gz");
    const whole = readFileSync(BUNDLE_PATH);
    writeFileSync(path, whole.subarray(0, Math.floor(whole.length / 2)));
    const engine = await loadPolicyEngine({ bundlePath: path });
    expect(engine.evaluate(input)).toMatchObject({ ok: false, code: "policy_bundle_corrupt" });
  });

  it("denies with policy_bundle_corrupt when policy.wasm is not WebAssembly", async () => {
    const path = await bundleWith("bad-wasm.tar.gz", (tar) => {
      const at = tar.indexOf(Buffer.from([0x00, 0x61, 0x73, 0x6d])); // "\0asm" magic
      expect(at).toBeGreaterThan(0);
      tar.fill(0x42, at, at + 64);
      return tar;
    });
    const engine = await loadPolicyEngine({ bundlePath: path });
    const outcome = engine.evaluate(input);
    expect(outcome).toMatchObject({ ok: false, code: "policy_bundle_corrupt" });
    expect(outcome.ok ? "" : outcome.message).toMatch(/^cannot load policy\.wasm: CompileError/);
  });

  it("denies with policy_bundle_corrupt when data.json does not match the manifest", async () => {
    const path = await bundleWith("bad-revision.tar.gz", (tar) => {
      const marker = Buffer.from('"bundle":{"revision":"');
      const at = tar.indexOf(marker); // data.json's copy, not the manifest's
      expect(at).toBeGreaterThan(0);
      tar.write("0".repeat(16), at + marker.length, "latin1");
      return tar;
    });
    const engine = await loadPolicyEngine({ bundlePath: path });
    expect(engine.evaluate(input)).toMatchObject({
      ok: false,
      code: "policy_bundle_corrupt",
      message: expect.stringContaining("differs from manifest revision") as unknown,
    });
  });

  it("denies with policy_evaluation_failed when the SDK throws a string", async () => {
    const engine = await loadPolicyEngine({
      bundlePath: BUNDLE_PATH,
      loader: loaderAnswering(() => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- opa-wasm throws strings
        throw "entrypoint zyx/gateway/decision is not valid in this instance";
      }),
    });
    expect(engine.evaluate(input)).toEqual({
      ok: false,
      code: "policy_evaluation_failed",
      message: "entrypoint zyx/gateway/decision is not valid in this instance",
    });
  });

  it("denies with policy_evaluation_failed on a real WASM memory trap", async () => {
    // Memory capped at the initial pages: a large input cannot be written into the instance.
    const engine = await loadPolicyEngine({
      bundlePath: BUNDLE_PATH,
      memory: { initial: 8, maximum: 8 },
    });
    expect(engine.loadError).toBeNull();
    const huge = { ...input, arguments: { ticket: "CHG-18422", padding: "x".repeat(2_000_000) } };
    const outcome = engine.evaluate(huge);
    expect(outcome).toMatchObject({ ok: false, code: "policy_evaluation_failed" });
    expect(outcome.ok ? "" : outcome.message).toMatch(/^RangeError/);
  });

  it.each([
    ["an empty result set", [], "policy_result_empty", "the policy gave no result"],
    ["not a result set", { result: true }, "policy_result_empty", "the policy gave no result"],
    ["an undefined decision", [{}], "policy_result_empty", "the decision is undefined"],
    [
      "two results",
      [{ result: 1 }, { result: 2 }],
      "policy_result_malformed",
      "expected one result, got 2",
    ],
  ] as const)("denies on %s", async (_label, answer, code, message) => {
    const engine = await loadPolicyEngine({
      bundlePath: BUNDLE_PATH,
      loader: loaderAnswering(() => answer),
    });
    expect(engine.evaluate(input)).toEqual({ ok: false, code, message });
  });

  it.each([
    ["allow as a string", { allow: "true" }],
    ["an unknown reason code", { reasons: [{ code: "because", message: "m" }] }],
    ["an allow that carries a reason", { reasons: [{ code: "tool_unknown", message: "m" }] }],
    ["a risk score over 10", { risk: { score: 11, band: "high", factors: [] } }],
    ["an extra member", { obligations: ["log"] }],
    ["another revision", { policy_revision: "0000000000000000" }],
  ])("denies with policy_result_malformed on %s", async (_label, patch) => {
    const real = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const good = real.evaluate(input);
    if (!good.ok) throw new Error(good.message);
    const engine = await loadPolicyEngine({
      bundlePath: BUNDLE_PATH,
      loader: loaderAnswering(() => [{ result: { ...good.decision, ...patch } }]),
    });
    expect(engine.evaluate(input)).toMatchObject({ ok: false, code: "policy_result_malformed" });
  });

  it("applies a new kill-switch state to the very next evaluation", async () => {
    const engine = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const state = {
      kill_switch: {
        all_writes: false,
        read_only_agents: [],
        connectors: [],
        users: [],
        agents: ["change-reviewer"],
        workflows: [],
      },
    };
    engine.setState(state);
    expect(engine.evaluate(input)).toMatchObject({
      ok: true,
      decision: { allow: false, reasons: [{ code: "kill_switch_agent" }] },
    });
    engine.setState({ kill_switch: { ...state.kill_switch, agents: [] } });
    expect(engine.evaluate(input)).toMatchObject({ ok: true, decision: { allow: true } });
  });
});
