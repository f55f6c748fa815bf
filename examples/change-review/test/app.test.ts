// The runtime's HTTP surface, in process: the engineer's own token verified for real (jose, a
// frozen clock), the delegation and the gateway faked (the gateway on the fixture connectors).
import type { JSONWebKeySet } from "jose";
import { describe, expect, it } from "vitest";
import {
  CHANGE_REVIEW_AUDIENCE,
  DEV_ISSUER,
  GATEWAY_AUDIENCE,
  generateDevKey,
  publicJwk,
} from "../../../common/keys.ts";
import { mintAccessToken, mintPostureToken } from "../../../idp/src/mint.ts";
import { createChangeReviewApp, type ChangeReviewPorts } from "../src/app.ts";
import { createEngineerVerifier } from "../src/auth.ts";
import type { Delegation } from "../src/delegation.ts";
import { ReviewError } from "../src/errors.ts";
import type { GatewayClient, GatewaySession } from "../src/gateway-client.ts";
import type { Narrator } from "../src/narrative.ts";
import {
  REVIEW_OPTIONS,
  SEED_REVIEW,
  fakeGateway,
  type Call,
  type FakeOptions,
} from "./support.ts";

const T0 = 1_779_242_400;
const TRACE = "0af7651916cd43dd8448eb211c80319c";
const USER = "engineer@zyxbank.example";
const idpKey = await generateDevKey();
const otherKey = await generateDevKey();
const JWKS: JSONWebKeySet = { keys: [publicJwk(idpKey)] };

function engineerToken(overrides: Partial<Parameters<typeof mintAccessToken>[0]> = {}) {
  return mintAccessToken({
    privateJwk: idpKey,
    issuer: DEV_ISSUER,
    audience: CHANGE_REVIEW_AUDIENCE,
    user: USER,
    groups: ["grp-ai-users", "grp-ai-devops-readonly"],
    ttlSec: 900,
    now: T0,
    ...overrides,
  });
}

const TOKEN = await engineerToken();
const POSTURE = await mintPostureToken({
  privateJwk: idpKey,
  issuer: "zyx-dev-device-trust",
  audience: GATEWAY_AUDIENCE,
  user: USER,
  compliant: true,
  checkedAt: T0,
  ttlSec: 600,
  now: T0,
});

interface Harness {
  app: ReturnType<typeof createChangeReviewApp>;
  exchanged: string[];
  sessions: GatewaySession[];
  calls: Call[];
  logs: Record<string, unknown>[];
}

function harness(
  options: {
    gateway?: FakeOptions;
    delegation?: Delegation;
    narrator?: Narrator;
    engineers?: ChangeReviewPorts["engineers"];
  } = {},
): Harness {
  const exchanged: string[] = [];
  const sessions: GatewaySession[] = [];
  const calls: Call[] = [];
  const logs: Record<string, unknown>[] = [];
  const gateway: GatewayClient = {
    session(session) {
      sessions.push(session);
      const fake = fakeGateway(options.gateway);
      return {
        call: async (tool, args, purpose) => {
          try {
            return await fake.call(tool, args, purpose);
          } finally {
            calls.push(...fake.calls.splice(0));
          }
        },
      };
    },
  };
  const app = createChangeReviewApp(
    {
      engineers:
        options.engineers ??
        createEngineerVerifier({
          issuer: DEV_ISSUER,
          audience: CHANGE_REVIEW_AUDIENCE,
          keys: { kind: "jwks", jwks: JWKS },
          now: () => T0 + 60,
        }),
      delegation: options.delegation ?? {
        exchange: (token) => {
          exchanged.push(token);
          return Promise.resolve("delegated.access.token");
        },
      },
      gateway,
      ...(options.narrator === undefined ? {} : { narrator: options.narrator }),
    },
    {
      defaultOwner: "zyx-bank",
      review: REVIEW_OPTIONS,
      newTraceId: () => TRACE,
      log: (record) => logs.push(record),
    },
  );
  return { app, exchanged, sessions, calls, logs };
}

const SEED_BODY = { ticket: "CHG-18422", repository: "platform-infra", pull_request: "991" };

function post(
  app: Harness["app"],
  body: unknown,
  headers: Record<string, string> = {
    authorization: `Bearer ${TOKEN}`,
    "x-device-posture": POSTURE,
  },
) {
  return app.request("/review-change", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("POST /review-change", () => {
  it("answers 401, not 500, to a forged token whose crit names a character no header can hold", async () => {
    // jose quotes an unrecognised crit member in its message before any signature check, and
    // the 401's challenge repeats it (common/challenge.ts keeps only what a header can hold).
    const { app, exchanged, logs } = harness();
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    for (const member of ["x\u20ac", "a\nb"]) {
      const forged = `${b64({ alg: "ES256", typ: "at+jwt", crit: [member] })}.${b64({ sub: USER })}.AAAA`;
      const response = await post(app, SEED_BODY, {
        authorization: `Bearer ${forged}`,
        "x-device-posture": POSTURE,
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ code: "token_invalid" });
      expect(response.headers.get("www-authenticate")).toMatch(
        /^Bearer realm="zyx-change-review", error="invalid_token", error_description="[\x20-\x7e]*"$/,
      );
    }
    expect(exchanged).toEqual([]);
    expect(logs.filter((record) => record["level"] === "error")).toEqual([]);
  });

  it("answers the walkthrough's request with its review, acting through a delegated token", async () => {
    const { app, exchanged, sessions, calls, logs } = harness();
    const response = await post(app, SEED_BODY);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      ticket: "CHG-18422",
      repository: "zyx-bank/platform-infra",
      pull_request: 991,
      ...SEED_REVIEW,
      audit_trace_id: TRACE,
      pending_approvals: [],
      evidence_warnings: [],
    });
    // The engineer's own token went to the exchange; the gateway got the delegated one, the
    // posture token as it came, one trace and one session.
    expect(exchanged).toEqual([TOKEN]);
    expect(sessions).toEqual([
      {
        accessToken: "delegated.access.token",
        posture: POSTURE,
        traceId: TRACE,
        sessionId: `change-review:${TRACE}`,
      },
    ]);
    expect(calls.map((c) => c.tool)).toEqual(SEED_REVIEW.tools_used);
    expect(logs).toEqual([
      expect.objectContaining({
        message: "review_completed",
        trace_id: TRACE,
        sub: USER,
        ticket: "CHG-18422",
        risk_rating: "High",
        findings: 5,
      }),
    ]);
    expect(JSON.stringify(logs)).not.toContain(TOKEN);
  });

  it("adds the model's narrative when a narrator is configured", async () => {
    const { app } = harness({
      narrator: { narrate: (report) => Promise.resolve(`${report.findings.length} findings.`) },
    });
    expect(await (await post(app, SEED_BODY)).json()).toMatchObject({ narrative: "5 findings." });
  });

  it("ignores the walkthrough's plain identity headers", async () => {
    const { app, exchanged } = harness();
    const response = await post(app, SEED_BODY, {
      "x-user-email": USER,
      "x-user-groups": "grp-ai-users,grp-ai-devops-readonly",
      "x-device-compliant": "true",
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="zyx-change-review"');
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await response.json()).toEqual({
      type: "https://change-review.zyxbank.example/problems/token_missing",
      title: "Access token missing",
      status: 401,
      detail: "no Authorization header",
      code: "token_missing",
    });
    expect(exchanged).toEqual([]);
  });

  it.each([
    ["expired", () => engineerToken({ now: T0 - 1_000, ttlSec: 900 }), "token_expired"],
    ["for the gateway", () => engineerToken({ audience: GATEWAY_AUDIENCE }), "token_invalid"],
    ["signed by another key", () => engineerToken({ privateJwk: otherKey }), "token_invalid"],
    ["from another issuer", () => engineerToken({ issuer: "someone-else" }), "token_invalid"],
  ])("refuses a token %s", async (_name, mint, code) => {
    const { app, exchanged } = harness();
    const response = await post(app, SEED_BODY, {
      authorization: `Bearer ${await mint()}`,
      "x-device-posture": POSTURE,
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(
      /^Bearer realm="zyx-change-review", error="invalid_token"/,
    );
    expect(await response.json()).toMatchObject({ code });
    expect(exchanged).toEqual([]);
  });

  it("refuses an agent's token: the engineer presents their own", async () => {
    const { app } = harness();
    const response = await post(app, SEED_BODY, {
      authorization: `Bearer ${await engineerToken({ agent: "change-reviewer" })}`,
      "x-device-posture": POSTURE,
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({
      code: "token_invalid",
      detail: 'the token already names an acting agent ("act"): present your own access token',
    });
  });

  it("refuses a posture token of another kind than JWT (typ)", async () => {
    const { app } = harness();
    const response = await post(app, SEED_BODY, {
      authorization: `Bearer ${POSTURE}`,
      "x-device-posture": POSTURE,
    });
    expect(await response.json()).toMatchObject({ code: "token_invalid" });
  });

  it("needs the device posture token", async () => {
    const { app } = harness();
    const response = await post(app, SEED_BODY, { authorization: `Bearer ${TOKEN}` });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({
      code: "posture_missing",
      detail: "no X-Device-Posture header: the device-trust service's token is required",
    });
  });

  it("reports an identity provider whose key set cannot be fetched", async () => {
    const { app } = harness({
      engineers: createEngineerVerifier({
        issuer: DEV_ISSUER,
        audience: CHANGE_REVIEW_AUDIENCE,
        keys: { kind: "remote", url: new URL("http://127.0.0.1:1/.well-known/jwks.json") },
      }),
    });
    const response = await post(app, SEED_BODY);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: "identity_provider_unavailable" });
  });

  it.each([
    ["not JSON", "{", "the request body is not JSON", undefined],
    [
      "an unknown member",
      { ...SEED_BODY, x_user_email: USER },
      "the body must be {ticket, repository, pull_request}",
      [{ path: "", message: 'Unrecognized key: "x_user_email"' }],
    ],
    [
      "a malformed ticket",
      { ...SEED_BODY, ticket: "chg-1" },
      "1 problem(s) with the request",
      [{ path: "ticket", message: "must be a Jira issue key such as CHG-18422" }],
    ],
    [
      "a repository path",
      { ...SEED_BODY, repository: "a/b/c" },
      "1 problem(s) with the request",
      [
        {
          path: "repository",
          message: "must be a GitHub repository as owner/name, such as zyx-bank/platform-infra",
        },
      ],
    ],
    [
      "a pull request that is not a number",
      { ...SEED_BODY, pull_request: "991a" },
      "the body must be {ticket, repository, pull_request}",
      [{ path: "pull_request", message: 'must be a pull request number: 991 or "991"' }],
    ],
    [
      "pull request 0",
      { ...SEED_BODY, pull_request: 0 },
      "1 problem(s) with the request",
      [{ path: "pull_request", message: "must be at least 1" }],
    ],
  ])("refuses %s", async (_name, body, detail, issues) => {
    const { app, exchanged } = harness();
    const response = await post(app, body);
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({ code: "request_malformed", detail });
    if (issues !== undefined) expect(problem["issues"]).toEqual(issues);
    expect(exchanged).toEqual([]);
  });

  it("refuses a body over the limit before reading it", async () => {
    const { app } = harness();
    const response = await post(app, { ...SEED_BODY, ticket: "X".repeat(20_000) });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "request_body_too_large" });
  });

  it("passes on the gateway's refusal with its reasons and the review's trace id", async () => {
    const { app, calls, logs } = harness({
      gateway: {
        refuse: {
          tool: "jira_read",
          error: new ReviewError(
            "policy_denied",
            "the gateway refused jira_read: user is not in any group allowed to use jira_read",
            {
              extensions: {
                tool: "jira_read",
                reasons: [{ code: "user_not_in_group", message: "m" }],
              },
            },
          ),
        },
      },
    });
    const response = await post(app, SEED_BODY);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      type: "https://change-review.zyxbank.example/problems/policy_denied",
      title: "Denied by policy",
      status: 403,
      detail: "the gateway refused jira_read: user is not in any group allowed to use jira_read",
      code: "policy_denied",
      tool: "jira_read",
      reasons: [{ code: "user_not_in_group", message: "m" }],
      audit_trace_id: TRACE,
    });
    expect(calls.map((c) => c.tool)).toEqual(["jira_read"]);
    expect(logs).toEqual([
      expect.objectContaining({ message: "review_refused", code: "policy_denied" }),
    ]);
  });

  it("passes on a refused delegation", async () => {
    const { app, sessions } = harness({
      delegation: {
        exchange: () =>
          Promise.reject(
            new ReviewError("delegation_refused", "the identity provider refused", {
              extensions: { oauth_error: "invalid_grant" },
            }),
          ),
      },
    });
    const response = await post(app, SEED_BODY);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: "delegation_refused",
      oauth_error: "invalid_grant",
      audit_trace_id: TRACE,
    });
    expect(sessions).toEqual([]);
  });

  it("answers an unexpected failure with internal_error", async () => {
    const { app, logs } = harness({
      delegation: { exchange: () => Promise.reject(new Error("boom")) },
    });
    const response = await post(app, SEED_BODY);
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({
      code: "internal_error",
      detail: "the review failed unexpectedly",
    });
    expect(logs).toEqual([expect.objectContaining({ level: "error", error: "Error: boom" })]);
  });
});

describe("the rest of the surface", () => {
  it("answers /healthz and 404s other routes with a problem document", async () => {
    const { app } = harness();
    expect(await (await app.request("/healthz")).json()).toEqual({ status: "ok" });
    const response = await app.request("/review");
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "route_not_found" });
  });

  it("checks its options at construction", () => {
    const ports = {
      engineers: { verify: () => Promise.reject(new Error("unused")) },
      delegation: { exchange: () => Promise.reject(new Error("unused")) },
      gateway: { session: () => ({ call: () => Promise.reject(new Error("unused")) }) },
    };
    expect(() =>
      createChangeReviewApp(ports, { defaultOwner: "zyx bank", review: REVIEW_OPTIONS }),
    ).toThrow('"defaultOwner" must be a GitHub owner such as zyx-bank');
    expect(() =>
      createChangeReviewApp(ports, {
        defaultOwner: "zyx-bank",
        review: REVIEW_OPTIONS,
        bodyLimitBytes: 10,
      }),
    ).toThrow('"bodyLimitBytes" must be an integer of at least 256');
    expect(() =>
      createChangeReviewApp({ ...ports, gateway: undefined } as unknown as ChangeReviewPorts, {
        defaultOwner: "zyx-bank",
        review: REVIEW_OPTIONS,
      }),
    ).toThrow("ports.gateway is required");
  });
});
