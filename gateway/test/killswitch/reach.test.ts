// The kill switch's reach against local fakes on real sockets: the real worker app (admin route,
// admin-token verification, revocable fixture connectors) and a local pager that records what it
// receives. Setting a connector or all-writes scope revokes and pages, both audited; failures of
// either are audited and never undo the stop; clearing reaches nothing.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import type { JWK } from "jose";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAdminTokenVerifier, createRevocableConnectors } from "../../../agent/src/admin.ts";
import { createWorkerApp } from "../../../agent/src/app.ts";
import { createCallTokenVerifier } from "../../../agent/src/call-token.ts";
import { createFixtureConnectors } from "../../../agent/src/connectors/index.ts";
import { createToolExecutor } from "../../../agent/src/tools.ts";
import { loadCatalog } from "../../../common/catalog.ts";
import { generateDevKey, publicJwk } from "../../../common/keys.ts";
import { CALL_TOKEN_AUDIENCE, CALL_TOKEN_ISSUER } from "../../../common/worker-contract.ts";
import { createAdminCaller, withReach } from "../../src/killswitch/reach.ts";
import type { KillSwitch } from "../../src/killswitch/service.ts";
import { fixture, type Fixture } from "./support.ts";

const WRITE_CONNECTORS = ["jira", "slack", "aws"];
const ADMIN = { by: "secadmin@zyxbank.example", reason: "INC-42: Slack token leaked" };

interface Pager {
  url: URL;
  received: unknown[];
  status: number;
  close(): Promise<void>;
}

async function startPager(): Promise<Pager> {
  const received: unknown[] = [];
  const pager = { status: 202 } as Pager;
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString("utf8");
    });
    req.on("end", () => {
      received.push(JSON.parse(body));
      res.writeHead(pager.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "success", message: "Event processed" }));
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return Object.assign(pager, {
    url: new URL(`http://127.0.0.1:${String(port)}/v2/enqueue`),
    received,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => {
          done();
        });
      }),
  });
}

let gatewayKey: JWK;
let otherKey: JWK;
let workerUrl: URL;
let revocable: ReturnType<typeof createRevocableConnectors>;
let execute: ReturnType<typeof createToolExecutor>;
let workerServer: ReturnType<typeof serve>;
let pager: Pager;

beforeAll(async () => {
  gatewayKey = await generateDevKey("EdDSA");
  otherKey = await generateDevKey("EdDSA");
  pager = await startPager();
});
afterAll(async () => {
  await pager.close();
});

beforeEach(async () => {
  const jwks = { keys: [publicJwk(gatewayKey)] };
  revocable = createRevocableConnectors(
    createFixtureConnectors(join(mkdtempSync(join(tmpdir(), "zyx-reach-")), "writes.jsonl")),
  );
  execute = createToolExecutor(revocable.connectors, loadCatalog());
  const app = createWorkerApp({
    verifier: createCallTokenVerifier({
      jwks,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: 2,
      maxReplayEntries: 100,
    }),
    execute,
    log: () => undefined,
    admin: {
      verifier: createAdminTokenVerifier({
        jwks,
        issuer: CALL_TOKEN_ISSUER,
        audience: CALL_TOKEN_AUDIENCE,
        clockToleranceSec: 2,
      }),
      connectors: revocable,
    },
  });
  workerServer = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
  await new Promise((done) => workerServer.once("listening", done));
  const { port } = workerServer.address() as AddressInfo;
  workerUrl = new URL(`http://127.0.0.1:${String(port)}/`);
  pager.received.length = 0;
  pager.status = 202;
});
afterEach(async () => {
  await new Promise((done) => workerServer.close(done));
});

describe("kill-switch reach", () => {
  let f: Fixture;
  let killSwitch: KillSwitch;
  const reachRecords = () => f.audits.filter((r) => r.event === "kill_switch_reach");

  async function open(key: JWK = gatewayKey): Promise<KillSwitch> {
    return withReach(await f.open(), {
      admin: createAdminCaller({
        baseUrl: workerUrl,
        privateJwk: key,
        issuer: CALL_TOKEN_ISSUER,
        audience: CALL_TOKEN_AUDIENCE,
        timeoutMs: 2_000,
      }),
      pager: { url: pager.url, routingKey: "R0UT1NGKEY" },
      writeConnectors: WRITE_CONNECTORS,
      audit: async (record) => {
        await Promise.resolve();
        f.audits.push(structuredClone(record));
      },
      now: () => f.clock.now,
      log: () => undefined,
    });
  }

  beforeEach(async () => {
    f = await fixture();
    killSwitch = await open();
  });
  afterEach(() => f.cleanup());

  it("stopping a connector revokes its credentials in the worker and pages security", async () => {
    const result = await killSwitch.set("connector", "slack", ADMIN);
    expect(result.changed).toBe(true);
    expect(revocable.revoked()).toEqual(["slack"]);
    // The worker's Slack tools now fail; the others still work.
    await expect(
      execute({
        tool: "slack_post_message",
        arguments: { channel: "devsecops-change-review", text: "x" },
      }),
    ).rejects.toMatchObject({ connector: "slack", code: "connector_forbidden" });
    await expect(
      execute({ tool: "jira_read", arguments: { ticket: "CHG-18422" } }),
    ).resolves.toHaveProperty("result.key", "CHG-18422");

    expect(pager.received).toEqual([
      {
        routing_key: "R0UT1NGKEY",
        event_action: "trigger",
        dedup_key: `zyx-kill-switch-${String(result.version)}`,
        payload: {
          summary:
            "ZYX agent gateway kill switch: connector slack stopped by secadmin@zyxbank.example (INC-42: Slack token leaked)",
          source: "zyx-agent-gateway",
          severity: "critical",
          timestamp: "2026-11-21T03:00:00.000Z",
          component: "zyx-agent-gateway",
          group: "kill-switch",
          class: "connector",
          custom_details: {
            scope: "connector",
            value: "slack",
            by: "secadmin@zyxbank.example",
            reason: "INC-42: Slack token leaked",
            kill_switch_version: result.version,
          },
        },
      },
    ]);
    expect(
      reachRecords().map((r) => [r.details?.["action"], r.details?.["connector"], r.outcome]),
    ).toEqual(
      expect.arrayContaining([
        ["revoke", "slack", { status: "done" }],
        ["page", undefined, { status: "done" }],
      ]),
    );
    expect(reachRecords()).toHaveLength(2);
  });

  it("stopping all writes revokes every connector that has a write tool", async () => {
    await killSwitch.set("all_writes", undefined, ADMIN);
    expect(revocable.revoked().sort()).toEqual([...WRITE_CONNECTORS].sort());
    expect(pager.received).toHaveLength(1);
    expect(pager.received[0]).toMatchObject({ payload: { class: "all-writes" } });
    expect(reachRecords().filter((r) => r.details?.["action"] === "revoke")).toHaveLength(3);
  });

  it("a pager that fails is audited as page_failed; the stop stands", async () => {
    pager.status = 500;
    const result = await killSwitch.set("connector", "jira", ADMIN);
    expect(result.changed).toBe(true);
    expect(killSwitch.state().state.kill_switch.connectors).toEqual(["jira"]);
    expect(reachRecords().find((r) => r.details?.["action"] === "page")?.outcome).toEqual({
      status: "failed",
      code: "page_failed",
    });
  });

  it("a worker that refuses the admin token (another key) revokes nothing: revoke_failed", async () => {
    killSwitch = await open(otherKey);
    await killSwitch.set("connector", "slack", ADMIN);
    expect(revocable.revoked()).toEqual([]);
    expect(reachRecords().find((r) => r.details?.["action"] === "revoke")?.outcome).toEqual({
      status: "failed",
      code: "revoke_failed",
    });
  });

  it("clearing, other scopes and repeated stops reach nothing", async () => {
    await killSwitch.set("agent", "change-reviewer", ADMIN);
    await killSwitch.set("connector", "slack", ADMIN);
    const before = reachRecords().length;
    await killSwitch.set("connector", "slack", ADMIN); // already set: no change
    await killSwitch.clear("connector", "slack", ADMIN);
    expect(reachRecords()).toHaveLength(before);
    expect(pager.received).toHaveLength(1);
  });
});

/** An admin caller whose every request fails (500) after its token is kept in `sent`. */
function capturing(sent: string[]) {
  return createAdminCaller({
    baseUrl: new URL("http://127.0.0.1:9/"),
    privateJwk: gatewayKey,
    issuer: CALL_TOKEN_ISSUER,
    audience: CALL_TOKEN_AUDIENCE,
    timeoutMs: 500,
    fetch: (_url, init) => {
      sent.push(String(new Headers(init?.headers).get("authorization")).replace("Bearer ", ""));
      return Promise.resolve(new Response("{}", { status: 500 }));
    },
  });
}

describe("the worker's admin token", () => {
  it("is accepted once: a replayed token, or one for another action, is refused", async () => {
    const verifier = createAdminTokenVerifier({
      jwks: { keys: [publicJwk(gatewayKey)] },
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: 2,
    });
    const sent: string[] = [];
    await expect(capturing(sent).revoke("slack", "secadmin")).rejects.toThrow(/500/);
    await expect(verifier.verify(sent[0])).resolves.toMatchObject({
      action: "revoke_connector",
      connector: "slack",
      sub: "secadmin",
    });
    await expect(verifier.verify(sent[0])).rejects.toMatchObject({ code: "call_token_replayed" });
  });

  it("refuses a fresh token as replay_cache_full, not as replayed, when the cache is full", async () => {
    const verifier = createAdminTokenVerifier({
      jwks: { keys: [publicJwk(gatewayKey)] },
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      clockToleranceSec: 2,
      maxReplayEntries: 1,
    });
    const sent: string[] = [];
    await expect(capturing(sent).revoke("slack", "secadmin")).rejects.toThrow(/500/);
    await expect(capturing(sent).revoke("jira", "secadmin")).rejects.toThrow(/500/);
    await expect(verifier.verify(sent[0])).resolves.toMatchObject({ connector: "slack" });
    await expect(verifier.verify(sent[1])).rejects.toMatchObject({ code: "replay_cache_full" });
  });
});

describe("the worker's admin route", () => {
  const caller = (key: JWK = gatewayKey) =>
    createAdminCaller({
      baseUrl: workerUrl,
      privateJwk: key,
      issuer: CALL_TOKEN_ISSUER,
      audience: CALL_TOKEN_AUDIENCE,
      timeoutMs: 2_000,
    });

  it("revokes once; a second revocation says already", async () => {
    expect(await caller().revoke("github", "secadmin")).toEqual({ already: false });
    expect(await caller().revoke("github", "secadmin")).toEqual({ already: true });
    expect(revocable.revoked()).toEqual(["github"]);
  });

  it("refuses no token, a forged token (another key), and an unknown connector", async () => {
    const post = (path: string, authorization?: string) =>
      fetch(new URL(path, workerUrl), {
        method: "POST",
        headers: authorization === undefined ? {} : { authorization },
      });
    expect((await post("v1/admin/connectors/slack/revoke")).status).toBe(401);
    await expect(caller(otherKey).revoke("slack", "x")).rejects.toThrow(/401/);
    await expect(caller().revoke("ldap", "x")).rejects.toThrow(/404/);
    expect(revocable.revoked()).toEqual([]);
  });
});
