// Property-based fuzzing (fast-check) of every route and the MCP door, through the real app with
// a real worker behind it: bodies, headers, arguments, ids and token shapes, from well-formed
// ones with one thing wrong to noise.
//
// Properties: no answer is a 5xx (nothing here is down: the policy, audit and worker all work);
// every 4xx outside /mcp is an RFC 9457 problem whose code is in the closed union; nothing
// throws out of the app; memory stays bounded over the whole run.
//
// `make test` runs a fixed seed (deterministic, a few seconds); FUZZ_SEED=random explores, and
// FUZZ_RUNS sets the runs per property (default 150). A failure prints its seed and path:
// reproduce it with FUZZ_SEED=<seed> FUZZ_PATH=<path>.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { TOOL_NAMES } from "../../../common/catalog.ts";
import { KILL_SWITCH_SCOPES, scopeSlug } from "../../src/killswitch/scopes.ts";
import { ERROR_CODES } from "../../src/lib/errors.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import {
  ADMIN,
  APPROVER,
  ENGINEER,
  REMEDIATOR,
  SG_CHANGE,
  VALID_ARGUMENTS,
} from "../../../test/support/fixtures.ts";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? "150");
const SEED = process.env["FUZZ_SEED"] ?? "20261204";
const PATH = process.env["FUZZ_PATH"];
const settings: fc.Parameters<unknown> = {
  numRuns: RUNS,
  ...(SEED === "random" ? {} : { seed: Number(SEED) }),
  ...(PATH === undefined ? {} : { path: PATH }),
};

const VALID_ARGS: Record<string, Record<string, unknown>> = VALID_ARGUMENTS;

interface Identity {
  token: string;
  posture: string;
}

let h: Harness;
let people: Identity[];
let pendingId: string;
const baselineRss = { value: 0 };
/** Statuses answered, by count: the run must reach past the identity checks, not only bounce. */
const seen = new Map<number, number>();

beforeAll(async () => {
  h = await createHarness();
  people = await Promise.all(
    [ENGINEER, REMEDIATOR, APPROVER, ADMIN].map(async (who) => ({
      token: await h.accessToken(who),
      posture: await h.postureToken({ user: who.user }),
    })),
  );
  const pending = await h.callAs("aws_modify_security_group", SG_CHANGE, { as: REMEDIATOR });
  expect(pending.status).toBe(202);
  pendingId = ((await pending.json()) as { approval_id: string }).approval_id;
  baselineRss.value = process.memoryUsage().rss;
});

/** Printable ASCII only: what a Headers object accepts (anything else never reaches the app). */
const headerText = fc.string({ maxLength: 300 }).map((s) => s.replace(/[^\x20-\x7e]/g, "x").trim());
const base64url = fc
  .uint8Array({ maxLength: 120 })
  .map((bytes) => Buffer.from(bytes).toString("base64url"));
const jsonSegment = fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString("base64url"));

/** Token shapes: valid, absent, noise, JWT-shaped, tampered, unsigned, alg none. */
function tokenShapes(valid: () => string): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    fc.constant(undefined).map(() => valid()),
    fc.constant(undefined),
    headerText,
    fc.tuple(base64url, base64url, base64url).map(([a, b, c]) => `${a}.${b}.${c}`),
    fc.tuple(jsonSegment, jsonSegment, base64url).map(([a, b, c]) => `${a}.${b}.${c}`),
    fc.nat().map((i) => {
      const token = valid();
      const at = i % token.length;
      const swap = token[at] === "A" ? "B" : "A";
      return token.slice(0, at) + swap + token.slice(at + 1);
    }),
    fc.constant(undefined).map(() => valid().split(".").slice(0, 2).join(".") + "."),
    fc.constant(undefined).map(() => {
      const [, payload] = valid().split(".");
      const none = Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString(
        "base64url",
      );
      return `${none}.${payload ?? ""}.`;
    }),
  );
}

const who = fc.nat({ max: 3 });
const authHeaders = who.chain((i) =>
  fc.record(
    {
      authorization: fc.oneof(
        tokenShapes(() => people[i]?.token ?? "").map((t) =>
          t === undefined ? undefined : `Bearer ${t}`,
        ),
        headerText,
      ),
      "x-device-posture": tokenShapes(() => people[i]?.posture ?? ""),
      "content-type": fc.constantFrom(
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
      ),
      traceparent: fc.oneof(
        headerText,
        fc.constant("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
      ),
    },
    { requiredKeys: [] },
  ),
);

/** Arguments for `tool`: its valid ones (often), with one field changed or added, or any JSON. */
function toolArguments(tool?: string): fc.Arbitrary<unknown> {
  const valid =
    tool === undefined
      ? fc.constantFrom(...Object.values(VALID_ARGS))
      : fc.constant(VALID_ARGS[tool] ?? {});
  return fc.oneof(
    { arbitrary: valid, weight: 4 },
    {
      arbitrary: fc
        .tuple(valid, fc.string(), fc.jsonValue())
        .map(([args, key, value]) => ({ ...args, [key]: value })),
      weight: 1,
    },
    {
      arbitrary: fc
        .tuple(valid, fc.jsonValue())
        .map(([args, value]) => ({ ...args, [Object.keys(args)[0] ?? "x"]: value })),
      weight: 1,
    },
    { arbitrary: fc.dictionary(fc.string(), fc.jsonValue()), weight: 1 },
    { arbitrary: fc.jsonValue(), weight: 1 },
  );
}

/** A tool call's body: mostly a well-formed envelope, sometimes anything. */
function toolBody(tool?: string): fc.Arbitrary<string> {
  const envelope = fc
    .record(
      {
        arguments: toolArguments(tool),
        session_id: fc.oneof(
          { arbitrary: fc.constantFrom("fuzz-a", "fuzz-b"), weight: 4 },
          { arbitrary: fc.string({ maxLength: 200 }), weight: 1 },
        ),
        approval_id: fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 6 },
          { arbitrary: fc.uuid(), weight: 1 },
          { arbitrary: fc.string(), weight: 1 },
          { arbitrary: fc.constant(undefined).map(() => pendingId), weight: 1 },
        ),
        context: fc.oneof(
          {
            arbitrary: fc.record(
              { decision_trace: fc.string(), model: fc.string({ maxLength: 200 }) },
              { requiredKeys: [] },
            ),
            weight: 3,
          },
          { arbitrary: fc.jsonValue(), weight: 1 },
        ),
      },
      { requiredKeys: ["arguments", "session_id"] },
    )
    .map((body) => JSON.stringify(body));
  return fc.oneof(
    { arbitrary: envelope, weight: 6 },
    { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)), weight: 1 },
    { arbitrary: fc.string({ maxLength: 2_000 }), weight: 1 },
    {
      arbitrary: fc.constant('{"arguments": {"__proto__": {"admin": true}}, "session_id": "s"}'),
      weight: 1,
    },
  );
}

const anyId = fc.oneof(
  fc.constant(undefined).map(() => pendingId),
  fc.uuid(),
  fc.string({ maxLength: 300 }),
  fc.constant("x".repeat(10_000)),
);
const scopes = fc.oneof(fc.constantFrom(...KILL_SWITCH_SCOPES.map(scopeSlug)), fc.string());
const methods = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS");
const seg = (arb: fc.Arbitrary<string>) => arb.map((s) => encodeURIComponent(s));

/** Every route (and its neighbours): method, path, body. */
const requests = fc.oneof(
  fc.record({
    method: fc.oneof(fc.constant("POST"), methods),
    path: seg(fc.oneof(fc.constantFrom(...TOOL_NAMES), fc.string())).map((t) => `/v1/tools/${t}`),
    body: fc.option(toolBody(), { nil: undefined }),
  }),
  fc.record({
    method: fc.oneof(fc.constant("GET"), methods),
    path: fc
      .tuple(seg(anyId), fc.constantFrom("", "?wait=0", "?wait=-1", "?wait=abc", "?wait=1e9"))
      .map(([id, query]) => `/v1/approvals/${id}${query}`),
    body: fc.constant(undefined),
  }),
  fc.record({
    method: fc.oneof(fc.constant("POST"), methods),
    path: fc
      .tuple(seg(anyId), fc.constantFrom("approve", "deny"))
      .map(([id, verb]) => `/v1/approvals/${id}/${verb}`),
    body: fc.option(
      fc.oneof(
        fc.record({ reason: fc.string() }).map((b) => JSON.stringify(b)),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.string(),
      ),
      { nil: undefined },
    ),
  }),
  fc.record({
    method: fc.oneof(fc.constantFrom("GET", "PUT", "DELETE"), methods),
    path: fc.oneof(
      fc.constant("/v1/admin/kill-switch"),
      seg(scopes).map((s) => `/v1/admin/kill-switch/${s}`),
    ),
    body: fc.option(
      fc.oneof(
        fc
          .record({ value: fc.string(), reason: fc.oneof(fc.string(), fc.jsonValue()) })
          .map((b) => JSON.stringify(b)),
        fc.jsonValue().map((v) => JSON.stringify(v)),
      ),
      { nil: undefined },
    ),
  }),
  fc.record({
    method: methods,
    path: fc.oneof(
      fc.constantFrom(
        "/openapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
      ),
      fc.string().map((s) => `/${encodeURIComponent(s)}`),
    ),
    body: fc.option(fc.string(), { nil: undefined }),
  }),
);

async function send(
  request: { method: string; path: string; body: string | undefined },
  headers: Record<string, string | undefined>,
): Promise<Response> {
  const clean = Object.fromEntries(
    Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const { body } = request;
  const hasBody = body !== undefined && !["GET", "HEAD"].includes(request.method);
  const response = await h.app.request(request.path, {
    method: request.method,
    headers: clean,
    ...(hasBody ? { body } : {}),
  });
  seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
  return response;
}

async function expectProblemOr2xx(response: Response, label: string): Promise<void> {
  expect(response.status, label).toBeLessThan(500);
  if (response.status < 400) return;
  expect(response.headers.get("content-type"), label).toMatch(/^application\/problem\+json/);
  const problem = (await response.json()) as { code?: string; status?: number };
  expect(ERROR_CODES, label).toContain(problem.code);
  expect(problem.status, label).toBe(response.status);
}

describe("fuzzing every route through the real app", () => {
  it("never answers 5xx, and every refusal is a problem with a code from the union", async () => {
    await fc.assert(
      fc.asyncProperty(requests, authHeaders, async (request, headers) => {
        const response = await send(request, headers);
        await expectProblemOr2xx(response, `${request.method} ${request.path}`);
      }),
      settings,
    );
  });

  it("the tool route: any arguments for any tool, with valid identities", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...TOOL_NAMES).chain((tool) => fc.tuple(fc.constant(tool), toolBody(tool))),
        who,
        async ([tool, body], i) => {
          const person = people[i];
          const response = await send(
            { method: "POST", path: `/v1/tools/${tool}`, body },
            {
              authorization: `Bearer ${person?.token ?? ""}`,
              "x-device-posture": person?.posture,
              "content-type": "application/json",
            },
          );
          await expectProblemOr2xx(response, `POST /v1/tools/${tool}`);
        },
      ),
      settings,
    );
  });

  it("the MCP door: JSON-RPC messages of any shape never answer 5xx", async () => {
    const message = fc.record(
      {
        jsonrpc: fc.oneof(fc.constant("2.0"), fc.jsonValue()),
        id: fc.oneof(fc.nat(), fc.string(), fc.jsonValue()),
        method: fc.oneof(
          fc.constantFrom("initialize", "tools/list", "tools/call", "ping", "notifications/x"),
          fc.string(),
        ),
        params: fc.oneof(
          fc.record({
            name: fc.oneof(fc.constantFrom(...TOOL_NAMES), fc.string()),
            arguments: toolArguments(),
            _meta: fc.oneof(fc.jsonValue(), fc.record({ "zyx/approval_id": anyId })),
          }),
          fc.record({
            protocolVersion: fc.constantFrom("2025-11-25", "2025-03-26", "1999-01-01"),
            capabilities: fc.jsonValue(),
            clientInfo: fc.record({ name: fc.string(), version: fc.string() }),
          }),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: ["jsonrpc", "method"] },
    );
    const bodies = fc.oneof(
      message.map((m) => JSON.stringify(m)),
      fc.array(message, { maxLength: 4 }).map((m) => JSON.stringify(m)),
      fc.string(),
    );
    await fc.assert(
      fc.asyncProperty(
        bodies,
        authHeaders,
        fc.constantFrom("application/json, text/event-stream", "application/json", "*/*", ""),
        fc.option(headerText, { nil: undefined }),
        async (body, headers, accept, sessionId) => {
          const response = await send(
            { method: "POST", path: "/mcp", body },
            {
              ...headers,
              accept,
              "mcp-session-id": sessionId,
              "mcp-protocol-version": "2025-11-25",
            },
          );
          expect(response.status, body.slice(0, 200)).toBeLessThan(500);
          await response.arrayBuffer();
        },
      ),
      settings,
    );
  });

  it("reached every kind of answer: executed, waiting, refused by policy, by schema, by identity", () => {
    const statuses = Object.fromEntries(seen);
    for (const status of [200, 202, 400, 401, 403, 404]) {
      expect(statuses, `status ${String(status)} never answered`).toHaveProperty(String(status));
    }
  });

  it("memory stays bounded over the whole run", () => {
    const grown = process.memoryUsage().rss - baselineRss.value;
    expect(grown).toBeLessThan(512 * 1024 * 1024);
  });
});

describe("a refusal that quotes a forged token's header stays a 401", () => {
  // jose names an unrecognised `crit` member in its message, which the challenge repeats: a
  // character an HTTP header cannot hold made every authenticated route answer 500.
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const MCP = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  it.each([
    ["a character above U+00FF", "\u20ac"],
    ["a line feed", "a\nb"],
    ["a NUL", "a\u0000b"],
  ])(
    "%s in crit: REST, MCP, admin and posture answer 401 with a challenge",
    async (_label, param) => {
      const h = await createHarness();
      const [, payload, signature] = (await h.accessToken()).split(".");
      const posture = await h.postureToken();
      const forged = `${b64({ alg: "ES256", typ: "at+jwt", crit: [param] })}.${payload ?? ""}.${signature ?? ""}`;
      const [, pPayload, pSignature] = posture.split(".");
      const forgedPosture = `${b64({ alg: "ES256", typ: "posture+jwt", crit: [param] })}.${pPayload ?? ""}.${pSignature ?? ""}`;
      const auth = { authorization: `Bearer ${forged}`, "x-device-posture": posture };
      const call = JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "s-1" });
      const answers = [
        [
          "rest",
          await h.app.request("/v1/tools/jira_read", {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body: call,
          }),
          "token_invalid",
        ],
        [
          "mcp",
          await h.app.request("http://gateway.test/mcp", {
            method: "POST",
            headers: { ...auth, ...MCP },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
          }),
          "token_invalid",
        ],
        ["admin", await h.app.request("/v1/admin/kill-switch", { headers: auth }), "token_invalid"],
        [
          "posture",
          await h.app.request("/v1/tools/jira_read", {
            method: "POST",
            headers: {
              authorization: `Bearer ${await h.accessToken()}`,
              "x-device-posture": forgedPosture,
              "content-type": "application/json",
            },
            body: call,
          }),
          "posture_invalid",
        ],
      ] as const;
      for (const [door, response, code] of answers) {
        expect(response.status, door).toBe(401);
        expect(await response.json(), door).toMatchObject({ code });
        expect(response.headers.get("www-authenticate"), door).toMatch(/^Bearer [\x20-\x7E]*$/);
      }
      expect(h.workerCalls).toHaveLength(0);
    },
  );
});
