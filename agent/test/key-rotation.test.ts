// The gateway's call-token key rotates without restarting the worker: a real worker process,
// its key set file rewritten as the gateway writes it (a temporary file renamed over the old one).
// A new kid verifies at once, a key gone from the file stops verifying, and a file that fails the
// start's checks (a private key, malformed JSON, a wrong key type, no keys) is refused: the set
// in use stays, the refusal is logged and counted.
import { randomUUID } from "node:crypto";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { argumentsDigest } from "../../common/canonical.ts";
import { CALL_TOKEN_AUDIENCE, CALL_TOKEN_ISSUER } from "../../common/worker-contract.ts";
import { createCallTokenSigner } from "../../gateway/src/handoff/call-token.ts";
import { freePort } from "../../gateway/test/support/opa-server.ts";
import { startNode, waitFor, type Started } from "../../test/support/processes.ts";

const ARGS = { ticket: "CHG-18422" };
const SCRAPER = "worker-rotation-scraper-0123";

let running: Started | undefined;

afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function gatewayKey(kid: string, alg: "EdDSA" | "ES256" = "EdDSA") {
  const pair = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, use: "sig" };
  const privateJwk: JWK = { ...(await exportJWK(pair.privateKey)), kid, alg, use: "sig" };
  const signer = createCallTokenSigner({
    privateJwk,
    issuer: CALL_TOKEN_ISSUER,
    audience: CALL_TOKEN_AUDIENCE,
    ttlSec: 30,
  });
  const sign = () =>
    signer.sign({
      tool: "jira_read",
      argumentsDigest: argumentsDigest(ARGS),
      decisionId: "dec-rotate",
      user: "engineer@zyxbank.example",
      agent: "change-reviewer",
    });
  return { publicJwk, privateJwk, sign };
}

/** As the gateway publishes: beside the file, then renamed over it. */
function publish(path: string, content: unknown): void {
  const temporary = `${path}.${randomUUID()}.tmp`;
  writeFileSync(temporary, typeof content === "string" ? content : JSON.stringify(content));
  renameSync(temporary, path);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("gateway key rotation on a running worker", () => {
  it("verifies a new kid at once, stops verifying a removed one, and refuses bad sets", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zyx-worker-rotate-"));
    const jwksPath = join(dir, "gateway.jwks.json");
    const [a, b] = [await gatewayKey("gw-a"), await gatewayKey("gw-b")];
    publish(jwksPath, { keys: [a.publicJwk] });
    const port = await freePort();
    const url = `http://127.0.0.1:${String(port)}`;
    running = startNode("agent/src/main.ts", {
      WORKER_PORT: String(port),
      GATEWAY_CALL_JWKS: jwksPath,
      WORKER_METRICS_TOKEN: SCRAPER,
      ZYX_FIXTURE_WRITES: join(dir, "fixture-writes.jsonl"),
      ZYX_STATE_DIR: dir,
    });
    await waitFor(`${url}/healthz`, running);
    const call = async (token: string) => {
      const response = await fetch(`${url}/v1/execute/jira_read`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ arguments: ARGS, decision_id: "dec-rotate" }),
      });
      const body = (await response.json()) as { code?: string };
      return { status: response.status, code: body.code };
    };
    expect(await call(await a.sign())).toMatchObject({ status: 200 });

    // The new key published beside the old: its first token verifies, no restart.
    publish(jwksPath, { keys: [a.publicJwk, b.publicJwk] });
    expect(await call(await b.sign())).toMatchObject({ status: 200 });
    expect(await call(await a.sign())).toMatchObject({ status: 200 });

    // The old key withdrawn: once the poll has read the file, its tokens are refused.
    publish(jwksPath, { keys: [b.publicJwk] });
    await sleep(2_200);
    expect(await call(await a.sign())).toEqual({ status: 401, code: "call_token_invalid" });
    expect(await call(await b.sign())).toMatchObject({ status: 200 });

    // Sets the start would refuse are refused: b still verifies, and nothing else does.
    const rsa = { kty: "RSA", kid: "gw-rsa", n: "sXch", e: "AQAB" };
    const bad = [
      { keys: [b.privateJwk] },
      '{"keys": [',
      { keys: [rsa] },
      { keys: [] },
      {
        keys: [
          { ...b.publicJwk, kid: "gw-b2" },
          { ...b.publicJwk, kid: "gw-b2" },
        ],
      },
    ];
    for (const content of bad) {
      publish(jwksPath, content);
      await sleep(1_300);
      expect(await call(await b.sign())).toMatchObject({ status: 200 });
    }
    expect(await call(await a.sign())).toEqual({ status: 401, code: "call_token_invalid" });
    const refusals = running.output().match(/"gateway_keys_refused"/g) ?? [];
    expect(refusals).toHaveLength(bad.length);
    const metrics = await (
      await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${SCRAPER}` } })
    ).text();
    expect(metrics).toContain(
      `zyx_worker_gateway_keys_reloads_total{outcome="refused"} ${String(bad.length)}`,
    );
    expect(metrics).toContain('zyx_worker_gateway_keys_reloads_total{outcome="loaded"} 2');
  }, 60_000);
});
