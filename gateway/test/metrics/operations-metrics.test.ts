// The metrics the platform team watches besides calls and decisions, through the real app:
// approval requests waiting, calls refused before identity, and the audit log's fsync latency
// and group-commit size (the audit writer's onSync hook on a real file).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createGatewayApp, type GatewayPorts } from "../../src/app.ts";
import { generateCheckpointJwk, signerFromPrivateJwk } from "../../src/audit/checkpoint.ts";
import { openAuditLog } from "../../src/audit/log.ts";
import { createGatewayMetrics } from "../../src/metrics/gateway-metrics.ts";
import { actorKey, createSessionSignals } from "../../src/session.ts";
import { createHarness, REMEDIATOR } from "../support/harness.ts";
import { SG_CHANGE } from "../../../test/support/fixtures.ts";

const TOKEN = "scraper-token-0123456789";

async function measuredApp(sessions = createSessionSignals({ denialWindowMs: 60_000 })) {
  const metrics = createGatewayMetrics();
  const auditPath = join(mkdtempSync(join(tmpdir(), "zyx-metrics-")), "audit.jsonl");
  const audit = await openAuditLog({
    path: auditPath,
    fsync: true,
    checkpoints: {
      signer: signerFromPrivateJwk(generateCheckpointJwk()),
      everyRecords: 3,
      everySeconds: 3600,
    },
    onSync: (seconds, records) => {
      metrics.auditSynced(seconds, records);
    },
    onCheckpoint: (head) => {
      metrics.auditCheckpoint(head);
    },
  });
  let ports: GatewayPorts | undefined;
  const h = await createHarness({
    ports: (defaults) => {
      ports = { ...defaults, audit, sessions };
      return { audit, sessions };
    },
  });
  if (ports === undefined) throw new Error("the harness gave no ports");
  metrics.addSources({
    openApprovals: () => h.controls.openApprovals(),
    sessionTaints: () => sessions.stats(),
  });
  const app = createGatewayApp(ports, {
    bodyLimitBytes: 65_536,
    now: () => h.clock.now,
    metrics,
    metricsToken: TOKEN,
  });
  const scrape = async () =>
    (await app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const call = async (tool: string, args: unknown, headers: Record<string, string>) =>
    app.request(`/v1/tools/${tool}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ arguments: args, session_id: "ops-metrics-1" }),
    });
  return { h, app, scrape, call, audit, auditPath };
}

describe("operations metrics", () => {
  it("counts approval requests waiting for approvers", async () => {
    const { h, scrape, call } = await measuredApp();
    expect(await scrape()).toContain('zyx_gateway_approvals_open{status="pending"} 0');
    const waiting = await call("aws_modify_security_group", SG_CHANGE, {
      authorization: `Bearer ${await h.accessToken(REMEDIATOR)}`,
      "x-device-posture": await h.postureToken({ user: REMEDIATOR.user }),
    });
    expect(waiting.status).toBe(202);
    const text = await scrape();
    expect(text).toContain('zyx_gateway_approvals_open{status="pending"} 1');
    expect(text).toContain('zyx_gateway_approvals_open{status="escalated"} 0');
  });

  it("shows the session-taint store's fill, and when it has saturated (failed closed)", async () => {
    const sessions = createSessionSignals({ denialWindowMs: 60_000, maxActors: 2, maxSessions: 1 });
    const { scrape } = await measuredApp(sessions);
    sessions.taint("s-1");
    sessions.taint(actorKey("u-1", "change-reviewer"));
    let text = await scrape();
    expect(text).toContain('zyx_gateway_session_taints{kind="sessions"} 1');
    expect(text).toContain('zyx_gateway_session_taints{kind="actors"} 1');
    expect(text).toContain('zyx_gateway_session_taints{kind="max_actors"} 2');
    expect(text).toContain('zyx_gateway_session_taints{kind="saturated"} 0');
    sessions.taint(actorKey("u-2", "change-reviewer"));
    sessions.taint(actorKey("u-3", "change-reviewer"));
    text = await scrape();
    expect(text).toContain('zyx_gateway_session_taints{kind="actors"} 2');
    expect(text).toContain('zyx_gateway_session_taints{kind="saturated"} 1');
    expect(text).toContain('zyx_gateway_session_taints{kind="sessions_evicted"} 0');
    sessions.taint("s-2"); // s-1's taint forgotten at the bound of one
    text = await scrape();
    expect(text).toContain('zyx_gateway_session_taints{kind="sessions_evicted"} 1');
  });

  it("counts calls refused before identity, by code, whichever door", async () => {
    const { app, scrape, call } = await measuredApp();
    expect((await call("jira_read", { ticket: "CHG-18422" }, {})).status).toBe(401);
    expect(
      (await call("jira_read", { ticket: "CHG-18422" }, { authorization: "Bearer not-a-jwt" }))
        .status,
    ).toBe(401);
    for (const headers of [{}, { authorization: "Bearer nope" }]) {
      const mcp = await app.request("/mcp", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(mcp.status).toBe(401);
    }
    const text = await scrape();
    const counted: Record<string, number> = Object.fromEntries(
      [
        ...text.matchAll(
          /^zyx_gateway_unauthenticated_refusals_total\{code="([a-z_]+)"\} (\d+)$/gm,
        ),
      ].map(([, code, n]): [string, number] => [code ?? "", Number(n)]),
    );
    expect(counted).toEqual({ token_missing: 2, token_invalid: 2 });
  });

  it("measures each audit fdatasync and the records it made durable", async () => {
    const { h, scrape, call } = await measuredApp();
    const answered = await call(
      "jira_read",
      { ticket: "CHG-18422" },
      {
        authorization: `Bearer ${await h.accessToken()}`,
        "x-device-posture": await h.postureToken(),
      },
    );
    expect(answered.status).toBe(200);
    const text = await scrape();
    const syncs = /^zyx_gateway_audit_fsync_seconds_count (\d+)$/m.exec(text)?.[1];
    expect(Number(syncs)).toBeGreaterThanOrEqual(2); // the decision, then the outcome
    const records = /^zyx_gateway_audit_group_commit_records_sum (\d+)$/m.exec(text)?.[1];
    expect(Number(records)).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^zyx_gateway_audit_fsync_seconds_sum \d/m);
  });

  it("shows the seq of the audit log's last durable checkpoint, the head to alert on", async () => {
    const { h, scrape, call, audit, auditPath } = await measuredApp();
    const checkpointSeqs = () =>
      readFileSync(auditPath, "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { event?: string; seq: number })
        .filter((r) => r.event === "checkpoint")
        .map((r) => r.seq);
    const gauge = (text: string) =>
      Number(/^zyx_gateway_audit_checkpoint_seq (\d+)$/m.exec(text)?.[1]);
    const headers = {
      authorization: `Bearer ${await h.accessToken()}`,
      "x-device-posture": await h.postureToken(),
    };
    for (let i = 0; i < 4; i++) {
      expect((await call("jira_read", { ticket: "CHG-18422" }, headers)).status).toBe(200);
    }
    await audit.close(); // everything durable, the closing checkpoint last
    const seqs = checkpointSeqs();
    expect(seqs.length).toBeGreaterThanOrEqual(2); // one after every 3 records, 8 records written
    expect(gauge(await scrape())).toBe(seqs.at(-1));
  });
});
