// Retrieved content is evidence, never instructions: the worker's output guard redacts secrets
// and flags prompt injection; a flagged read taints the session, and the policy then holds every
// write in that session for approval. Through the real gateway, worker and fixture connectors.
import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { actorKey, createSessionSignals, type SessionSignals } from "../../src/session.ts";
import { createHarness, ENGINEER, type Harness } from "../support/harness.ts";

const COMMENT = { ticket: "CHG-18433", body: "AI security review: no findings." };

function outcomes(h: Harness): Record<string, unknown>[] {
  return readFileSync(h.auditPath, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record["event"] === "outcome");
}

describe("untrusted evidence", () => {
  it("a read of the injection ticket taints the session; a write in it then waits for approval", async () => {
    const h = await createHarness();
    const read = await h.callAs("jira_read", { ticket: "CHG-18433" }, { sessionId: "s-injected" });
    expect(read.status).toBe(200);
    const body = (await read.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      result: { key: "CHG-18433" },
      evidence: { untrusted: true, injection: { suspected: true } },
    });

    const write = await h.callAs("jira_add_comment", COMMENT, { sessionId: "s-injected" });
    expect(write.status).toBe(202);
    expect(await write.json()).toMatchObject({
      status: "pending",
      reasons: [{ code: "approval_required" }],
      approval: { required: true, approvers_required: 1 },
      risk: {
        factors: expect.arrayContaining([{ factor: "tainted_session", points: 3 }]) as unknown,
      },
    });
    expect(h.workerCalls.map((c) => c.call.tool)).toEqual(["jira_read"]);

    // Another user's writes are not held: the taint is this user's and this agent's.
    const other = {
      user: "secops@zyxbank.example",
      groups: ["grp-ai-users", "grp-ai-security-readonly"],
    };
    const elsewhere = await h.callAs("jira_add_comment", COMMENT, {
      sessionId: "s-clean",
      as: other,
    });
    expect(elsewhere.status).toBe(200);
    expect(await elsewhere.json()).toMatchObject({ compensation: { kind: "jira_comment" } });

    await h.audit.close();
    expect(outcomes(h)[0]).toMatchObject({
      tool: "jira_read",
      details: { injection_suspected: true, session_tainted: true },
    });
  });

  it("taints the actor while the session's taint is still being shared, not after it", async () => {
    const local = createSessionSignals({ denialWindowMs: 60_000 });
    let releaseSession: () => void = () => undefined;
    const taintedWhileSessionPending: string[] = [];
    const sessions: SessionSignals = {
      isTainted: (key) => local.isTainted(key),
      recentDenials: (agent, nowMs) => local.recentDenials(agent, nowMs),
      recordDenial: (agent, nowMs) => {
        local.recordDenial(agent, nowMs);
      },
      // A shared store: the taint holds here at once, and is shared when the insert returns.
      taint(key) {
        local.taint(key);
        if (key !== "s-slow") {
          taintedWhileSessionPending.push(key);
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          releaseSession = resolve;
        });
      },
    };
    const h = await createHarness({ ports: () => ({ sessions }) });
    const read = h.callAs("jira_read", { ticket: "CHG-18433" }, { sessionId: "s-slow" });
    await vi.waitFor(() => {
      expect(taintedWhileSessionPending).toEqual([actorKey(ENGINEER.user, ENGINEER.agent)]);
    });
    releaseSession();
    expect((await read).status).toBe(200);
  });

  it("a clean read does not taint the session", async () => {
    const h = await createHarness();
    const read = await h.callAs("jira_read", { ticket: "CHG-18422" }, { sessionId: "s-1" });
    expect(await read.json()).toMatchObject({ evidence: { injection: { suspected: false } } });
    const write = await h.callAs(
      "jira_add_comment",
      { ticket: "CHG-18422", body: "ok" },
      { sessionId: "s-1" },
    );
    expect(write.status).toBe(200);
  });

  it("secrets in a result are redacted before they leave the worker, and counted in the audit", async () => {
    const h = await createHarness({
      workerExecute: () => ({
        key: "CHG-18422",
        description: "deploy with aws_access_key_id=AKIAIOSFODNN7EXAMPLE and go",
      }),
    });
    const response = await h.callAs("jira_read", { ticket: "CHG-18422" });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(JSON.parse(text)).toMatchObject({ evidence: { redactions: 1 } });
    await h.audit.close();
    expect(outcomes(h)[0]).toMatchObject({ details: { redactions: 1 } });
  });
});

describe("the taint follows the user and the agent", () => {
  it("is not washed away by a new session id", async () => {
    const h = await createHarness();
    const read = await h.callAs("jira_read", { ticket: "CHG-18433" }, { sessionId: "s-first" });
    expect(await read.json()).toMatchObject({ evidence: { injection: { suspected: true } } });
    const write = await h.callAs("jira_add_comment", COMMENT, { sessionId: "s-fresh" });
    expect(write.status).toBe(202);
    expect(h.workerCalls.map((c) => c.call.tool)).toEqual(["jira_read"]);
  });
});
