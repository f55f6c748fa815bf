// Only a body declared `Content-Type: application/json` is read, on every route that reads JSON,
// through the real app: anything else is 415 request_media_type_unsupported (the MCP door: its
// JSON-RPC error) before the caller is verified or the handler runs, and nothing happens: no
// hand-off, no audit record, no approval, kill switch or taint changed. A request without a body
// (GET, the approve POST) still works whatever it declares, and so do the console's forms.
import { serve } from "@hono/node-server";
import { afterAll, describe, expect, it } from "vitest";
import { isJsonContentType, mediaTypeOf } from "../../../common/json-media-type.ts";
import { SG_CHANGE } from "../../../test/support/fixtures.ts";
import { ERROR_STATUS } from "../../src/lib/errors.ts";
import {
  createHarness,
  ENGINEER,
  type Harness,
  REMEDIATOR,
  APPROVER,
  ADMIN,
  auditRecords,
} from "../support/harness.ts";

const JIRA = { arguments: { ticket: "CHG-18422" }, session_id: "s-media" };

/** Media types a JSON route refuses; null: no Content-Type at all. */
const REFUSED: (string | null)[] = [
  "text/plain",
  "text/plain;charset=UTF-8",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "text/json",
  "application/jsonx",
  "application/json-seq",
  "application/merge-patch+json",
  "application/json; charset=iso-8859-1",
  "application/json/x",
  "",
  null,
];
const ACCEPTED = [
  "application/json",
  "APPLICATION/JSON",
  "application/json; charset=utf-8",
  'Application/Json ; Charset="UTF-8"',
];

async function as(
  h: Harness,
  who: { user: string; groups: string[]; agent: string },
  contentType: string | null,
): Promise<Record<string, string>> {
  return {
    authorization: `Bearer ${await h.accessToken(who)}`,
    "x-device-posture": await h.postureToken({ user: who.user }),
    ...(contentType === null ? {} : { "content-type": contentType }),
  };
}

/** The body as bytes: a string body would be labelled text/plain by fetch itself. */
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

async function expect415(response: Response): Promise<void> {
  expect(response.status).toBe(415);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  const problem = (await response.json()) as Record<string, unknown>;
  expect(problem).toMatchObject({
    type: "https://gateway.zyxbank.example/problems/request_media_type_unsupported",
    title: "Unsupported media type",
    status: 415,
    code: "request_media_type_unsupported",
  });
  expect(problem["detail"]).toMatch(/application\/json/);
}

describe("the media type of a JSON body", () => {
  it("the code is in the closed union, at 415", () => {
    expect(ERROR_STATUS.request_media_type_unsupported).toBe(415);
  });

  it("application/json, case-insensitive, parameters allowed, a charset only if UTF-8", () => {
    for (const type of ACCEPTED) expect(isJsonContentType(type), type).toBe(true);
    for (const type of REFUSED)
      expect(isJsonContentType(type ?? undefined), String(type)).toBe(false);
    expect(mediaTypeOf(" Text/Plain ; charset=utf-8")).toBe("text/plain");
    expect(mediaTypeOf("garbage")).toBeUndefined();
  });
});

describe("POST /v1/tools/{tool}", () => {
  it("a JSON body not labelled application/json is 415: never verified, decided, run or audited", async () => {
    const h = await createHarness();
    for (const contentType of REFUSED) {
      const response = await h.app.request("/v1/tools/jira_read", {
        method: "POST",
        headers: await as(h, ENGINEER, contentType),
        body: bytes(JIRA),
      });
      await expect415(response);
    }
    // fetch's own label for a string body, the classic "simple request" of a cross-site form.
    const plain = await h.app.request("/v1/tools/jira_read", {
      method: "POST",
      headers: { authorization: `Bearer ${await h.accessToken()}` },
      body: JSON.stringify(JIRA),
    });
    await expect415(plain);
    expect(h.workerCalls).toHaveLength(0);
    await h.audit.close();
    expect(auditRecords(h)).toEqual([]);
  });

  it("refuses on the media type before the caller: no token is needed to be told", async () => {
    const h = await createHarness();
    const response = await h.app.request("/v1/tools/jira_read", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify(JIRA),
    });
    await expect415(response);
    expect(h.workerCalls).toHaveLength(0);
  });

  it("runs the call for every spelling of application/json", async () => {
    const h = await createHarness();
    for (const contentType of ACCEPTED) {
      const response = await h.app.request("/v1/tools/jira_read", {
        method: "POST",
        headers: await as(h, ENGINEER, contentType),
        body: bytes(JIRA),
      });
      expect(response.status, contentType).toBe(200);
    }
    expect(h.workerCalls).toHaveLength(ACCEPTED.length);
  });
});

describe("the people routes", () => {
  async function pendingApproval(h: Harness): Promise<string> {
    const response = await h.callAs("aws_modify_security_group", SG_CHANGE, {
      as: REMEDIATOR,
      sessionId: "s-remediate",
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { approval_id: string }).approval_id;
  }
  async function status(h: Harness, id: string): Promise<unknown> {
    return ((await h.controls.approvals.get(id)) as { status: string } | undefined)?.status;
  }

  it("approve and deny: a body not labelled JSON is 415 and the request stays pending, unaudited", async () => {
    const h = await createHarness();
    const id = await pendingApproval(h);
    // The approvers' notice is audited in the background ("notification"): not counted here.
    const counted = () => auditRecords(h).filter((r) => r["event"] !== "notification").length;
    const before = counted();
    for (const verb of ["approve", "deny"]) {
      for (const contentType of ["text/plain", "application/x-www-form-urlencoded", null]) {
        const response = await h.app.request(`/v1/approvals/${id}/${verb}`, {
          method: "POST",
          headers: await as(h, APPROVER, contentType),
          body: bytes({ reason: "not today" }),
        });
        await expect415(response);
      }
    }
    expect(await status(h, id)).toBe("pending");
    // The people routes audit a verified caller's refusal: this one was refused before that.
    expect(counted()).toBe(before);
  });

  it("approve takes no body: a bodiless POST with no Content-Type still approves", async () => {
    const h = await createHarness();
    const id = await pendingApproval(h);
    const response = await h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: await as(h, APPROVER, null),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { approvals: unknown[] }).approvals).toHaveLength(1);
  });

  it("the kill switch: PUT and DELETE with a text/plain body are 415 and nothing changes", async () => {
    const h = await createHarness();
    const before = h.controls.killSwitch.state();
    for (const method of ["PUT", "DELETE"]) {
      for (const contentType of ["text/plain", null]) {
        const response = await h.app.request("/v1/admin/kill-switch/all-writes", {
          method,
          headers: await as(h, ADMIN, contentType),
          body: bytes({ reason: "INC-1: stop every write" }),
        });
        await expect415(response);
      }
    }
    expect(h.controls.killSwitch.state()).toEqual(before);
    expect(h.controls.killSwitch.state().state.kill_switch.all_writes).toBe(false);
    // The same change as JSON goes through.
    const set = await h.app.request("/v1/admin/kill-switch/all-writes", {
      method: "PUT",
      headers: await as(h, ADMIN, "application/json"),
      body: bytes({ reason: "INC-1: stop every write" }),
    });
    expect(set.status).toBe(200);
    expect(h.controls.killSwitch.state().state.kill_switch.all_writes).toBe(true);
  });

  it("clearing a taint with a text/plain body is 415: the taint holds, nothing is audited", async () => {
    const h = await createHarness();
    const read = await h.callAs("jira_read", { ticket: "CHG-18433" }, { sessionId: "s-injected" });
    expect(read.status).toBe(200);
    expect(h.sessions.isTainted("s-injected")).toBe(true);
    // Closed: a clear that got as far as its audit record would answer 503, not 415.
    await h.audit.close();
    const before = auditRecords(h).length;
    for (const [path, body] of [
      ["/v1/admin/taints/sessions", { session_id: "s-injected", reason: "INC-2 closed" }],
      [
        "/v1/admin/taints/actors",
        { user: ENGINEER.user, agent: ENGINEER.agent, reason: "INC-2 closed" },
      ],
    ] as const) {
      const response = await h.app.request(path, {
        method: "DELETE",
        headers: await as(h, ADMIN, "text/plain"),
        body: bytes(body),
      });
      await expect415(response);
    }
    expect(h.sessions.isTainted("s-injected")).toBe(true);
    expect(auditRecords(h).length).toBe(before);
    expect(auditRecords(h).some((r) => r["event"] === "taint_cleared")).toBe(false);
  });

  it("GET routes take no body and are not asked for a Content-Type", async () => {
    const h = await createHarness();
    const response = await h.app.request("/v1/admin/kill-switch", {
      headers: await as(h, ADMIN, "text/plain"),
    });
    expect(response.status).toBe(200);
  });
});

describe("the MCP door", () => {
  const initialize = {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "media-test", version: "1" },
    },
  };

  it("a body not labelled application/json is a JSON-RPC 415, before identity", async () => {
    const h = await createHarness();
    for (const auth of [true, false]) {
      const response = await h.app.request("http://gateway.test/mcp", {
        method: "POST",
        headers: {
          ...(auth ? await as(h, ENGINEER, "text/plain") : { "content-type": "text/plain" }),
          accept: "application/json, text/event-stream",
        },
        body: bytes(initialize),
      });
      expect(response.status).toBe(415);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(await response.json()).toEqual({
        jsonrpc: "2.0",
        error: {
          code: -32000,
          message: "Unsupported Media Type: Content-Type must be application/json",
        },
        id: null,
      });
    }
  });

  it("application/json with a charset initializes", async () => {
    const h = await createHarness();
    const response = await h.app.request("http://gateway.test/mcp", {
      method: "POST",
      headers: {
        ...(await as(h, ENGINEER, "application/json; charset=utf-8")),
        accept: "application/json, text/event-stream",
      },
      body: bytes(initialize),
    });
    expect(response.status).toBe(200);
  });
});

describe("through Node's HTTP server (Content-Length, the fast path)", () => {
  const servers: ReturnType<typeof serve>[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  });
  async function listen(h: Harness): Promise<string> {
    return new Promise((resolve) => {
      const server = serve({ fetch: h.app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => {
        resolve(`http://127.0.0.1:${String(info.port)}`);
      });
      servers.push(server);
    });
  }

  it("415 for text/plain; a bodiless approve (Content-Length: 0, no Content-Type) runs", async () => {
    const h = await createHarness();
    const base = await listen(h);
    const plain = await fetch(`${base}/v1/tools/jira_read`, {
      method: "POST",
      headers: await as(h, ENGINEER, "text/plain"),
      body: JSON.stringify(JIRA),
    });
    await expect415(plain);
    const none = await fetch(`${base}/v1/tools/jira_read`, {
      method: "POST",
      headers: await as(h, ENGINEER, null),
      body: bytes(JIRA),
    });
    await expect415(none);
    expect(h.workerCalls).toHaveLength(0);
    const json = await fetch(`${base}/v1/tools/jira_read`, {
      method: "POST",
      headers: await as(h, ENGINEER, "application/json"),
      body: JSON.stringify(JIRA),
    });
    expect(json.status).toBe(200);

    const pending = await h.callAs("aws_modify_security_group", SG_CHANGE, {
      as: REMEDIATOR,
      sessionId: "s-remediate",
    });
    const id = ((await pending.json()) as { approval_id: string }).approval_id;
    const approved = await fetch(`${base}/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: await as(h, APPROVER, null),
    });
    expect(approved.status).toBe(200);
  });
});

describe("the OpenAPI document", () => {
  it("lists 415 on every operation that takes a body, and on no GET", async () => {
    const h = await createHarness();
    const doc = (await (await h.app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: unknown; responses: object }>>;
    };
    let withBody = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const listed = Object.hasOwn(operation.responses, "415");
        if (operation.requestBody !== undefined) {
          withBody += 1;
          expect(listed, `${method} ${path}`).toBe(true);
        }
        if (method === "get") expect(listed, `${method} ${path}`).toBe(false);
      }
    }
    expect(withBody).toBeGreaterThan(10);
    // approve takes no body but refuses one that is not JSON.
    expect(doc.paths["/v1/approvals/{id}/approve"]?.["post"]?.responses).toHaveProperty("415");
  });
});
