// The worker's replay memory lives in its process: a call token that ran before a restart, still
// unexpired (30 s), must not run again in the process that follows, nor an admin token (the kill
// switch's revocation) be accepted again. Real processes: the worker started twice on one port
// with the gateway's public key set, and the gateway's own signer and admin caller.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { argumentsDigest } from "../../common/canonical.ts";
import { CALL_TOKEN_AUDIENCE, CALL_TOKEN_ISSUER } from "../../common/worker-contract.ts";
import { createCallTokenSigner } from "../../gateway/src/handoff/call-token.ts";
import { createAdminCaller } from "../../gateway/src/killswitch/reach.ts";
import { freePort } from "../../gateway/test/support/opa-server.ts";
import { startNode, waitFor, type Started } from "../../test/support/processes.ts";

const ARGS = { ticket: "CHG-18422", body: "AI security review" };

let running: Started | undefined;

afterEach(async () => {
  await running?.stop();
  running = undefined;
});

describe("worker restart", () => {
  it("a call token that ran before a restart is refused after it (nothing runs twice)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zyx-worker-restart-"));
    const pair = await generateKeyPair("EdDSA", { extractable: true });
    const kid = "gw-restart-1";
    const jwksPath = join(dir, "gateway.jwks.json");
    writeFileSync(
      jwksPath,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid }] }),
    );
    const writes = join(dir, "fixture-writes.jsonl");
    const port = await freePort();
    const env = {
      WORKER_PORT: String(port),
      GATEWAY_CALL_JWKS: jwksPath,
      ZYX_FIXTURE_WRITES: writes,
      ZYX_STATE_DIR: dir,
    };
    const url = `http://127.0.0.1:${String(port)}`;
    const signer = createCallTokenSigner({
      privateJwk: { ...(await exportJWK(pair.privateKey)), kid },
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      ttlSec: 30,
    });
    const call = (token: string) =>
      fetch(`${url}/v1/execute/jira_add_comment`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ arguments: ARGS, decision_id: "dec-restart-1" }),
      });
    const sign = () =>
      signer.sign({
        tool: "jira_add_comment",
        argumentsDigest: argumentsDigest(ARGS),
        decisionId: "dec-restart-1",
        user: "engineer@zyxbank.example",
        agent: "change-reviewer",
        timeoutMs: 10_000,
      });
    const lines = () =>
      existsSync(writes) ? readFileSync(writes, "utf8").split("\n").filter(Boolean).length : 0;

    running = startNode("agent/src/main.ts", env);
    await waitFor(`${url}/healthz`, running);
    const token = await sign();
    expect((await call(token)).status).toBe(200);
    expect(lines()).toBe(1);

    await running.stop();
    running = startNode("agent/src/main.ts", env);
    await waitFor(`${url}/healthz`, running);
    const replay = await call(token);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ code: "call_token_expired" });
    expect(lines()).toBe(1);

    // A token the gateway signs now is accepted by the new process.
    expect((await call(await sign())).status).toBe(200);
    expect(lines()).toBe(2);
  }, 60_000);

  it("an admin token accepted before a restart is refused after it (call_token_expired)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zyx-worker-admin-restart-"));
    const pair = await generateKeyPair("EdDSA", { extractable: true });
    const kid = "gw-admin-restart-1";
    const jwksPath = join(dir, "gateway.jwks.json");
    writeFileSync(
      jwksPath,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid }] }),
    );
    const port = await freePort();
    const env = {
      WORKER_PORT: String(port),
      GATEWAY_CALL_JWKS: jwksPath,
      ZYX_FIXTURE_WRITES: join(dir, "fixture-writes.jsonl"),
      ZYX_STATE_DIR: dir,
    };
    const url = `http://127.0.0.1:${String(port)}`;
    // The gateway's own admin caller; the token it sends is kept to be sent again.
    const sent: { url: string; authorization: string }[] = [];
    const admin = createAdminCaller({
      baseUrl: new URL(`${url}/`),
      privateJwk: { ...(await exportJWK(pair.privateKey)), kid },
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      timeoutMs: 5_000,
      fetch: (input, init) => {
        const headers = new Headers(init?.headers);
        sent.push({
          url: input instanceof Request ? input.url : input.toString(),
          authorization: headers.get("authorization") ?? "",
        });
        return fetch(input, init);
      },
    });
    const replay = (request: { url: string; authorization: string }) =>
      fetch(request.url, { method: "POST", headers: { authorization: request.authorization } });

    running = startNode("agent/src/main.ts", env);
    await waitFor(`${url}/healthz`, running);
    await expect(admin.revoke("slack", "secadmin@zyxbank.example")).resolves.toEqual({
      already: false,
    });
    const [first] = sent;
    if (first === undefined) throw new Error("no admin request was sent");
    // Within the process, the same token is a replay.
    expect((await replay(first)).status).toBe(409);

    await running.stop();
    running = startNode("agent/src/main.ts", env);
    await waitFor(`${url}/healthz`, running);
    const again = await replay(first);
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ code: "call_token_expired" });
    expect(running.output()).not.toContain("connector_revoked");

    // An admin token the gateway signs now is accepted by the new process.
    await expect(admin.revoke("slack", "secadmin@zyxbank.example")).resolves.toEqual({
      already: false,
    });
  }, 60_000);
});
