import { randomUUID } from "node:crypto";
import {
  base64url,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from "jose";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { argumentsDigest } from "../../common/canonical.ts";
import type { ToolName } from "../../common/catalog.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCatalog } from "../../common/catalog.ts";
import type { Log } from "../../common/service.ts";
import { createWorkerApp, type Execute } from "../src/app.ts";
import { createFixtureConnectors } from "../src/connectors/index.ts";
import { createToolExecutor } from "../src/tools.ts";
import { createCallTokenVerifier } from "../src/call-token.ts";
import { callDeadline, remainingMs } from "../src/connectors/deadline.ts";
import { ConnectorError } from "../src/connectors/port.ts";

const ISSUER = "zyx-agent-gateway";
const AUDIENCE = "zyx-agent-worker";
const KID = "gw-test-1";
const T0 = Date.UTC(2026, 10, 21, 3, 0, 0);
const T0_SEC = T0 / 1000;

const CALLS: Record<ToolName, Record<string, unknown>> = {
  jira_read: { ticket: "CHG-18422" },
  github_read_pr: { repository: "zyx-bank/platform-infra", pull_request: 991 },
  confluence_read: { space: "SEC" },
  aws_dev_read: { account: "111122223333", region: "ap-southeast-1" },
  jira_add_comment: { ticket: "CHG-18422", body: "AI security review" },
  slack_post_message: { channel: "devsecops-change-review", text: "CHG-18422 needs review" },
  aws_modify_security_group: {
    account: "111122223333",
    region: "ap-southeast-1",
    group_id: "sg-0a1b2c3d4e5f60718",
    change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
    change_ticket: "CHG-18422",
    rollback_plan: "Re-authorize the revoked rule from the compensation handle.",
  },
  // Compensations: what they delete must exist, so their own test posts first.
  jira_delete_comment: { ticket: "CHG-18422", comment_id: "10001" },
  slack_delete_message: { channel: "C07DEVSECOPS", ts: "1779476400.000100" },
};

const COMPENSATIONS: readonly ToolName[] = ["jira_delete_comment", "slack_delete_message"];

let gatewayKey: JWK;
let otherKey: JWK;
let jwks: JSONWebKeySet;
let clock: number;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  gatewayKey = { ...(await exportJWK(pair.privateKey)), kid: KID };
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: KID }] };
  const other = await generateKeyPair("ES256", { extractable: true });
  otherKey = { ...(await exportJWK(other.privateKey)), kid: KID };
});

beforeEach(() => {
  clock = T0;
});

interface TokenOptions {
  tool?: ToolName;
  args?: unknown;
  key?: JWK;
  claims?: JWTPayload;
  ttl?: number;
}

async function token(options: TokenOptions = {}): Promise<string> {
  const tool = options.tool ?? "jira_read";
  return new SignJWT({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "u-engineer",
    act: { sub: "change-reviewer" },
    tool,
    args_sha256: argumentsDigest(options.args ?? CALLS[tool]),
    decision_id: "dec-0001",
    trace_id: "trace-0001",
    jti: randomUUID(),
    iat: T0_SEC,
    exp: T0_SEC + (options.ttl ?? 30),
    ...options.claims,
  })
    .setProtectedHeader({ alg: "ES256", kid: KID, typ: "call+jwt" })
    .sign(await importJWK(options.key ?? gatewayKey, "ES256"));
}

const fixtureTools = createToolExecutor(
  createFixtureConnectors(join(mkdtempSync(join(tmpdir(), "zyx-worker-")), "writes.jsonl")),
  loadCatalog(),
);

function setup(options: { maxReplayEntries?: number; execute?: Execute } = {}) {
  const verifier = createCallTokenVerifier({
    jwks,
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSec: 2,
    maxReplayEntries: options.maxReplayEntries ?? 100,
    now: () => clock,
  });
  const execute = vi.fn<Execute>(options.execute ?? ((call) => fixtureTools(call)));
  const log = vi.fn<Log>();
  const app = createWorkerApp({ verifier, execute, log });

  async function call(
    tool: string,
    init: {
      token?: string | undefined;
      authorization?: string;
      body?: unknown;
      raw?: string;
      /** The Content-Type sent (default application/json); null: none at all. */
      contentType?: string | null;
    },
  ) {
    const headers: Record<string, string> = {};
    if (init.contentType !== null) headers["content-type"] = init.contentType ?? "application/json";
    if (init.authorization !== undefined) headers["authorization"] = init.authorization;
    else if (init.token !== undefined) headers["authorization"] = `Bearer ${init.token}`;
    const response = await app.request(`/v1/execute/${tool}`, {
      method: "POST",
      headers,
      // Bytes, so that no Content-Type is added for a string (fetch labels one text/plain).
      body: new TextEncoder().encode(init.raw ?? JSON.stringify(init.body)),
    });
    return { status: response.status, headers: response.headers, json: await response.json() };
  }

  return { app, execute, log, call };
}

function body(tool: ToolName = "jira_read", extra: Record<string, unknown> = {}) {
  return { arguments: CALLS[tool], decision_id: "dec-0001", trace_id: "trace-0001", ...extra };
}

describe("worker app: allowed calls", () => {
  it("GET /healthz", async () => {
    const response = await setup().app.request("/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("runs jira_read and returns the fixture ticket, marked as untrusted evidence", async () => {
    const { call, execute, log } = setup();
    const response = await call("jira_read", { token: await token(), body: body() });
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({
      result: { key: "CHG-18422", rollback_plan: null, environment: "development" },
      evidence: { untrusted: true, redactions: 0, injection: { suspected: false, indicators: [] } },
    });
    expect(execute).toHaveBeenCalledOnce();
    expect(execute.mock.calls[0]?.[0]).toMatchObject({
      tool: "jira_read",
      arguments: { ticket: "CHG-18422" },
    });
    expect(execute.mock.calls[0]?.[1]).toMatchObject({
      decisionId: "dec-0001",
      user: "u-engineer",
      agent: "change-reviewer",
      traceId: "trace-0001",
    });
    expect(log).not.toHaveBeenCalled();
  });

  it.each(
    (Object.keys(CALLS) as ToolName[])
      .filter((tool) => !COMPENSATIONS.includes(tool))
      .map((tool) => [tool]),
  )("runs %s on the fixture connectors; write tools return a compensation handle", async (tool) => {
    const { call } = setup();
    const response = await call(tool, { token: await token({ tool }), body: body(tool) });
    expect(response.status).toBe(200);
    expect(response.json).toHaveProperty("result");
    expect(response.json).toHaveProperty("evidence.untrusted", true);
    const writes = ["jira_add_comment", "slack_post_message", "aws_modify_security_group"];
    if (writes.includes(tool)) expect(response.json).toHaveProperty("compensation.kind");
    else expect(response.json).not.toHaveProperty("compensation");
  });

  it.each([
    ["jira_add_comment", "jira_delete_comment"],
    ["slack_post_message", "slack_delete_message"],
  ] as const)("%s returns its rollback as a %s call, which undoes it once", async (write, undo) => {
    const { call } = setup();
    const posted = await call(write, { token: await token({ tool: write }), body: body(write) });
    expect(posted.status).toBe(200);
    const rollback = (posted.json as { compensation: { rollback: unknown } }).compensation
      .rollback as { tool: string; arguments: Record<string, unknown> };
    expect(rollback.tool).toBe(undo);
    const request = { arguments: rollback.arguments, decision_id: "dec-0001" };
    const undone = await call(undo, {
      token: await token({ tool: undo, args: rollback.arguments }),
      body: request,
    });
    expect(undone.status).toBe(200);
    expect(undone.json).toMatchObject({ result: rollback.arguments });
    // Once: the second delete finds nothing to delete.
    const again = await call(undo, {
      token: await token({ tool: undo, args: rollback.arguments }),
      body: request,
    });
    expect(again.status).toBe(502);
    expect(again.json).toMatchObject({ code: "tool_failed" });
  });

  it("accepts the arguments in any key order (digest over canonical JSON)", async () => {
    const { call } = setup();
    const args = CALLS.github_read_pr;
    const reordered = { pull_request: args["pull_request"], repository: args["repository"] };
    const response = await call("github_read_pr", {
      token: await token({ tool: "github_read_pr" }),
      raw: JSON.stringify({ decision_id: "dec-0001", arguments: reordered }),
    });
    expect(response.status).toBe(200);
  });
});

describe("worker app: refusals run nothing", () => {
  function expectRefused(
    ctx: ReturnType<typeof setup>,
    response: { status: number; headers: Headers; json: unknown },
    status: number,
    code: string,
  ) {
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(response.json).toMatchObject({
      type: `https://agent-worker.zyxbank.example/problems/${code}`,
      title: expect.any(String) as unknown,
      status,
      code,
      detail: expect.any(String) as unknown,
    });
    expect(ctx.execute).not.toHaveBeenCalled();
    expect(ctx.log).toHaveBeenLastCalledWith(
      expect.any(String),
      expect.any(String),
      expect.objectContaining({ code }),
    );
  }

  it("missing token: 401 call_token_missing", async () => {
    const ctx = setup();
    const response = await ctx.call("jira_read", { body: body() });
    expectRefused(ctx, response, 401, "call_token_missing");
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("not a Bearer token: 401 call_token_invalid", async () => {
    const ctx = setup();
    const response = await ctx.call("jira_read", {
      authorization: `Basic ${btoa("a:b")}`,
      body: body(),
    });
    expectRefused(ctx, response, 401, "call_token_invalid");
  });

  it("forged token: 401 call_token_invalid", async () => {
    const ctx = setup();
    const response = await ctx.call("jira_read", {
      token: await token({ key: otherKey }),
      body: body(),
    });
    expectRefused(ctx, response, 401, "call_token_invalid");
  });

  it('alg "none": 401 call_token_invalid', async () => {
    const ctx = setup();
    const genuine = await token();
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "call+jwt" }));
    const response = await ctx.call("jira_read", {
      token: `${header}.${genuine.split(".")[1] ?? ""}.`,
      body: body(),
    });
    expectRefused(ctx, response, 401, "call_token_invalid");
  });

  it("expired token (frozen clock): 401 call_token_expired", async () => {
    const ctx = setup();
    const t = await token({ ttl: 5 });
    clock = T0 + 60_000;
    expectRefused(
      ctx,
      await ctx.call("jira_read", { token: t, body: body() }),
      401,
      "call_token_expired",
    );
  });

  it("wrong audience: 401 call_token_invalid", async () => {
    const ctx = setup();
    const t = await token({ claims: { aud: "zyx-other-worker" } });
    expectRefused(
      ctx,
      await ctx.call("jira_read", { token: t, body: body() }),
      401,
      "call_token_invalid",
    );
  });

  it("replayed token: 409 call_token_replayed, the tool runs once", async () => {
    const ctx = setup();
    const t = await token();
    expect((await ctx.call("jira_read", { token: t, body: body() })).status).toBe(200);
    ctx.execute.mockClear();
    expectRefused(
      ctx,
      await ctx.call("jira_read", { token: t, body: body() }),
      409,
      "call_token_replayed",
    );
  });

  it("tampered arguments: 400 arguments_digest_mismatch", async () => {
    const ctx = setup();
    const response = await ctx.call("jira_read", {
      token: await token(),
      body: { ...body(), arguments: { ticket: "CHG-99999" } },
    });
    expectRefused(ctx, response, 400, "arguments_digest_mismatch");
  });

  it("token for another tool than the path: 401 call_token_tool_mismatch", async () => {
    const ctx = setup();
    // A genuine jira_read token, with its own arguments, replayed against slack_post_message.
    const response = await ctx.call("slack_post_message", { token: await token(), body: body() });
    expectRefused(ctx, response, 401, "call_token_tool_mismatch");
  });

  it("token for another decision than the body: 401 call_token_decision_mismatch", async () => {
    const ctx = setup();
    const response = await ctx.call("jira_read", {
      token: await token(),
      body: body("jira_read", { decision_id: "dec-0002" }),
    });
    expectRefused(ctx, response, 401, "call_token_decision_mismatch");
  });

  it("signed but invalid arguments: 400 arguments_invalid with every issue", async () => {
    const ctx = setup();
    const args = { repository: "platform-infra", pull_request: "991" };
    const response = await ctx.call("github_read_pr", {
      token: await token({ tool: "github_read_pr", args }),
      body: { arguments: args, decision_id: "dec-0001" },
    });
    expectRefused(ctx, response, 400, "arguments_invalid");
    expect(response.json).toMatchObject({
      issues: [
        { path: "/repository", message: expect.any(String) as unknown },
        { path: "/pull_request", message: expect.any(String) as unknown },
      ],
    });
  });

  it.each([
    ["not JSON", "{"],
    ["no decision_id", JSON.stringify({ arguments: CALLS.jira_read })],
    ["an extra field", JSON.stringify({ ...body(), tool: "jira_read" })],
    ["an array", "[]"],
  ])("malformed body (%s): 400 request_malformed", async (_name, raw) => {
    const ctx = setup();
    expectRefused(
      ctx,
      await ctx.call("jira_read", { token: await token(), raw }),
      400,
      "request_malformed",
    );
  });

  it("a body not sent as application/json: 415 request_media_type_unsupported, nothing read", async () => {
    const ctx = setup();
    const t = await token();
    for (const contentType of [
      "text/plain",
      "text/plain;charset=UTF-8",
      "application/x-www-form-urlencoded",
      "application/json-patch+json",
      "application/json; charset=iso-8859-1",
      null,
    ]) {
      const response = await ctx.call("jira_read", { token: t, body: body(), contentType });
      expectRefused(ctx, response, 415, "request_media_type_unsupported");
      expect((response.json as { detail: string }).detail).toMatch(/application\/json/);
    }
    // The call token was never verified, so never spent: the same call as JSON runs.
    const ok = await ctx.call("jira_read", {
      token: t,
      body: body(),
      contentType: "Application/JSON; charset=utf-8",
    });
    expect(ok.status).toBe(200);
    expect(ctx.execute).toHaveBeenCalledTimes(1);
  });

  it("oversize body: 413 request_body_too_large", async () => {
    const ctx = setup();
    const raw = JSON.stringify({ ...body(), padding: "x".repeat(300 * 1024) });
    expectRefused(
      ctx,
      await ctx.call("jira_read", { token: await token(), raw }),
      413,
      "request_body_too_large",
    );
  });

  it("replay memory full: 503 replay_cache_full, fail closed", async () => {
    const ctx = setup({ maxReplayEntries: 1 });
    expect((await ctx.call("jira_read", { token: await token(), body: body() })).status).toBe(200);
    ctx.execute.mockClear();
    expectRefused(
      ctx,
      await ctx.call("jira_read", { token: await token(), body: body() }),
      503,
      "replay_cache_full",
    );
  });

  it("a failing tool: 502 tool_failed, detail logged but not returned", async () => {
    const ctx = setup({
      execute: () => {
        throw new Error("connector said: secret-ish detail");
      },
    });
    const response = await ctx.call("jira_read", { token: await token(), body: body() });
    expect(response.status).toBe(502);
    expect(response.json).toEqual({
      type: "https://agent-worker.zyxbank.example/problems/tool_failed",
      title: "Tool failed",
      status: 502,
      code: "tool_failed",
      detail: "tool jira_read failed",
    });
    expect(ctx.log).toHaveBeenCalledWith(
      "error",
      "call_failed",
      expect.objectContaining({
        code: "tool_failed",
        detail: expect.stringContaining("secret-ish detail") as unknown,
        decision_id: "dec-0001",
        trace_id: "trace-0001",
      }),
    );
  });

  it("unknown route: 404 route_not_found", async () => {
    const ctx = setup();
    const response = await ctx.app.request("/v1/execute/jira_read");
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ status: 404, code: "route_not_found" });
  });

  it("logs neither the token nor the arguments", async () => {
    const ctx = setup();
    const t = await token();
    await ctx.call("jira_read", {
      token: t,
      body: { ...body(), arguments: { ticket: "CHG-77777" } },
    });
    const logged = JSON.stringify(ctx.log.mock.calls);
    expect(logged).not.toContain(t);
    expect(logged).not.toContain("CHG-77777");
  });
});

describe("worker app: the gateway's deadline (timeout_ms)", () => {
  /** A tool that waits for its system until the call's deadline aborts it, as a connector does. */
  const hangs: Execute = () =>
    new Promise((_resolve, reject) => {
      const deadline = callDeadline();
      if (deadline === undefined) throw new Error("the test expects a deadline");
      deadline.addEventListener("abort", () => {
        reject(new ConnectorError("jira", "connector_timeout", "no answer before the deadline"));
      });
    });

  it("runs the tool under a deadline a margin short of the gateway's wait", async () => {
    let seen: number | undefined;
    const ctx = setup({
      execute: (call) => {
        seen = remainingMs();
        return fixtureTools(call);
      },
    });
    const { status } = await ctx.call("jira_read", {
      token: await token({ claims: { timeout_ms: 10_000 } }),
      body: body(),
    });
    expect(status).toBe(200);
    // 10 s less its margin (1 s): never more than 9 s, and not much less on a quick request.
    expect(seen).toBeLessThanOrEqual(9_000);
    expect(seen).toBeGreaterThan(8_000);
  });

  it("without timeout_ms (an older gateway) the tool runs with no deadline", async () => {
    let seen: AbortSignal | undefined;
    const ctx = setup({
      execute: (call) => {
        seen = callDeadline();
        return fixtureTools(call);
      },
    });
    const { status } = await ctx.call("jira_read", { token: await token(), body: body() });
    expect(status).toBe(200);
    expect(seen).toBeUndefined();
  });

  it("a deadline already spent: 504 deadline_exceeded, the tool never runs", async () => {
    const ctx = setup();
    // 50 ms is all margin: nothing is left to run in.
    const { status, json } = await ctx.call("jira_add_comment", {
      token: await token({ tool: "jira_add_comment", claims: { timeout_ms: 50 } }),
      body: body("jira_add_comment"),
    });
    expect(status).toBe(504);
    expect(json).toMatchObject({
      code: "deadline_exceeded",
      detail: "the gateway's deadline passed before the call started",
    });
    expect(ctx.execute).not.toHaveBeenCalled();
  });

  it("a token delivered after the gateway gave up (iat + timeout_ms): 504 deadline_exceeded, nothing runs", async () => {
    const ctx = setup();
    const t = await token({ tool: "jira_add_comment", claims: { timeout_ms: 10_000 } });
    // Signed at T0, the gateway stopped waiting by T0 + 10 s (+1 s of iat, +2 s of skew); the
    // request arrives at T0 + 20 s, its token still unexpired (30 s).
    clock = T0 + 20_000;
    const { status, json } = await ctx.call("jira_add_comment", {
      token: t,
      body: body("jira_add_comment"),
    });
    expect(status).toBe(504);
    expect(json).toMatchObject({ code: "deadline_exceeded" });
    expect(ctx.execute).not.toHaveBeenCalled();
  });

  it("a token delivered late runs only in what is left of the gateway's wait", async () => {
    let seen: number | undefined;
    const ctx = setup({
      execute: (call) => {
        seen = remainingMs();
        return fixtureTools(call);
      },
    });
    const t = await token({ claims: { timeout_ms: 10_000 } });
    clock = T0 + 5_000;
    expect((await ctx.call("jira_read", { token: t, body: body() })).status).toBe(200);
    // At most T0 + 13 s (iat + 1 s + 2 s of skew + 10 s) less the 1 s margin, from T0 + 5 s.
    expect(seen).toBeLessThanOrEqual(7_000);
    expect(seen).toBeGreaterThan(6_000);
  });

  it("a write stopped at the deadline: 504 tool_outcome_unknown", async () => {
    const ctx = setup({ execute: hangs });
    const { status, json } = await ctx.call("jira_add_comment", {
      token: await token({ tool: "jira_add_comment", claims: { timeout_ms: 300 } }),
      body: body("jira_add_comment"),
    });
    expect(status).toBe(504);
    expect(json).toMatchObject({
      code: "tool_outcome_unknown",
      detail:
        "tool jira_add_comment was stopped at the gateway's deadline (jira: connector_timeout): whether it took effect is unknown",
    });
  });

  it("a read stopped at the deadline: 504 deadline_exceeded (nothing was written)", async () => {
    const ctx = setup({ execute: hangs });
    const { status, json } = await ctx.call("jira_read", {
      token: await token({ claims: { timeout_ms: 300 } }),
      body: body(),
    });
    expect(status).toBe(504);
    expect(json).toMatchObject({
      code: "deadline_exceeded",
      detail:
        "tool jira_read did not finish before the gateway's deadline (jira: connector_timeout)",
    });
  });

  it("a write whose system did not answer in time, deadline or not: tool_outcome_unknown", async () => {
    const ctx = setup({
      execute: () =>
        Promise.reject(
          new ConnectorError("slack", "connector_timeout", "no answer within 5000 ms"),
        ),
    });
    const { status, json } = await ctx.call("slack_post_message", {
      token: await token({ tool: "slack_post_message" }),
      body: body("slack_post_message"),
    });
    expect(status).toBe(504);
    expect(json).toMatchObject({ code: "tool_outcome_unknown" });
  });

  it("a write refused by its system is still tool_failed: it did not take effect", async () => {
    const ctx = setup({
      execute: () =>
        Promise.reject(new ConnectorError("jira", "connector_rejected", "400 from Jira")),
    });
    const { status, json } = await ctx.call("jira_add_comment", {
      token: await token({ tool: "jira_add_comment", claims: { timeout_ms: 10_000 } }),
      body: body("jira_add_comment"),
    });
    expect(status).toBe(502);
    expect(json).toMatchObject({ code: "tool_failed" });
  });

  const refusedBy503 = new ConnectorError("jira", "connector_unavailable", "503", { status: 503 });
  const connectionRefused = new ConnectorError("aws", "connector_unavailable", "network", {
    cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
  });
  const resetOnceSent = new ConnectorError("aws", "connector_unavailable", "network", {
    cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
  });
  it.each([
    [
      "refused by its system (400)",
      new ConnectorError("jira", "connector_rejected", "400"),
      502,
      "tool_failed",
    ],
    ["forbidden", new ConnectorError("jira", "connector_forbidden", "403"), 502, "tool_failed"],
    [
      "rate limited",
      new ConnectorError("slack", "connector_rate_limited", "429"),
      502,
      "tool_failed",
    ],
    ["shed (503)", refusedBy503, 502, "tool_failed"],
    ["never sent (ECONNREFUSED)", connectionRefused, 502, "tool_failed"],
    [
      "a 502 from its system",
      new ConnectorError("jira", "connector_unavailable", "502", { status: 502 }),
      504,
      "tool_outcome_unknown",
    ],
    ["a connection lost once sent", resetOnceSent, 504, "tool_outcome_unknown"],
    [
      "an answer it cannot read",
      new ConnectorError("aws", "connector_bad_response", "2xx"),
      504,
      "tool_outcome_unknown",
    ],
    [
      "an error that is not a connector's",
      new TypeError("x is undefined"),
      504,
      "tool_outcome_unknown",
    ],
  ] as const)("a write that failed, %s: %i %s", async (_name, thrown, status, code) => {
    const ctx = setup({ execute: () => Promise.reject(thrown) });
    const answer = await ctx.call("aws_modify_security_group", {
      token: await token({ tool: "aws_modify_security_group" }),
      body: body("aws_modify_security_group"),
    });
    expect(answer.status).toBe(status);
    expect(answer.json).toMatchObject({ code });
  });

  it("a tool failure names its connector's code (never its message)", async () => {
    const ctx = setup({
      execute: () =>
        Promise.reject(
          new ConnectorError("jira", "connector_not_found", "404: CHG-1 has no comment 7"),
        ),
    });
    const answer = await ctx.call("jira_read", { token: await token(), body: body() });
    expect(answer.status).toBe(502);
    expect(answer.json).toMatchObject({
      code: "tool_failed",
      connector_code: "connector_not_found",
    });
    expect(JSON.stringify(answer.json)).not.toContain("no comment 7");
  });

  it("a write whose result the output guard cannot take: tool_outcome_unknown, nothing unguarded", async () => {
    const unreadable = {
      get body(): string {
        throw new Error("a result that cannot be read");
      },
    };
    const ctx = setup({ execute: () => Promise.resolve({ result: unreadable }) });
    const answer = await ctx.call("jira_add_comment", {
      token: await token({ tool: "jira_add_comment" }),
      body: body("jira_add_comment"),
    });
    expect(answer.status).toBe(504);
    expect(answer.json).toMatchObject({ code: "tool_outcome_unknown" });
  });

  it("a timeout_ms out of bounds is a malformed token: 401, nothing runs", async () => {
    const ctx = setup();
    const { status, json } = await ctx.call("jira_read", {
      token: await token({ claims: { timeout_ms: 120_001 } }),
      body: body(),
    });
    expect(status).toBe(401);
    expect(json).toMatchObject({ code: "call_token_invalid" });
    expect(ctx.execute).not.toHaveBeenCalled();
  });
});
