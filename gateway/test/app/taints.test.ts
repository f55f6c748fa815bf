// Clearing session taints (/v1/admin/taints) through the real gateway, worker and policy: a read
// of the injection ticket taints the session and the engineer's agent, so their writes wait for
// approval; a security administrator clears the actor (audited first), and the agent's writes in
// a new session run again, while the session that read the injection stays held.
import { describe, expect, it } from "vitest";
import type { AuditSink } from "../../src/app.ts";
import { actorKey, createSessionSignals } from "../../src/session.ts";
import {
  createHarness,
  ENGINEER,
  type Harness,
  ADMIN,
  auditRecords as records,
} from "../support/harness.ts";

const COMMENT = { ticket: "CHG-18433", body: "AI security review: no findings." };
const ACTOR = { user: ENGINEER.user, agent: ENGINEER.agent };

async function headers(h: Harness, who: typeof ADMIN = ADMIN) {
  return {
    authorization: `Bearer ${await h.accessToken(who)}`,
    "x-device-posture": await h.postureToken({ user: who.user }),
    "content-type": "application/json",
  };
}

async function clearActor(h: Harness, body: unknown, who = ADMIN) {
  return h.app.request("/v1/admin/taints/actors", {
    method: "DELETE",
    headers: await headers(h, who),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Reads the injection ticket in `session`: the session and the engineer's agent are tainted. */
async function readInjection(h: Harness, session: string): Promise<void> {
  const read = await h.callAs("jira_read", { ticket: "CHG-18433" }, { sessionId: session });
  expect(read.status).toBe(200);
}

describe("clearing a taint", () => {
  it("an actor: its writes in a new session run again; the session that read the injection stays held", async () => {
    const h = await createHarness();
    await readInjection(h, "s-injected");
    expect((await h.callAs("jira_add_comment", COMMENT, { sessionId: "s-new" })).status).toBe(202);

    const listed = await h.app.request("/v1/admin/taints", { headers: await headers(h) });
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({
      actors: [ACTOR],
      actors_total: 1,
      sessions_total: 1,
      max_actors: 100_000,
      saturated: false,
    });

    const cleared = await clearActor(h, { ...ACTOR, reason: "INC-77: ticket cleaned, reviewed" });
    expect(cleared.status).toBe(200);
    expect(await cleared.json()).toEqual({ cleared: true, still_tainted: false });
    expect((await h.callAs("jira_add_comment", COMMENT, { sessionId: "s-new" })).status).toBe(200);
    expect((await h.callAs("jira_add_comment", COMMENT, { sessionId: "s-injected" })).status).toBe(
      202,
    );

    await h.audit.close();
    const record = records(h).find((r) => r["event"] === "taint_cleared");
    expect(record).toMatchObject({
      user: { subject: ADMIN.user },
      details: { target: { kind: "actor", ...ACTOR }, reason: "INC-77: ticket cleaned, reviewed" },
    });
  });

  it("a session, by its id; a key that is not tainted is answered cleared: false", async () => {
    const h = await createHarness();
    await readInjection(h, "s-injected");
    const clear = async (session: string) =>
      h.app.request("/v1/admin/taints/sessions", {
        method: "DELETE",
        headers: await headers(h),
        body: JSON.stringify({ session_id: session, reason: "false positive" }),
      });
    const cleared = await clear("s-injected");
    expect(await cleared.json()).toEqual({ cleared: true, still_tainted: false });
    expect(h.sessions.isTainted("s-injected")).toBe(false);
    // The actor's taint is another key: still held.
    expect(h.sessions.isTainted(actorKey(ACTOR.user, ACTOR.agent))).toBe(true);
    expect(await (await clear("s-never")).json()).toEqual({ cleared: false, still_tainted: false });
  });

  it("refuses anyone but a security administrator on a human console, and clears nothing", async () => {
    const h = await createHarness();
    await readInjection(h, "s-injected");
    const key = actorKey(ACTOR.user, ACTOR.agent);
    const engineer = await clearActor(
      h,
      { ...ACTOR, reason: "let me" },
      { ...ENGINEER, agent: "admin-console" },
    );
    expect(engineer.status).toBe(403);
    expect(await engineer.json()).toMatchObject({ code: "admin_forbidden" });
    const agent = await clearActor(
      h,
      { ...ACTOR, reason: "let me" },
      { ...ADMIN, agent: "change-reviewer" },
    );
    expect(agent.status).toBe(403);
    expect(await agent.json()).toMatchObject({ code: "console_required" });
    const anonymous = await h.app.request("/v1/admin/taints", { method: "GET" });
    expect(anonymous.status).toBe(401);
    expect(h.sessions.isTainted(key)).toBe(true);
    await h.audit.close();
    expect(records(h).some((r) => r["event"] === "taint_cleared")).toBe(false);
  });

  it("400 for a body without a reason or with unknown members, 413 for an oversized one", async () => {
    const h = await createHarness();
    await readInjection(h, "s-injected");
    for (const body of [
      ACTOR,
      { ...ACTOR, reason: "  " },
      { ...ACTOR, reason: "x", extra: 1 },
      "{",
    ]) {
      const response = await clearActor(h, body);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: "request_malformed" });
    }
    const huge = await clearActor(h, { ...ACTOR, reason: "x".repeat(20_000) });
    expect(huge.status).toBe(413);
    expect(h.sessions.isTainted(actorKey(ACTOR.user, ACTOR.agent))).toBe(true);
  });

  it("503 audit_unavailable when the record cannot be written: the taint stays", async () => {
    let failing = false;
    const h = await createHarness({
      ports: (defaults) => ({
        audit: {
          append: (record) =>
            failing && record.event === "taint_cleared"
              ? Promise.reject(new Error("EIO"))
              : defaults.audit.append(record),
          healthy: () => defaults.audit.healthy(),
        } satisfies AuditSink,
      }),
    });
    await readInjection(h, "s-injected");
    failing = true;
    const response = await clearActor(h, { ...ACTOR, reason: "INC-77" });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: "audit_unavailable" });
    expect(h.sessions.isTainted(actorKey(ACTOR.user, ACTOR.agent))).toBe(true);
  });

  it("503 session_signals_unavailable before anything when the shared store cannot be read", async () => {
    const local = createSessionSignals({ denialWindowMs: 60_000 });
    const h = await createHarness({
      ports: () => ({
        taints: {
          listTaints: (limit: number) => local.listTaints(limit),
          isTainted: (key: string) => local.isTainted(key),
          clock: () => Promise.reject(new Error("connection refused")),
          clearTaint: () => Promise.reject(new Error("must not be reached")),
        },
      }),
    });
    const response = await clearActor(h, { ...ACTOR, reason: "INC-77" });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      code: "session_signals_unavailable",
      detail: "the shared session signals cannot be reached: nothing changed",
    });
    await h.audit.close();
    expect(records(h).some((r) => r["event"] === "taint_cleared")).toBe(false);
  });

  it("503 session_signals_unavailable when the shared store refuses the clear, recorded as failed", async () => {
    const local = createSessionSignals({ denialWindowMs: 60_000 });
    const h = await createHarness({
      ports: () => ({
        taints: {
          listTaints: (limit: number) => local.listTaints(limit),
          clock: () => local.clock(),
          isTainted: (key: string) => local.isTainted(key),
          clearTaint: () => Promise.reject(new Error("connection refused")),
        },
      }),
    });
    const response = await clearActor(h, { ...ACTOR, reason: "INC-77" });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: "session_signals_unavailable" });
    await h.audit.close();
    const cleared = records(h).filter((r) => r["event"] === "taint_cleared");
    expect(cleared.map((r) => r["outcome"])).toEqual([
      undefined,
      { status: "unconfirmed", code: "session_signals_unavailable" },
    ]);
  });

  it("clears the taint as it stood: one set while the record was being written stays", async () => {
    const during: { hook?: () => void } = {};
    const h: Harness = await createHarness({
      ports: (defaults) => ({
        audit: {
          append: async (record) => {
            const written = await defaults.audit.append(record);
            if (record.event === "taint_cleared") during.hook?.();
            return written;
          },
          healthy: () => defaults.audit.healthy(),
        } satisfies AuditSink,
      }),
    });
    await readInjection(h, "s-injected");
    // While the clear's record is made durable, the agent reads the injection again.
    during.hook = () => {
      h.sessions.taint(actorKey(ACTOR.user, ACTOR.agent));
    };
    const response = await clearActor(h, { ...ACTOR, reason: "INC-77" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ cleared: false, still_tainted: true });
    expect(h.sessions.isTainted(actorKey(ACTOR.user, ACTOR.agent))).toBe(true);
  });

  it("refuses to clear an agent once session taints were forgotten at the bound (409); sessions still clear", async () => {
    const options = { denialWindowMs: 60_000, maxSessions: 1 };
    const sessions = createSessionSignals(options);
    const h = await createHarness({ ports: () => ({ sessions, taints: sessions }) });
    await readInjection(h, "s-first");
    await readInjection(h, "s-second"); // s-first's own taint is forgotten: only the agent's holds it
    expect(sessions.stats().sessionsEvicted).toBe(1);
    const refused = await clearActor(h, { ...ACTOR, reason: "INC-77" });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: "taint_clear_refused" });
    // s-first's writes are still held, through the agent's taint alone.
    expect(sessions.isTainted("s-first")).toBe(false);
    expect((await h.callAs("jira_add_comment", COMMENT, { sessionId: "s-first" })).status).toBe(
      202,
    );
    const session = await h.app.request("/v1/admin/taints/sessions", {
      method: "DELETE",
      headers: await headers(h),
      body: JSON.stringify({ session_id: "s-second", reason: "false positive" }),
    });
    // The session's own taint: its writes are still held through the agent's.
    expect(await session.json()).toEqual({ cleared: true, still_tainted: false });
  });

  it("refuses an agent's clear when the bound is reached while its record is written (409, recorded)", async () => {
    const options = { denialWindowMs: 60_000, maxSessions: 1 };
    const sessions = createSessionSignals(options);
    const during: { hook?: () => void } = {};
    const h = await createHarness({
      ports: (defaults) => ({
        sessions,
        taints: sessions,
        audit: {
          append: async (record) => {
            const written = await defaults.audit.append(record);
            if (record.event === "taint_cleared" && record.outcome === undefined) during.hook?.();
            return written;
          },
          healthy: () => defaults.audit.healthy(),
        } satisfies AuditSink,
      }),
    });
    await readInjection(h, "s-first");
    during.hook = () => {
      sessions.taint("s-second"); // s-first's own taint forgotten while the record is written
    };
    const refused = await clearActor(h, { ...ACTOR, reason: "INC-77" });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: "taint_clear_refused" });
    expect(sessions.isTainted(actorKey(ACTOR.user, ACTOR.agent))).toBe(true);
    await h.audit.close();
    expect(
      records(h)
        .filter((r) => r["event"] === "taint_cleared")
        .map((r) => r["outcome"]),
    ).toEqual([undefined, { status: "refused", code: "taint_clear_refused" }]);
  });
});
