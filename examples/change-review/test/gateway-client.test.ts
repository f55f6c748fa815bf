// The gateway client: what it sends on every call, and how it reads each kind of answer.
import { describe, expect, it } from "vitest";
import { createGatewayClient } from "../src/gateway-client.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SESSION = {
  accessToken: "delegated.token.value",
  posture: "posture.token.value",
  traceId: TRACE,
  sessionId: `change-review:${TRACE}`,
};

interface Sent {
  url: string;
  headers: Headers;
  body: unknown;
}

/** A gateway that answers every call with `status` and `body` (and records what it got). */
function gatewayAnswering(status: number, body: unknown, headers: Record<string, string> = {}) {
  const sent: Sent[] = [];
  const fetchStub: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    sent.push({ url: request.url, headers: request.headers, body: await request.json() });
    return new Response(typeof body === "string" ? body : JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  };
  let span = 0;
  const client = createGatewayClient({
    url: "http://gateway.test:8080/",
    fetch: fetchStub,
    newSpanId: () => {
      span += 1;
      return span.toString(16).padStart(16, "0");
    },
  });
  return { gateway: client.session(SESSION), sent };
}

describe("createGatewayClient", () => {
  it("sends the delegated token, the posture unchanged, one trace with a new span per call", async () => {
    const { gateway, sent } = gatewayAnswering(200, { decision_id: "d-1", result: {} });
    await gateway.call("jira_read", { ticket: "CHG-18422" }, "read the change ticket");
    await gateway.call("confluence_read", { space: "SEC" }, "read the standards");
    expect(sent.map((s) => s.url)).toEqual([
      "http://gateway.test:8080/v1/tools/jira_read",
      "http://gateway.test:8080/v1/tools/confluence_read",
    ]);
    expect(sent.map((s) => s.headers.get("traceparent"))).toEqual([
      `00-${TRACE}-0000000000000001-01`,
      `00-${TRACE}-0000000000000002-01`,
    ]);
    expect(sent[0]?.headers.get("authorization")).toBe("Bearer delegated.token.value");
    expect(sent[0]?.headers.get("x-device-posture")).toBe("posture.token.value");
    expect(sent[0]?.body).toEqual({
      arguments: { ticket: "CHG-18422" },
      session_id: `change-review:${TRACE}`,
      context: { decision_trace: "read the change ticket" },
    });
  });

  it("reads 200 as executed, with the guard's evidence", async () => {
    const evidence = {
      untrusted: true,
      redactions: 0,
      injection: { suspected: true, indicators: ["bulk_export"] },
    };
    const { gateway } = gatewayAnswering(200, {
      decision_id: "d-1",
      trace_id: TRACE,
      result: { key: "CHG-18433" },
      evidence,
    });
    expect(await gateway.call("jira_read", { ticket: "CHG-18433" }, "read")).toEqual({
      status: "executed",
      tool: "jira_read",
      result: { key: "CHG-18433" },
      evidence,
      decisionId: "d-1",
    });
  });

  it("reads 202 as held for approval", async () => {
    const { gateway } = gatewayAnswering(202, {
      decision_id: "d-2",
      trace_id: TRACE,
      approval_id: "0b6c1f1e-3c39-4a53-9d0f-5a2b8a3b7c11",
      status: "pending",
      status_url: "/v1/approvals/0b6c1f1e-3c39-4a53-9d0f-5a2b8a3b7c11",
    });
    expect(await gateway.call("jira_add_comment", { ticket: "CHG-1", body: "x" }, "c")).toEqual({
      status: "pending_approval",
      tool: "jira_add_comment",
      approvalId: "0b6c1f1e-3c39-4a53-9d0f-5a2b8a3b7c11",
      statusUrl: "/v1/approvals/0b6c1f1e-3c39-4a53-9d0f-5a2b8a3b7c11",
      decisionId: "d-2",
    });
  });

  it.each([
    [
      "a policy denial, with every reason",
      403,
      {
        code: "policy_denied",
        detail: "user is not in any group allowed to use jira_read",
        reasons: [{ code: "user_not_in_group", message: "m" }],
        decision_id: "d-3",
        trace_id: TRACE,
      },
      {},
      {
        code: "policy_denied",
        status: 403,
        message: "the gateway refused jira_read: user is not in any group allowed to use jira_read",
        extensions: {
          tool: "jira_read",
          decision_id: "d-3",
          trace_id: TRACE,
          reasons: [{ code: "user_not_in_group", message: "m" }],
        },
      },
    ],
    [
      "the engineer's posture token, refused",
      401,
      { code: "posture_invalid", detail: "posture token has expired" },
      {},
      {
        code: "posture_invalid",
        status: 401,
        message: "the gateway refused jira_read: posture token has expired",
      },
    ],
    [
      "a call limit, with when to retry",
      429,
      { code: "rate_limited", detail: "more than 60 calls per 60 s for this tool" },
      { "retry-after": "12" },
      { code: "rate_limited", status: 429, extensions: { tool: "jira_read", retry_after: 12 } },
    ],
    [
      "the delegated token, refused: the runtime's fault, not the engineer's",
      401,
      { code: "token_invalid", detail: "token signature verification failed" },
      {},
      {
        code: "gateway_failed",
        status: 502,
        message: "the gateway could not run jira_read: token signature verification failed",
        extensions: { tool: "jira_read", upstream_status: 401, upstream_code: "token_invalid" },
      },
    ],
    [
      "an audit log that cannot be written",
      503,
      { code: "audit_unavailable", detail: "the audit record could not be written" },
      {},
      {
        code: "gateway_failed",
        status: 502,
        extensions: { upstream_status: 503, upstream_code: "audit_unavailable" },
      },
    ],
    [
      "an answer that is not a problem document",
      500,
      "<html>oops</html>",
      {},
      {
        code: "gateway_failed",
        message: "the gateway could not run jira_read: HTTP 500",
        extensions: { upstream_status: 500 },
      },
    ],
    [
      "a 200 that is not the gateway's",
      200,
      "<html>proxy page</html>",
      {},
      { code: "gateway_failed", message: "the gateway's answer to jira_read is not JSON we read" },
    ],
  ])("turns %s into a ReviewError", async (_name, status, body, headers, expected) => {
    const { gateway } = gatewayAnswering(status, body, headers);
    await expect(gateway.call("jira_read", { ticket: "CHG-1" }, "read")).rejects.toMatchObject(
      expected,
    );
  });

  it("tells an unreachable gateway from a slow one", async () => {
    const down = createGatewayClient({
      url: "http://127.0.0.1:1",
      fetch: () => Promise.reject(new TypeError("fetch failed")),
    }).session(SESSION);
    await expect(down.call("jira_read", { ticket: "CHG-1" }, "read")).rejects.toMatchObject({
      code: "gateway_unavailable",
      status: 503,
      message: "the gateway could not be reached for jira_read",
    });
    const slow = createGatewayClient({
      url: "http://127.0.0.1:1",
      timeoutMs: 100,
      fetch: (_input, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () => {
            reject(init.signal?.reason as Error);
          });
        }),
    }).session(SESSION);
    await expect(slow.call("jira_read", { ticket: "CHG-1" }, "read")).rejects.toMatchObject({
      code: "gateway_timeout",
      status: 504,
      message: "the gateway did not answer jira_read within 100 ms",
    });
  });

  it("checks its options and each session", () => {
    expect(() => createGatewayClient({ url: "gateway" })).toThrow(
      '"url" must be an absolute URL: gateway',
    );
    expect(() => createGatewayClient({ url: "ftp://gateway" })).toThrow(
      '"url" must be http or https',
    );
    expect(() => createGatewayClient({ url: "http://g", timeoutMs: 5 })).toThrow(
      '"timeoutMs" must be an integer from 100 to 120000',
    );
    const client = createGatewayClient({ url: "http://g" });
    expect(() => client.session({ ...SESSION, traceId: "0".repeat(32) })).toThrow(
      '"traceId" must be 32 lower-case hex digits, not all zero',
    );
    expect(() => client.session({ ...SESSION, sessionId: "a b" })).toThrow('"sessionId"');
    expect(() => client.session({ ...SESSION, posture: "" })).toThrow(
      '"accessToken" and "posture" must be non-empty',
    );
  });
});
