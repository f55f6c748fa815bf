// The worker's gateway key set read again while it runs (agent/src/gateway-keys.ts): bounded
// re-reads, coalesced, never for a known kid; a half-written or missing file keeps the set in
// use; a removed key stops verifying. The process-level rotation is agent/test/key-rotation.test.ts.
import { randomUUID } from "node:crypto";
import { mkdtempSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from "jose";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { argumentsDigest } from "../../common/canonical.ts";
import { importCompactJwtKeys } from "../../common/compact-jwt.ts";
import { CALL_TOKEN_AUDIENCE, CALL_TOKEN_ISSUER } from "../../common/worker-contract.ts";
import { createCallTokenSigner } from "../../gateway/src/handoff/call-token.ts";
import { createCallTokenVerifier } from "../src/call-token.ts";
import { createGatewayKeySet, type GatewayKeySet, type KeySetReload } from "../src/gateway-keys.ts";

const ARGS = { ticket: "CHG-18422" };

interface Key {
  publicJwk: JWK;
  sign: () => Promise<string>;
}

async function key(kid: string): Promise<Key> {
  const pair = await generateKeyPair("EdDSA", { extractable: true });
  const signer = createCallTokenSigner({
    privateJwk: { ...(await exportJWK(pair.privateKey)), kid },
    issuer: CALL_TOKEN_ISSUER,
    audience: CALL_TOKEN_AUDIENCE,
    ttlSec: 30,
  });
  return {
    publicJwk: { ...(await exportJWK(pair.publicKey)), kid },
    sign: () =>
      signer.sign({
        tool: "jira_read",
        argumentsDigest: argumentsDigest(ARGS),
        decisionId: "dec-keys",
        user: "engineer@zyxbank.example",
        agent: "change-reviewer",
      }),
  };
}

let a: Key;
let b: Key;
let c: Key;
beforeAll(async () => {
  [a, b, c] = [await key("gw-a"), await key("gw-b"), await key("gw-c")];
});

function publish(path: string, jwks: JSONWebKeySet): void {
  const temporary = `${path}.${randomUUID()}.tmp`;
  writeFileSync(temporary, JSON.stringify(jwks));
  renameSync(temporary, path);
}

function setup(minIntervalMs = 150) {
  const path = join(mkdtempSync(join(tmpdir(), "zyx-gw-keys-")), "gateway.jwks.json");
  const initial = { keys: [a.publicJwk] };
  publish(path, initial);
  const logged: string[] = [];
  const outcomes: KeySetReload[] = [];
  const keySet = createGatewayKeySet({
    path,
    initial,
    log: (_level, message) => logged.push(message),
    minIntervalMs,
    pollMs: 0,
    onReload: (outcome) => outcomes.push(outcome),
  });
  const verifier = createCallTokenVerifier({
    keySet,
    issuer: CALL_TOKEN_ISSUER,
    audience: CALL_TOKEN_AUDIENCE,
    clockToleranceSec: 2,
    maxReplayEntries: 1_000,
  });
  const verify = async (k: Key) => verifier.verify(await k.sign(), ARGS);
  return { path, keySet, verify, logged, outcomes };
}

describe("the gateway key set, read again while the worker runs", () => {
  it("takes a new kid with one read however many of its tokens arrive at once", async () => {
    const { path, keySet, verify, outcomes, logged } = setup();
    publish(path, { keys: [a.publicJwk, b.publicJwk] });
    const results = await Promise.all(Array.from({ length: 40 }, () => verify(b)));
    expect(results.every((r) => r.kid === "gw-b")).toBe(true);
    expect(outcomes).toEqual(["loaded"]);
    expect(logged).toEqual(["gateway_keys_reloaded"]);
    expect(keySet.kids()).toEqual(["gw-a", "gw-b"]);
  });

  it("reads at most once per interval: an unknown kid waits for the next read, then is refused", async () => {
    const { verify } = setup(200);
    const started = performance.now();
    for (let i = 0; i < 4; i += 1) {
      await expect(verify(c)).rejects.toMatchObject({ code: "call_token_invalid" });
    }
    // Four reads, each at least 200 ms after the one before.
    expect(performance.now() - started).toBeGreaterThanOrEqual(3 * 200 - 20);
  });

  it("never reads the file for a token of a known kid", async () => {
    const refresh = vi.fn(() => Promise.resolve<KeySetReload>("unchanged"));
    const keys = importCompactJwtKeys({ keys: [a.publicJwk] });
    const keySet: GatewayKeySet = {
      keys: () => keys,
      kids: () => ["gw-a"],
      refresh,
      close: () => undefined,
    };
    const verifier = createCallTokenVerifier({
      keySet,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: 2,
      maxReplayEntries: 100,
    });
    for (let i = 0; i < 5; i += 1) await verifier.verify(await a.sign(), ARGS);
    expect(refresh).not.toHaveBeenCalled();
    await expect(verifier.verify(await b.sign(), ARGS)).rejects.toMatchObject({
      code: "call_token_invalid",
    });
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it("stops verifying a key removed from the file once it is read again", async () => {
    const { path, keySet, verify } = setup(0);
    publish(path, { keys: [b.publicJwk] });
    await expect(verify(a)).resolves.toMatchObject({ kid: "gw-a" });
    expect(await keySet.refresh()).toBe("loaded");
    await expect(verify(a)).rejects.toMatchObject({ code: "call_token_invalid" });
    await expect(verify(b)).resolves.toMatchObject({ kid: "gw-b" });
  });

  it("refuses a half-written file, keeps the old set, and takes the file once complete", async () => {
    const { path, keySet, verify, outcomes, logged } = setup(0);
    const whole = JSON.stringify({ keys: [a.publicJwk, b.publicJwk] });
    // A writer that truncates and writes in place, caught half way.
    writeFileSync(path, whole.slice(0, whole.length / 2));
    expect(await keySet.refresh()).toBe("refused");
    expect(await keySet.refresh()).toBe("unchanged");
    await expect(verify(a)).resolves.toMatchObject({ kid: "gw-a" });
    writeFileSync(path, whole);
    expect(await keySet.refresh()).toBe("loaded");
    await expect(verify(b)).resolves.toMatchObject({ kid: "gw-b" });
    expect(outcomes).toEqual(["refused", "loaded"]);
    expect(logged).toEqual(["gateway_keys_refused", "gateway_keys_reloaded"]);
  });

  it("keeps the set in use while the file is missing, logging it once", async () => {
    const { path, keySet, verify, logged } = setup(0);
    unlinkSync(path);
    expect(await keySet.refresh()).toBe("refused");
    expect(await keySet.refresh()).toBe("unchanged");
    await expect(verify(a)).resolves.toMatchObject({ kid: "gw-a" });
    expect(logged).toEqual(["gateway_keys_refused"]);
    publish(path, { keys: [c.publicJwk] });
    await expect(verify(c)).resolves.toMatchObject({ kid: "gw-c" });
    await expect(verify(a)).rejects.toMatchObject({ code: "call_token_invalid" });
  });
});
