// Where a call came from, through the real app: every record of a call carries `source` (the
// socket's peer, or the client a trusted proxy forwarded for), a spoofed X-Forwarded-For from an
// untrusted peer is ignored and never copied into the log, over REST, MCP and a real socket.
import { readFileSync } from "node:fs";
import { serve } from "@hono/node-server";
import { afterAll, describe, expect, it } from "vitest";
import { SG_CHANGE } from "../../../test/support/fixtures.ts";
import {
  ADMIN,
  APPROVER,
  REMEDIATOR,
  createHarness,
  fromPeer,
  type Harness,
  auditRecords as records,
} from "../support/harness.ts";
import { connectMcp } from "../mcp/support.ts";

const READ = ["jira_read", { ticket: "CHG-18422" }] as const;
/** Not in the read group: the policy denies the read. */
const INTERN = { user: "intern@zyxbank.example", groups: ["grp-ai-users"] };

describe("the source of a call in its audit records", () => {
  it("an untrusted peer's X-Forwarded-For is ignored: the peer is the source", async () => {
    const h = await createHarness();
    const r = await h.callAs(...READ, {
      peer: "203.0.113.9",
      headers: { "x-forwarded-for": "10.42.16.5, 192.0.2.44" },
    });
    expect(r.status).toBe(200);
    const calls = records(h);
    expect(calls.map((r) => r["event"])).toEqual(["decision", "outcome"]);
    for (const record of calls)
      expect(record["source"]).toEqual({
        ip: "203.0.113.9",
        peer: "203.0.113.9",
        forwarded: "ignored",
      });
    // The header's content is the caller's to choose: none of it reaches the log.
    expect(readFileSync(h.auditPath, "utf8")).not.toContain("10.42.16.5");
  });

  it("no trusted proxy configured: even a loopback peer's header is ignored", async () => {
    const h = await createHarness();
    await h.callAs(...READ, { peer: "127.0.0.1", headers: { "x-forwarded-for": "10.42.16.5" } });
    expect(records(h)[0]?.["source"]).toMatchObject({ ip: "127.0.0.1", forwarded: "ignored" });
  });

  it("a trusted proxy's forwarded client is recorded, read right to left past trusted hops", async () => {
    const h = await createHarness({ trustedProxies: ["10.0.0.0/29", "2001:db8:1::/48"] });
    await h.callAs(...READ, {
      peer: "::ffff:10.0.0.2",
      // The client wrote the left-most entry; the outer proxy (10.0.0.5, trusted) appended
      // the client's real address, then the inner one appended the outer one.
      headers: { "x-forwarded-for": "192.0.2.1, 198.51.100.23, 10.0.0.5" },
    });
    for (const record of records(h))
      expect(record["source"]).toEqual({
        ip: "198.51.100.23",
        peer: "10.0.0.2",
        forwarded: "used",
      });
  });

  it("a trusted proxy that sends no header, or garbage, is itself the source", async () => {
    const h = await createHarness({ trustedProxies: ["10.0.0.2"] });
    await h.callAs(...READ, { peer: "10.0.0.2" });
    await h.callAs(...READ, {
      peer: "10.0.0.2",
      headers: { "x-forwarded-for": "198.51.100.23, evil.example" },
    });
    const sources = records(h)
      .filter((r) => r["event"] === "decision")
      .map((r) => r["source"]);
    expect(sources).toEqual([
      { ip: "10.0.0.2", peer: "10.0.0.2", forwarded: "missing" },
      { ip: "10.0.0.2", peer: "10.0.0.2", forwarded: "malformed" },
    ]);
  });

  it("IPv6 peers are canonical, their zone id stripped", async () => {
    const h = await createHarness();
    await h.callAs(...READ, { peer: "FE80:0:0:0:0:0:0:1%eth0" });
    expect(records(h)[0]?.["source"]).toEqual({ ip: "fe80::1", peer: "fe80::1" });
  });

  it("a refusal and a denial carry it too; no socket, no source", async () => {
    const h = await createHarness();
    const bad = await h.callAs("jira_read", { ticket: 42 }, { peer: "203.0.113.9" });
    expect(bad.status).toBe(400);
    await h.callAs(...READ, { as: INTERN, peer: "203.0.113.10" });
    await h.callAs(...READ);
    const seen = records(h).map((r) => [r["event"], r["source"]]);
    expect(seen).toEqual([
      ["refusal", { ip: "203.0.113.9", peer: "203.0.113.9" }],
      ["decision", { ip: "203.0.113.10", peer: "203.0.113.10" }],
      ["outcome", { ip: "203.0.113.10", peer: "203.0.113.10" }],
      ["decision", undefined],
      ["outcome", undefined],
    ]);
  });

  it("over the MCP door, the same source", async () => {
    const h = await createHarness({ trustedProxies: ["10.0.0.2/32"] });
    const mcp = await connectMcp({
      url: "http://gateway.test/mcp",
      authorization: `Bearer ${await h.accessToken()}`,
      posture: await h.postureToken(),
      fetch: async (url, init) =>
        h.app.request(
          String(url),
          {
            ...init,
            headers: {
              ...Object.fromEntries(new Headers(init?.headers)),
              "x-forwarded-for": "10.42.16.9",
            },
          },
          fromPeer("10.0.0.2"),
        ),
    });
    await mcp.client.callTool({ name: READ[0], arguments: READ[1] });
    await mcp.close();
    const decision = records(h).find((r) => r["event"] === "decision");
    expect(decision?.["door"]).toBe("mcp");
    expect(decision?.["source"]).toEqual({ ip: "10.42.16.9", peer: "10.0.0.2", forwarded: "used" });
  });
});

describe("through Node's HTTP server (@hono/node-server's socket)", () => {
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
  async function post(h: Harness, base: string, forwardedFor: string): Promise<number> {
    const r = await fetch(`${base}/v1/tools/${READ[0]}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${await h.accessToken()}`,
        "x-device-posture": await h.postureToken(),
        "x-forwarded-for": forwardedFor,
      },
      body: JSON.stringify({ arguments: READ[1], session_id: "s" }),
    });
    return r.status;
  }

  it("the socket's address is recorded; the header only counts from a trusted proxy", async () => {
    const untrusting = await createHarness();
    expect(await post(untrusting, await listen(untrusting), "10.42.16.5")).toBe(200);
    expect(records(untrusting)[0]?.["source"]).toEqual({
      ip: "127.0.0.1",
      peer: "127.0.0.1",
      forwarded: "ignored",
    });
    const trusting = await createHarness({ trustedProxies: ["127.0.0.1/32"] });
    expect(await post(trusting, await listen(trusting), "10.42.16.5")).toBe(200);
    expect(records(trusting)[0]?.["source"]).toEqual({
      ip: "10.42.16.5",
      peer: "127.0.0.1",
      forwarded: "used",
    });
  });
});

describe("the source of an administrator's change", () => {
  async function adminHeaders(h: Harness): Promise<Record<string, string>> {
    return {
      authorization: `Bearer ${await h.accessToken(ADMIN)}`,
      "x-device-posture": await h.postureToken({ user: ADMIN.user }),
      "content-type": "application/json",
      "x-forwarded-for": "198.51.100.77",
    };
  }

  it("a kill-switch set and clear record where the request came from", async () => {
    const h = await createHarness({ trustedProxies: ["10.0.0.2"] });
    for (const method of ["PUT", "DELETE"]) {
      const r = await h.app.request(
        "/v1/admin/kill-switch/agent",
        {
          method,
          headers: await adminHeaders(h),
          body: JSON.stringify({ value: "change-reviewer", reason: "INC-7 drill" }),
        },
        fromPeer("10.0.0.2"),
      );
      expect(r.status).toBe(200);
    }
    const changes = records(h).filter((r) => r["event"] === "kill_switch");
    expect(changes.map((r) => (r["details"] as { action: string }).action)).toEqual([
      "set",
      "clear",
    ]);
    for (const record of changes)
      expect(record["source"]).toEqual({
        ip: "198.51.100.77",
        peer: "10.0.0.2",
        forwarded: "used",
      });
  });

  it("a taint clear records it too, an untrusted peer's header ignored", async () => {
    const h = await createHarness();
    const r = await h.app.request(
      "/v1/admin/taints/sessions",
      {
        method: "DELETE",
        headers: await adminHeaders(h),
        body: JSON.stringify({ session_id: "s-any", reason: "false positive" }),
      },
      fromPeer("203.0.113.40"),
    );
    expect(r.status).toBe(200);
    const clears = records(h).filter((r) => r["event"] === "taint_cleared");
    expect(clears.map((r) => r["source"])).toEqual([
      { ip: "203.0.113.40", peer: "203.0.113.40", forwarded: "ignored" },
    ]);
    expect(readFileSync(h.auditPath, "utf8")).not.toContain("198.51.100.77");
  });
});

describe("the source of an approver's decision", () => {
  it("an approval and a denial record where each approver's request came from", async () => {
    const h = await createHarness();
    const ask = async (peer: string) => {
      const asked = await h.callAs("aws_modify_security_group", SG_CHANGE, {
        as: REMEDIATOR,
        sessionId: "s-source",
        peer,
      });
      expect(asked.status).toBe(202);
      return ((await asked.json()) as { approval_id: string }).approval_id;
    };
    const act = async (id: string, action: string, peer: string, body?: object) =>
      h.app.request(
        `/v1/approvals/${id}/${action}`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${await h.accessToken(APPROVER)}`,
            "x-device-posture": await h.postureToken({ user: APPROVER.user }),
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        },
        fromPeer(peer),
      );
    const first = await ask("203.0.113.50");
    expect((await act(first, "approve", "203.0.113.51")).status).toBe(200);
    const second = await ask("203.0.113.50");
    expect((await act(second, "deny", "203.0.113.52", { reason: "not today" })).status).toBe(200);
    const acts = records(h)
      .filter((r) => r["event"] === "approval")
      .map((r) => [(r["details"] as { action: string }).action, r["source"]]);
    // The request's record is the gateway's own (no approver acted): no source there.
    expect(acts).toEqual([
      ["request", undefined],
      ["approve", { ip: "203.0.113.51", peer: "203.0.113.51" }],
      ["request", undefined],
      ["deny", { ip: "203.0.113.52", peer: "203.0.113.52" }],
    ]);
  });
});
