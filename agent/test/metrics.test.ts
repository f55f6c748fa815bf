// The worker's own GET /metrics: calls counted by tool and outcome (executed, or the worker's
// error code), timed; served only to the platform scraper's bearer token, absent without one.
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { argumentsDigest } from "../../common/canonical.ts";
import { loadCatalog } from "../../common/catalog.ts";
import { createWorkerApp } from "../src/app.ts";
import { createCallTokenVerifier } from "../src/call-token.ts";
import { createFixtureConnectors } from "../src/connectors/index.ts";
import { createWorkerMetrics } from "../src/metrics.ts";
import { createToolExecutor } from "../src/tools.ts";

const ISSUER = "zyx-agent-gateway";
const AUDIENCE = "zyx-agent-worker";
const SCRAPER = "worker-scraper-token-0123";
const ARGS = { ticket: "CHG-18422" };

let key: JWK;
let jwks: JSONWebKeySet;
beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = { ...(await exportJWK(pair.privateKey)), kid: "gw-1" };
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "gw-1" }] };
});

async function callToken(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "u-engineer",
    act: { sub: "change-reviewer" },
    tool: "jira_read",
    args_sha256: argumentsDigest(ARGS),
    decision_id: "dec-1",
    jti: randomUUID(),
    iat: now,
    exp: now + 30,
  })
    .setProtectedHeader({ alg: "ES256", kid: "gw-1", typ: "call+jwt" })
    .sign(await importJWK(key, "ES256"));
}

function worker(withMetrics = true) {
  const tools = createToolExecutor(
    createFixtureConnectors(join(mkdtempSync(join(tmpdir(), "zyx-worker-m-")), "w.jsonl")),
    loadCatalog(),
  );
  const app = createWorkerApp({
    verifier: createCallTokenVerifier({
      jwks,
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceSec: 2,
      maxReplayEntries: 100,
    }),
    execute: (call) => tools(call),
    log: () => undefined,
    metrics: withMetrics ? { metrics: createWorkerMetrics(), token: SCRAPER } : undefined,
  });
  const execute = async (authorization: string | undefined) =>
    app.request("/v1/execute/jira_read", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: JSON.stringify({ arguments: ARGS, decision_id: "dec-1" }),
    });
  const scrape = (authorization?: string) =>
    app.request("/metrics", {
      headers: authorization === undefined ? {} : { authorization },
    });
  return { execute, scrape };
}

describe("worker GET /metrics", () => {
  it("counts executed and refused calls by tool and outcome", async () => {
    const { execute, scrape } = worker();
    expect((await execute(`Bearer ${await callToken()}`)).status).toBe(200);
    expect((await execute(undefined)).status).toBe(401);
    const response = await scrape(`Bearer ${SCRAPER}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain('zyx_worker_calls_total{tool="jira_read",outcome="executed"} 1');
    expect(text).toContain('zyx_worker_calls_total{tool="unknown",outcome="call_token_missing"} 1');
    expect(text).toContain(
      'zyx_worker_call_duration_seconds_count{tool="jira_read",outcome="executed"} 1',
    );
  });

  it("answers only the scraper's token, and is absent without one", async () => {
    const { scrape } = worker();
    const missing = await scrape();
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: "metrics_token_missing" });
    const wrong = await scrape(`Bearer ${await callToken()}`);
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: "metrics_token_invalid" });
    expect((await worker(false).scrape(`Bearer ${SCRAPER}`)).status).toBe(404);
  });
});
