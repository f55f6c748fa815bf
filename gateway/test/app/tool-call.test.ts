// POST /v1/tools/{tool} through the real app: every error path with its status and code, each
// proving the worker was never called; the happy path end to end, audited and traced.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { base64url, SignJWT, importJWK } from "jose";
import { beforeEach, describe, expect, it } from "vitest";
import { verifyAuditFile } from "../../src/audit/verify.ts";
import { GatewayError } from "../../src/lib/errors.ts";
import { createHarness, ENGINEER, NOW_SEC, type Harness } from "../support/harness.ts";
import { jsonLines } from "../../../test/support/fixtures.ts";

const JIRA = { ticket: "CHG-18422" };

async function problem(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status: response.status });
  expect(typeof body["title"]).toBe("string");
  expect(typeof body["detail"]).toBe("string");
  return body;
}

function auditLines(h: Harness): Record<string, unknown>[] {
  return readFileSync(h.auditPath, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("POST /v1/tools/{tool}", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });

  it("runs jira_read for the seed's engineer and answers with decision and trace ids", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const response = await h.callAs("jira_read", JIRA, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      trace_id: traceId,
      result: { key: "CHG-18422", rollback_plan: null },
      evidence: { untrusted: true, redactions: 0, injection: { suspected: false, indicators: [] } },
    });
    expect(body["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.workerCalls).toHaveLength(1);
    expect(h.workerCalls[0]?.call).toMatchObject({ tool: "jira_read", arguments: JIRA });
    // The trace is passed on, with the gateway's own span as the parent.
    expect(h.workerCalls[0]?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(h.workerCalls[0]?.traceparent).not.toContain("00f067aa0ba902b7");

    await h.audit.close(); // flushes the outcome record, which does not hold the response
    const records = auditLines(h);
    expect(records.map((r) => r["event"])).toEqual(["decision", "outcome"]);
    expect(records[0]).toMatchObject({
      decision_id: body["decision_id"],
      trace_id: traceId,
      user: { subject: ENGINEER.user, email: ENGINEER.user },
      groups: ENGINEER.groups,
      device: { compliant: true, checked_at: NOW_SEC - 60 },
      agent: "change-reviewer",
      workflow: "change-review",
      session_id: "session-1",
      tool: "jira_read",
      arguments: JIRA,
      decision: { allow: true, reasons: [] },
      risk_score: 0,
      approval: { required: false, approvers_required: 0, state: "not_required" },
      policy_revision: h.policy.revision,
    });
    expect(records[1]).toMatchObject({
      event: "outcome",
      decision_id: body["decision_id"],
      user: { subject: ENGINEER.user },
      tool: "jira_read",
      arguments: JIRA,
      outcome: { status: "executed", http_status: 200 },
    });
    // The policy's input is kept once, in the decision record (forensic replay reads it there).
    expect(records[0]?.["decision_input"]).toMatchObject({
      tool: "jira_read",
      arguments: JIRA,
      principal: { sub: ENGINEER.user },
    });
    expect(records[1]).not.toHaveProperty("decision_input");
    expect(await verifyAuditFile(h.auditPath)).toMatchObject({ ok: true, records: 2 });
  });

  it("records the agent's decision trace and model, masked, and never decides on them", async () => {
    const response = await h.call(
      "jira_read",
      {
        arguments: JIRA,
        session_id: "s-ctx",
        context: {
          decision_trace: "read the ticket; token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
          model: "gpt-x",
        },
      },
      {
        authorization: `Bearer ${await h.accessToken()}`,
        "x-device-posture": await h.postureToken(),
      },
    );
    expect(response.status).toBe(200);
    const [decision] = auditLines(h);
    expect(decision?.["model"]).toBe("gpt-x");
    expect(String(decision?.["decision_trace"])).toContain("read the ticket");
    expect(String(decision?.["decision_trace"])).not.toContain(
      "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    );
  });

  it("binds the exact arguments that ran by their digest, when the recorded ones are cut", async () => {
    const body = `AI security review: ${"finding. ".repeat(400)}`; // > 2,048 characters
    const response = await h.callAs("jira_add_comment", { ticket: "CHG-18422", body });
    expect(response.status).toBe(200);
    // Canonical JSON of {ticket, body}: keys sorted, no spaces (RFC 8785), written out here.
    const expected = createHash("sha256")
      .update(`{"body":${JSON.stringify(body)},"ticket":"CHG-18422"}`)
      .digest("hex");
    const [decision, outcome] = auditLines(h);
    expect((decision?.["arguments"] as { body: string }).body).toContain("[truncated");
    expect(decision?.["arguments_digest"]).toBe(expected);
    expect(outcome).toMatchObject({ event: "outcome", arguments_digest: expected });
    expect(h.workerCalls[0]?.call.arguments).toEqual({ ticket: "CHG-18422", body });
  });

  describe("refuses, and never calls the worker", () => {
    const expectRefused = async (response: Response, status: number, code: string) => {
      const body = await problem(response);
      expect(response.status).toBe(status);
      expect(body["code"]).toBe(code);
      expect(h.workerCalls).toEqual([]);
      return body;
    };

    it("413 request_body_too_large before parsing", async () => {
      const response = await h.call("jira_read", "x".repeat(70_000), {
        authorization: `Bearer ${await h.accessToken()}`,
        "x-device-posture": await h.postureToken(),
      });
      const body = await expectRefused(response, 413, "request_body_too_large");
      expect(body["detail"]).toBe("the request body exceeds 65536 bytes");
    });

    it("401 token_missing with a bare Bearer challenge", async () => {
      const response = await h.call("jira_read", { arguments: JIRA, session_id: "s" });
      await expectRefused(response, 401, "token_missing");
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="zyx-agent-gateway"');
    });

    it("401 before 404: an unauthenticated caller learns nothing of the catalog", async () => {
      const response = await h.call("iam_attach_policy", { arguments: {}, session_id: "s" });
      await expectRefused(response, 401, "token_missing");
    });

    const attacks: [string, (h: Harness) => Promise<string>, string, RegExp][] = [
      [
        "alg none",
        async (h) => {
          const real = await h.accessToken();
          const payload = real.split(".")[1] ?? "";
          return `${base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt" }))}.${payload}.`;
        },
        "token_invalid",
        /./,
      ],
      [
        "HS256 signed with the public key",
        async (h) => {
          const { d: _d, ...pub } = h.keys.idp;
          const secret = new TextEncoder().encode(JSON.stringify(pub));
          return new SignJWT({ groups: ENGINEER.groups, act: { sub: ENGINEER.agent } })
            .setProtectedHeader({
              alg: "HS256",
              typ: "at+jwt",
              ...(h.keys.idp.kid === undefined ? {} : { kid: h.keys.idp.kid }),
            })
            .setSubject(ENGINEER.user)
            .setIssuer("zyx-dev-idp")
            .setAudience("zyx-agent-gateway")
            .setExpirationTime(NOW_SEC + 300)
            .sign(secret);
        },
        "token_invalid",
        /./,
      ],
      [
        "a wrong issuer",
        (h) => h.accessToken({ issuer: "https://evil.example" }),
        "token_invalid",
        /iss/,
      ],
      [
        "a wrong audience",
        (h) => h.accessToken({ audience: "another-service" }),
        "token_invalid",
        /aud/,
      ],
      [
        "an expired token",
        (h) => h.accessToken({ now: NOW_SEC - 3600, ttlSec: 300 }),
        "token_expired",
        /./,
      ],
      [
        "a token not yet valid",
        (h) => h.accessToken({ notBefore: NOW_SEC + 600 }),
        "token_invalid",
        /nbf|not yet valid/,
      ],
      [
        "an unknown kid",
        async (h) => h.accessToken({ key: { ...h.keys.device, kid: "unknown-kid" } }),
        "token_invalid",
        /./,
      ],
      [
        "a tampered payload",
        async (h) => {
          const [header, payload, signature] = (await h.accessToken()).split(".");
          const claims = JSON.parse(
            new TextDecoder().decode(base64url.decode(payload ?? "")),
          ) as Record<string, unknown>;
          claims["groups"] = ["grp-ai-cloud-change-reviewers", "grp-ai-prod-approvers"];
          return `${header ?? ""}.${base64url.encode(JSON.stringify(claims))}.${signature ?? ""}`;
        },
        "token_invalid",
        /./,
      ],
      [
        "a missing groups claim",
        async (h) => {
          const key = await importJWK(h.keys.idp, "ES256");
          return new SignJWT({ act: { sub: ENGINEER.agent } })
            .setProtectedHeader({
              alg: "ES256",
              typ: "at+jwt",
              ...(h.keys.idp.kid === undefined ? {} : { kid: h.keys.idp.kid }),
            })
            .setSubject(ENGINEER.user)
            .setIssuer("zyx-dev-idp")
            .setAudience("zyx-agent-gateway")
            .setIssuedAt(NOW_SEC)
            .setExpirationTime(NOW_SEC + 300)
            .sign(key);
        },
        "token_invalid",
        /groups/,
      ],
      [
        "no act (a user without an agent)",
        (h) => h.accessToken({ agent: undefined }),
        "token_agent_missing",
        /act/,
      ],
      [
        "a token minted for another audience",
        (h) => h.accessToken({ audience: "zyx-agent-worker" }),
        "token_invalid",
        /aud/,
      ],
      [
        "a posture token offered as the access token",
        (h) => h.postureToken(),
        "token_invalid",
        /./,
      ],
    ];

    it.each(attacks)("401 for %s", async (_label, mint, code, detail) => {
      const response = await h.call(
        "jira_read",
        { arguments: JIRA, session_id: "s" },
        {
          authorization: `Bearer ${await mint(h)}`,
          "x-device-posture": await h.postureToken(),
        },
      );
      const body = await expectRefused(response, 401, code);
      expect(String(body["detail"])).toMatch(detail);
      expect(response.headers.get("www-authenticate")).toMatch(
        /^Bearer realm="zyx-agent-gateway", error="invalid_token", error_description="/,
      );
    });

    it("ignores the seed's plain x-device-compliant header: no posture token, no call", async () => {
      const response = await h.call(
        "jira_read",
        { arguments: JIRA, session_id: "s" },
        {
          authorization: `Bearer ${await h.accessToken()}`,
          "x-device-compliant": "true",
        },
      );
      await expectRefused(response, 401, "posture_missing");
    });

    it("ignores x-device-compliant: true next to a non-compliant posture token", async () => {
      const response = await h.callAs("jira_read", JIRA, {
        compliant: false,
        headers: { "x-device-compliant": "true" },
      });
      const body = await expectRefused(response, 403, "policy_denied");
      expect(body["reasons"]).toEqual([
        { code: "device_not_compliant", message: "device is not compliant" },
      ]);
    });

    it("401 posture_subject_mismatch for a posture token of another user", async () => {
      const response = await h.call(
        "jira_read",
        { arguments: JIRA, session_id: "s" },
        {
          authorization: `Bearer ${await h.accessToken()}`,
          "x-device-posture": await h.postureToken({ user: "someone.else@zyxbank.example" }),
        },
      );
      await expectRefused(response, 401, "posture_subject_mismatch");
    });

    it("401 posture_invalid for a posture token signed by the wrong key", async () => {
      const response = await h.call(
        "jira_read",
        { arguments: JIRA, session_id: "s" },
        {
          authorization: `Bearer ${await h.accessToken()}`,
          "x-device-posture": await h.postureToken({ key: h.keys.idp }),
        },
      );
      await expectRefused(response, 401, "posture_invalid");
    });

    it("401 posture_invalid for the access token offered as the posture token", async () => {
      const token = await h.accessToken();
      const response = await h.call(
        "jira_read",
        { arguments: JIRA, session_id: "s" },
        {
          authorization: `Bearer ${token}`,
          "x-device-posture": token,
        },
      );
      await expectRefused(response, 401, "posture_invalid");
    });

    it("403 device_posture_stale for a posture checked too long ago", async () => {
      const response = await h.call(
        "jira_read",
        { arguments: JIRA, session_id: "s" },
        {
          authorization: `Bearer ${await h.accessToken()}`,
          "x-device-posture": await h.postureToken({ checkedAt: NOW_SEC - 3_600 }),
        },
      );
      const body = await expectRefused(response, 403, "policy_denied");
      expect(body["reasons"]).toEqual([
        { code: "device_posture_stale", message: "device posture is older than 900 seconds" },
      ]);
    });

    it("400 request_malformed for a body that is not JSON", async () => {
      const response = await h.call("jira_read", "{not json", {
        authorization: `Bearer ${await h.accessToken()}`,
        "x-device-posture": await h.postureToken(),
      });
      const body = await expectRefused(response, 400, "request_malformed");
      expect(body["detail"]).toBe("the request body is not JSON");
    });

    it("400 request_malformed for a body without session_id or with unknown members", async () => {
      const response = await h.call(
        "jira_read",
        { arguments: JIRA, user: "admin@zyxbank.example" },
        {
          authorization: `Bearer ${await h.accessToken()}`,
          "x-device-posture": await h.postureToken(),
        },
      );
      const body = await expectRefused(response, 400, "request_malformed");
      expect(body["issues"]).toHaveLength(2);
    });

    it("400 request_malformed for a session in the gateway's own namespaces (mcp:, post-hoc:)", async () => {
      // mcp: sessions are the MCP door's, bound to their caller; post-hoc:<review> is a rejected
      // review's compensation: a REST caller's calls and taint must not appear in either.
      for (const sessionId of [
        "mcp:sessionless:abc",
        "post-hoc:0b6d3f1e-4a8c-4e7b-9d2a-1c5e8f7a6b3d",
      ]) {
        const response = await h.callAs("jira_read", { ticket: "CHG-18422" }, { sessionId });
        const body = await expectRefused(response, 400, "request_malformed");
        expect(JSON.stringify(body["issues"])).toContain("post-hoc:");
      }
    });

    it("400 arguments_invalid listing each problem", async () => {
      const response = await h.callAs("github_read_pr", {
        repository: "not a slug",
        pull_request: "991",
        extra: 1,
      });
      const body = await expectRefused(response, 400, "arguments_invalid");
      expect((body["issues"] as unknown[]).length).toBeGreaterThanOrEqual(3);
    });

    it("404 tool_not_found for a tool outside the catalog", async () => {
      const response = await h.callAs("iam_attach_policy", {});
      const body = await expectRefused(response, 404, "tool_not_found");
      expect(body["detail"]).toBe("no tool named iam_attach_policy");
    });

    it("403 policy_denied with every reason, decision and trace ids, for the seed's intern", async () => {
      const response = await h.callAs("jira_read", JIRA, {
        as: { user: "intern@zyxbank.example", groups: ["grp-ai-users"] },
      });
      const body = await expectRefused(response, 403, "policy_denied");
      expect(body["reasons"]).toEqual([
        { code: "user_not_in_group", message: "user is not in any group allowed to use jira_read" },
      ]);
      expect(body["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(body["trace_id"]).toMatch(/^[0-9a-f]{32}$/);
      const records = auditLines(h);
      expect(records.map((r) => [r["event"], r["decision_id"]])).toEqual([
        ["decision", body["decision_id"]],
        ["outcome", body["decision_id"]],
      ]);
      expect(records[1]).toMatchObject({
        outcome: { status: "denied", code: "policy_denied", http_status: 403 },
      });
      expect(records[0]).toHaveProperty("decision_input");
      expect(records[1]).not.toHaveProperty("decision_input");
    });

    it("403 policy_denied for a Slack message to another channel", async () => {
      const response = await h.callAs("slack_post_message", { channel: "general", text: "hello" });
      const body = await expectRefused(response, 403, "policy_denied");
      expect(body["reasons"]).toEqual([
        {
          code: "channel_not_allowed",
          message: "channel general is not allowed for slack_post_message",
        },
      ]);
    });

    it("202 for a security-group change: it waits for approval, bound to these arguments", async () => {
      const response = await h.callAs(
        "aws_modify_security_group",
        {
          account: "111122223333",
          region: "ap-southeast-1",
          group_id: "sg-0a1b2c3d4e5f60718",
          change: {
            action: "revoke_ingress",
            protocol: "tcp",
            port_range: "22",
            cidr: "0.0.0.0/0",
          },
          change_ticket: "CHG-18422",
          rollback_plan: "Re-authorize the rule from the compensation handle.",
        },
        {
          as: {
            user: "cloud@zyxbank.example",
            groups: ["grp-ai-cloud-change-reviewers"],
            agent: "change-remediator",
          },
        },
      );
      expect(response.status).toBe(202);
      const body = (await response.json()) as Record<string, unknown>;
      expect(h.workerCalls).toEqual([]);
      expect(response.headers.get("location")).toBe(`/v1/approvals/${String(body["approval_id"])}`);
      expect(body).toMatchObject({ status: "pending", reasons: [{ code: "approval_required" }] });
      expect(body["approval"]).toMatchObject({
        required: true,
        approvers_required: 1,
        approver_groups: ["grp-ai-prod-approvers"],
      });
    });
  });

  it("404 route_not_found as a problem document", async () => {
    const response = await h.app.request("/v2/anything");
    expect(response.status).toBe(404);
    expect(await problem(response)).toMatchObject({ code: "route_not_found" });
  });
});

describe("fails closed", () => {
  it("503 policy_unavailable when no bundle is loaded, audited, worker never called", async () => {
    const h = await createHarness({ bundlePath: "/nonexistent/bundle.tar.gz" });
    const response = await h.callAs("jira_read", JIRA);
    expect(response.status).toBe(503);
    expect(await problem(response)).toMatchObject({
      code: "policy_unavailable",
      policy_error: "policy_bundle_missing",
    });
    expect(h.workerCalls).toEqual([]);
    expect(auditLines(h)[0]).toMatchObject({
      outcome: { status: "error", code: "policy_unavailable" },
    });
  });

  it("503 audit_unavailable when the decision cannot be recorded: no hand-off", async () => {
    const h = await createHarness({
      ports: (d) => ({
        audit: {
          append: () => Promise.reject(new GatewayError("audit_unavailable", "disk full")),
          healthy: () => false,
        },
        worker: d.worker,
      }),
    });
    const response = await h.callAs("jira_read", JIRA);
    expect(response.status).toBe(503);
    expect(await problem(response)).toMatchObject({
      code: "audit_unavailable",
      detail: "disk full",
    });
    expect(h.workerCalls).toEqual([]);
  });

  it("503 audit_unavailable for a denial that cannot be recorded", async () => {
    const h = await createHarness({
      ports: () => ({
        audit: { append: () => Promise.reject(new Error("EIO")), healthy: () => false },
      }),
    });
    const response = await h.callAs("jira_read", JIRA, {
      as: { user: "intern@zyxbank.example", groups: ["grp-ai-users"] },
    });
    expect(response.status).toBe(503);
    expect(await problem(response)).toMatchObject({ code: "audit_unavailable" });
  });

  it.each([
    [
      "502 worker_failed when the tool fails",
      () => {
        throw new Error("connector down");
      },
      502,
      "worker_failed",
    ],
  ] as const)("%s, audited", async (_label, execute, status, code) => {
    const h = await createHarness({ workerExecute: execute });
    const response = await h.callAs("jira_read", JIRA);
    expect(response.status).toBe(status);
    const body = await problem(response);
    expect(body).toMatchObject({ code });
    expect(body["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(auditLines(h).at(-1)).toMatchObject({
      event: "outcome",
      outcome: { status: "failed", code, http_status: status },
    });
  });

  it("502 worker_unavailable when the worker cannot be reached", async () => {
    const h = await createHarness({
      ports: () => ({
        worker: {
          execute: () =>
            Promise.reject(
              new GatewayError("worker_unavailable", "the agent worker cannot be reached"),
            ),
          ready: () => Promise.resolve(false),
          close: () => Promise.resolve(),
        },
      }),
    });
    const response = await h.callAs("jira_read", JIRA);
    expect(response.status).toBe(502);
    expect(await problem(response)).toMatchObject({ code: "worker_unavailable" });
    expect(auditLines(h).at(-1)).toMatchObject({
      outcome: { status: "failed", code: "worker_unavailable" },
    });
  });
});

describe("whoever the gateway lets in, its worker takes", () => {
  it("a subject at the identity limit runs a write: the call token holds what the token did", async () => {
    const h = await createHarness();
    const who = { ...ENGINEER, user: `u-${"x".repeat(510)}` };
    const response = await h.callAs(
      "jira_add_comment",
      { ticket: "CHG-18422", body: "AI security review: no findings." },
      { as: who },
    );
    expect(response.status, await response.clone().text()).toBe(200);
    expect(h.workerCalls).toHaveLength(1);
    const records = await jsonLines(h.auditPath);
    expect(records.filter((r) => r["event"] === "outcome")).toMatchObject([
      { outcome: { status: "executed" } },
    ]);
  });
});
