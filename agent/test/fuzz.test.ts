// Property-based fuzzing (fast-check) of the worker's routes through its real app and fixture
// connectors: call tokens of every shape (valid, tampered, unsigned, other key, claims that do
// not match the body), bodies, tools and arguments.
//
// Properties: no answer is a 5xx but a connector's own failure (502 tool_failed); every refusal is
// an RFC 9457 problem; the connectors run only
// for a call whose token is valid and matches the body exactly (tool, argument digest, decision).
// A fixed seed in `make test`; FUZZ_SEED=random explores, FUZZ_RUNS sets the runs (default 150).
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { argumentsDigest } from "../../common/canonical.ts";
import { loadCatalog, TOOL_NAMES, type ToolName } from "../../common/catalog.ts";
import type { Log } from "../../common/service.ts";
import { createWorkerApp, type Execute } from "../src/app.ts";
import { createCallTokenVerifier } from "../src/call-token.ts";
import { createFixtureConnectors } from "../src/connectors/index.ts";
import { createToolExecutor } from "../src/tools.ts";
import { VALID_ARGUMENTS } from "../../test/support/fixtures.ts";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? "150");
const SEED = process.env["FUZZ_SEED"] ?? "20261204";
const settings: fc.Parameters<unknown> = {
  numRuns: RUNS,
  ...(SEED === "random" ? {} : { seed: Number(SEED) }),
};

const ISSUER = "zyx-agent-gateway";
const AUDIENCE = "zyx-agent-worker";
const KID = "gw-fuzz-1";
const T0 = Date.UTC(2026, 10, 21, 3, 0, 0);
const T0_SEC = T0 / 1000;

const CALLS = VALID_ARGUMENTS;

let gatewayKey: JWK;
let otherKey: JWK;
let app: ReturnType<typeof createWorkerApp>;
const executed: { tool: string; digest: string }[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  gatewayKey = { ...(await exportJWK(pair.privateKey)), kid: KID };
  const other = await generateKeyPair("ES256", { extractable: true });
  otherKey = { ...(await exportJWK(other.privateKey)), kid: KID };
  const tools = createToolExecutor(
    createFixtureConnectors(join(mkdtempSync(join(tmpdir(), "zyx-worker-fuzz-")), "w.jsonl")),
    loadCatalog(),
  );
  const execute: Execute = (call) => {
    executed.push({ tool: call.tool, digest: argumentsDigest(call.arguments) });
    return tools(call);
  };
  app = createWorkerApp({
    verifier: createCallTokenVerifier({
      jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: KID }] },
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceSec: 2,
      maxReplayEntries: 100_000,
      now: () => T0,
    }),
    execute,
    log: vi.fn<Log>(),
  });
});

interface Planned {
  tool: ToolName;
  args: unknown;
  /** What the token claims (may differ from the body). */
  claims: { tool: string; args: unknown; decision_id: string; alg?: "none" };
  key: "gateway" | "other";
  ttl: number;
}

async function sign(plan: Planned): Promise<string> {
  const payload = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "u-engineer",
    act: { sub: "change-reviewer" },
    tool: plan.claims.tool,
    args_sha256: argumentsDigest(plan.claims.args),
    decision_id: plan.claims.decision_id,
    trace_id: "trace-fuzz",
    jti: randomUUID(),
    iat: T0_SEC,
    exp: T0_SEC + plan.ttl,
  };
  if (plan.claims.alg === "none") {
    const head = Buffer.from(JSON.stringify({ alg: "none", typ: "call+jwt" })).toString(
      "base64url",
    );
    return `${head}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.`;
  }
  return new SignJWT(payload)
    .setProtectedHeader({ alg: "ES256", kid: KID, typ: "call+jwt" })
    .sign(await importJWK(plan.key === "gateway" ? gatewayKey : otherKey, "ES256"));
}

const jsonArgs = fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue(), { maxKeys: 5 });
const plans: fc.Arbitrary<Planned> = fc.constantFrom(...TOOL_NAMES).chain((tool) =>
  fc.record({
    tool: fc.constant(tool),
    args: fc.oneof(
      { arbitrary: fc.constant(CALLS[tool]), weight: 4 },
      { arbitrary: jsonArgs, weight: 1 },
    ),
    claims: fc.record(
      {
        tool: fc.oneof(
          { arbitrary: fc.constant<string>(tool), weight: 4 },
          { arbitrary: fc.constantFrom<string>(...TOOL_NAMES), weight: 1 },
        ),
        args: fc.oneof(
          { arbitrary: fc.constant(CALLS[tool]), weight: 4 },
          { arbitrary: jsonArgs, weight: 1 },
        ),
        decision_id: fc.oneof(
          { arbitrary: fc.constant("dec-fuzz"), weight: 4 },
          { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
        ),
        alg: fc.constant("none" as const),
      },
      { requiredKeys: ["tool", "args", "decision_id"] },
    ),
    key: fc.constantFrom("gateway" as const, "gateway" as const, "other" as const),
    ttl: fc.constantFrom(30, 30, -60),
  }),
);

const noise = fc.string({ maxLength: 500 }).map((s) => s.replace(/[^\x20-\x7e]/g, "x"));

function valid(plan: Planned): boolean {
  return (
    plan.key === "gateway" &&
    plan.ttl > 0 &&
    plan.claims.alg === undefined &&
    plan.claims.tool === plan.tool &&
    plan.claims.decision_id === "dec-fuzz" &&
    argumentsDigest(plan.claims.args) === argumentsDigest(plan.args)
  );
}

/** 200, a 4xx problem, or 502 tool_failed (the connector refused: e.g. a rule already revoked). */
async function expectProblemOr200(response: Response): Promise<void> {
  if (response.status === 200) return;
  expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const problem = (await response.json()) as { code?: unknown; status?: unknown };
  expect(problem.status).toBe(response.status);
  if (response.status === 502) expect(problem.code).toBe("tool_failed");
  else expect(response.status).toBeLessThan(500);
  expect(typeof problem.code).toBe("string");
}

describe("fuzzing the worker through its real app", () => {
  it("runs a call only when its token is valid and matches the body exactly", async () => {
    await fc.assert(
      fc.asyncProperty(plans, async (plan) => {
        const before = executed.length;
        const response = await app.request(`/v1/execute/${plan.tool}`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${await sign(plan)}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ arguments: plan.args, decision_id: "dec-fuzz" }),
        });
        await expectProblemOr200(response);
        const ran = executed.length > before;
        if (ran) expect(valid(plan)).toBe(true);
        if (!valid(plan)) expect(response.status).not.toBe(200);
      }),
      settings,
    );
    expect(executed.length).toBeGreaterThan(0);
  });

  it("never answers 5xx to noise: any path, header and body", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(...TOOL_NAMES).map((t) => `/v1/execute/${t}`),
          fc.string().map((s) => `/v1/execute/${encodeURIComponent(s)}`),
          fc.string().map((s) => `/${encodeURIComponent(s)}`),
        ),
        fc.constantFrom("GET", "POST", "PUT", "DELETE"),
        fc.option(noise, { nil: undefined }),
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 2_000 }),
        ),
        async (path, method, authorization, body) => {
          const response = await app.request(path, {
            method,
            headers: {
              ...(authorization === undefined ? {} : { authorization }),
              "content-type": "application/json",
            },
            ...(method === "GET" ? {} : { body }),
          });
          await expectProblemOr200(response);
        },
      ),
      settings,
    );
  });
});
