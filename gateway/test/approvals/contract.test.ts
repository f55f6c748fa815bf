// One contract for both approval stores, and for the approval service on top of each: the same
// tests run on SQLite (a file) and on PostgreSQL (a private cluster started for this file). The
// PostgreSQL half never skips: if the server cannot be started, its beforeAll fails with why.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { argumentsDigest } from "../../../common/canonical.ts";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import { ApprovalError } from "../../src/approvals/errors.ts";
import type { ApprovalService } from "../../src/approvals/service.ts";
import { createApprovalService } from "../../src/approvals/service.ts";
import type { ApprovalStore, ApprovalStoreConfig } from "../../src/approvals/store.ts";
import { openApprovalStore } from "../../src/approvals/store.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import {
  ALICE,
  BOB,
  ENGINEER,
  INTERN,
  ONCALL,
  T0,
  deterministicIds,
  requestInput,
  sampleRequest,
} from "./fixtures.ts";

/** A fresh, empty place for a store: a new file, or a new PostgreSQL schema. */
interface Location {
  config: ApprovalStoreConfig;
  /** Runs SQL on the location behind the store's back (to corrupt it, age its schema, count). */
  raw(sql: string): Promise<Record<string, unknown>[]>;
}

interface Backend {
  name: "sqlite" | "postgres";
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  fresh(): Promise<Location>;
}

function sqliteBackend(): Backend {
  let dir = "";
  let n = 0;
  return {
    name: "sqlite",
    setUp() {
      dir = mkdtempSync(join(tmpdir(), "approvals-sqlite-"));
      return Promise.resolve();
    },
    tearDown() {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
    fresh() {
      n++;
      const path = join(dir, String(n), "approvals.db");
      return Promise.resolve({
        config: { kind: "sqlite", path },
        raw(sql) {
          const db = new DatabaseSync(path);
          try {
            return Promise.resolve(db.prepare(sql).all());
          } finally {
            db.close();
          }
        },
      });
    },
  };
}

function postgresBackend(): Backend {
  let server: PrivatePostgres | undefined;
  let n = 0;
  const run = async (connectionString: string, sql: string) => {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      return (await client.query<Record<string, unknown>>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    name: "postgres",
    async setUp() {
      // Throws with the reason (no binaries, initdb failed, no port...): the suite fails.
      server = await startPostgres();
    },
    async tearDown() {
      await server?.stop();
    },
    async fresh() {
      if (server === undefined) throw new Error("PostgreSQL is not running (see beforeAll)");
      n++;
      const schema = `contract_${String(n)}`;
      await run(server.connectionString, `CREATE SCHEMA ${schema}`);
      const connectionString = server.urlFor(server.database, { searchPath: schema });
      return {
        config: { kind: "postgres", connectionString },
        raw: (sql) => run(connectionString, sql),
      };
    },
  };
}

/** Asserts the promise rejects with an ApprovalError of this code (and message, if given). */
async function rejectsWith(
  promise: Promise<unknown>,
  code: ApprovalError["code"],
  message?: string | RegExp,
): Promise<ApprovalError> {
  const error: unknown = await promise.then(
    () => new Error("expected a rejection"),
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ApprovalError);
  const approvalError = error as ApprovalError;
  expect(approvalError.code).toBe(code);
  if (message !== undefined) expect(approvalError.message).toMatch(message);
  return approvalError;
}

describe.each([sqliteBackend(), postgresBackend()])("approvals on $name", (backend) => {
  beforeAll(() => backend.setUp());
  afterAll(() => backend.tearDown());

  const opened: ApprovalStore[] = [];
  async function open(location: Location): Promise<ApprovalStore> {
    const store = await openApprovalStore(location.config);
    opened.push(store);
    return store;
  }
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  describe("store", () => {
    let location: Location;
    let store: ApprovalStore;
    beforeEach(async () => {
      location = await backend.fresh();
      store = await open(location);
    });

    it("names its kind", () => {
      expect(store.kind).toBe(backend.name);
    });

    it("creates and reads back a request, arguments exactly as given", async () => {
      const request = sampleRequest({
        arguments: { zeta: 1, alpha: { nested: ["ü", 1.5, null, true] }, body: 'a\nb "q"' },
      });
      const created = await store.create(request);
      expect(created).toEqual(request);
      const read = await store.get(request.id);
      expect(read).toEqual(request);
      expect(JSON.stringify(read?.arguments)).toBe(JSON.stringify(request.arguments));
      expect(await store.get("00000000-0000-4000-8000-0000000000ff")).toBeUndefined();
    });

    it("refuses a second request with the same id", async () => {
      const request = sampleRequest();
      await store.create(request);
      await rejectsWith(
        store.create({ ...request, tool: "slack_post_message" }),
        "approval_already_exists",
        `approval request ${request.id} already exists`,
      );
      expect((await store.get(request.id))?.tool).toBe("jira_add_comment");
    });

    it("refuses a new request whose version is not 1, or that is not a valid request", async () => {
      await rejectsWith(
        store.create(sampleRequest({ version: 2 })),
        "approval_invalid",
        "a new approval request has version 1",
      );
      await rejectsWith(
        store.create(sampleRequest({ arguments_digest: "not-a-digest" })),
        "approval_invalid",
        /arguments_digest/,
      );
    });

    it("compare-and-set writes only over the expected version", async () => {
      const request = await store.create(sampleRequest());
      const written = await store.compareAndSet(1, { ...request, status: "denied" });
      expect(written).toEqual({ ...request, status: "denied", version: 2 });
      // A writer that read version 1 loses, and changes nothing.
      expect(await store.compareAndSet(1, { ...request, status: "approved" })).toBeUndefined();
      expect(await store.get(request.id)).toEqual({ ...request, status: "denied", version: 2 });
      // An unknown id is no write either.
      expect(
        await store.compareAndSet(1, { ...request, id: "00000000-0000-4000-8000-0000000000fe" }),
      ).toBeUndefined();
    });

    it("lets exactly one of many racing writers win, across two connections", async () => {
      const other = await open(location);
      const request = await store.create(sampleRequest());
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          (i % 2 === 0 ? store : other).compareAndSet(1, {
            ...request,
            status: "approved",
            decision_id: `writer-${String(i)}`,
          }),
        ),
      );
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(await other.get(request.id)).toEqual(winners[0]);
    });

    it("lists the open requests that are due, oldest deadline first", async () => {
      const at = (ms: number) => new Date(T0 + ms).toISOString();
      const ids = Array.from(
        { length: 6 },
        (_, i) => `00000000-0000-4000-8000-00000000010${String(i)}`,
      );
      const [dueLater, dueFirst, future, approved, escalated, exactlyNow] = ids as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      await store.create(sampleRequest({ id: dueLater, expires_at: at(-1_000) }));
      await store.create(sampleRequest({ id: dueFirst, expires_at: at(-5_000) }));
      await store.create(sampleRequest({ id: future, expires_at: at(1) }));
      await store.create(sampleRequest({ id: approved, expires_at: at(-9_000) }));
      await store.create(sampleRequest({ id: escalated, expires_at: at(-2_000) }));
      await store.create(sampleRequest({ id: exactlyNow, expires_at: at(0) }));
      await store.compareAndSet(1, { ...sampleRequest({ id: approved }), status: "approved" });
      await store.compareAndSet(1, {
        ...sampleRequest({ id: escalated, expires_at: at(-2_000) }),
        status: "escalated",
      });

      const due = await store.listDue(T0);
      expect(due.map((r) => r.id)).toEqual([dueFirst, escalated, dueLater, exactlyNow]);
      expect(due[1]?.status).toBe("escalated");
      expect((await store.listDue(T0, 2)).map((r) => r.id)).toEqual([dueFirst, escalated]);
      expect(await store.listDue(T0 - 10_000)).toEqual([]);
      await rejectsWith(store.listDue(T0, 0), "approval_invalid", /limit/);
    });

    it("lists the open requests of one requester or one agent, oldest first", async () => {
      const id = (n: number) => `00000000-0000-4000-8000-00000000020${String(n)}`;
      const at = (ms: number) => new Date(T0 + ms).toISOString();
      const other = { subject: "someone-else", email: "else@zyxbank.example", groups: [] };
      await store.create(sampleRequest({ id: id(1), created_at: at(2) }));
      await store.create(sampleRequest({ id: id(2), created_at: at(1) }));
      await store.create(sampleRequest({ id: id(3), created_at: at(3), agent: "other-agent" }));
      await store.create(sampleRequest({ id: id(4), created_at: at(4), requester: other }));
      await store.create(sampleRequest({ id: id(5), created_at: at(5) }));
      await store.compareAndSet(1, { ...sampleRequest({ id: id(5) }), status: "denied" });
      await store.create(sampleRequest({ id: id(6), created_at: at(6) }));
      await store.compareAndSet(1, { ...sampleRequest({ id: id(6) }), status: "escalated" });

      const mine = await store.listOpen({ requesterSubject: ENGINEER.subject });
      expect(mine.map((r) => r.id)).toEqual([id(2), id(1), id(3), id(6)]);
      const agents = await store.listOpen({ agent: "change-reviewer" });
      expect(agents.map((r) => r.id)).toEqual([id(2), id(1), id(4), id(6)]);
      expect((await store.listOpen({ agent: "other-agent" })).map((r) => r.id)).toEqual([id(3)]);
      expect((await store.listOpen({ agent: "change-reviewer" }, 2)).map((r) => r.id)).toEqual([
        id(2),
        id(1),
      ]);
      expect(await store.listOpen({ requesterSubject: "nobody" })).toEqual([]);
      await rejectsWith(store.listOpen({ agent: "" }), "approval_invalid", /subject or an agent/);
      await rejectsWith(store.listOpen({ agent: "x" }, 0), "approval_invalid", /limit/);
    });

    it("lists only the requests that wait before their call runs when asked (no post-hoc reviews)", async () => {
      const id = (n: number) => `00000000-0000-4000-8000-00000000030${String(n)}`;
      const at = (ms: number) => new Date(T0 + ms).toISOString();
      await store.create(sampleRequest({ id: id(1), created_at: at(1), mode: "post_hoc" }));
      await store.create(sampleRequest({ id: id(2), created_at: at(2) }));
      await store.create(sampleRequest({ id: id(3), created_at: at(3), mode: "post_hoc" }));
      await store.create(sampleRequest({ id: id(4), created_at: at(4) }));

      const all = await store.listOpen({ requesterSubject: ENGINEER.subject });
      expect(all.map((r) => r.id)).toEqual([id(1), id(2), id(3), id(4)]);
      for (const by of [{ requesterSubject: ENGINEER.subject }, { agent: "change-reviewer" }]) {
        // The limit counts waiting requests only: two reviews ahead of them take no place.
        const waiting = await store.listOpen({ ...by, waiting: true }, 2);
        expect(waiting.map((r) => r.id)).toEqual([id(2), id(4)]);
      }
    });

    it("lists the waiting requests whatever characters a record holds (U+0000, a backslash)", async () => {
      const id = (n: number) => `00000000-0000-4000-8000-00000000040${String(n)}`;
      const at = (ms: number) => new Date(T0 + ms).toISOString();
      // U+0000, and the text "\\u0000" (a backslash, then "u0000"): the same record back.
      const odd = { ticket: "CHG-18422", body: "a\u0000b \\u0000 c" };
      await store.create(sampleRequest({ id: id(1), created_at: at(1), arguments: odd }));
      await store.create(sampleRequest({ id: id(2), created_at: at(2), mode: "post_hoc" }));
      await store.create(sampleRequest({ id: id(3), created_at: at(3) }));
      for (const by of [{ requesterSubject: ENGINEER.subject }, { agent: "change-reviewer" }]) {
        const waiting = await store.listOpen({ ...by, waiting: true });
        expect(waiting.map((r) => r.id)).toEqual([id(1), id(3)]);
        expect(waiting[0]?.arguments).toEqual(odd);
      }
    });

    it("keeps its records across close and reopen, and migrates only once", async () => {
      const request = await store.create(sampleRequest());
      await store.compareAndSet(1, { ...request, status: "denied" });
      await store.close();
      await rejectsWith(store.get(request.id), "approval_store_unavailable", /closed/);

      const reopened = await open(location);
      expect(await reopened.get(request.id)).toEqual({ ...request, status: "denied", version: 2 });
      await reopened.ping();
    });

    it("fails closed on a record edited behind its back", async () => {
      const request = await store.create(sampleRequest());
      await location.raw(`UPDATE approval_requests SET record = '{"id":"x"}'`);
      await rejectsWith(
        store.get(request.id),
        "approval_store_corrupt",
        `approval request ${request.id}: stored record is invalid`,
      );
      await location.raw(`UPDATE approval_requests SET record = 'not json'`);
      await rejectsWith(store.get(request.id), "approval_store_corrupt", /is not JSON/);
      await location.raw(
        `UPDATE approval_requests SET record = '${JSON.stringify(request)}', status = 'approved'`,
      );
      await rejectsWith(store.get(request.id), "approval_store_corrupt", /columns disagree/);
    });

    it("migrates once when several stores open a new location at the same time", async () => {
      const fresh = await backend.fresh();
      const stores = await Promise.all(Array.from({ length: 4 }, () => open(fresh)));
      const rows = await fresh.raw("SELECT version, name FROM approval_schema_migrations");
      expect(rows.map((r) => ({ version: Number(r["version"]), name: r["name"] }))).toEqual([
        { version: 1, name: "approval_requests" },
        { version: 2, name: "approval_requests_agent" },
        { version: 3, name: "approval_requests_compensation_due" },
      ]);
      const [first, , , last] = stores;
      const request = await first?.create(sampleRequest());
      expect(request).toBeDefined();
      expect(await last?.get(sampleRequest().id)).toEqual(request);
    });

    it("refuses a database whose schema is newer than the code", async () => {
      await location.raw(
        `INSERT INTO approval_schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')`,
      );
      await rejectsWith(
        openApprovalStore(location.config),
        "approval_store_unavailable",
        /approval schema version 99, newer than this gateway knows \(3\)/,
      );
    });
  });

  describe("service", () => {
    let location: Location;
    let store: ApprovalStore;
    let clock: { ms: number };
    let audited: AuditRecordInput[];
    let auditFails: boolean;
    let ids: () => string;

    function service(
      on: ApprovalStore = store,
      extra: {
        audit?: (r: AuditRecordInput) => Promise<void>;
        maxWaitMs?: number;
        reviewSeconds?: number;
      } = {},
    ): ApprovalService {
      return createApprovalService({
        store: on,
        now: () => clock.ms,
        newId: ids,
        expirySeconds: 300,
        escalationSeconds: 120,
        pollIntervalMs: 20,
        ...(extra.maxWaitMs === undefined ? {} : { maxWaitMs: extra.maxWaitMs }),
        ...(extra.reviewSeconds === undefined ? {} : { reviewSeconds: extra.reviewSeconds }),
        audit:
          extra.audit ??
          ((record) => {
            if (auditFails) return Promise.reject(new Error("disk full"));
            audited.push(record);
            return Promise.resolve();
          }),
      });
    }

    const actions = () =>
      audited.map((r) => `${String(r.details?.["action"])}:${String(r.details?.["result"])}`);

    beforeEach(async () => {
      location = await backend.fresh();
      store = await open(location);
      clock = { ms: T0 };
      audited = [];
      auditFails = false;
      ids = deterministicIds();
    });

    it("records a pending request bound to the exact call", async () => {
      const approvals = service();
      const input = requestInput();
      const request = await approvals.request(input);
      expect(request).toEqual({
        id: "00000000-0000-4000-8000-000000000001",
        status: "pending",
        tool: "jira_add_comment",
        arguments: input.arguments,
        arguments_digest: argumentsDigest(input.arguments),
        requester: {
          subject: ENGINEER.subject,
          email: ENGINEER.email,
          groups: [...ENGINEER.groups],
        },
        agent: "change-reviewer",
        session_id: "sess-1",
        workflow: "change-review",
        policy_revision: "87c76d67ea6c01f0",
        risk_score: 5,
        approvers_required: 1,
        approver_groups: ["grp-ai-change-approvers"],
        fallback_groups: ["grp-ai-security-oncall"],
        approvals: [],
        decision_id: "dec-1",
        trace_id: "0af7651916cd43dd8448eb211c80319c",
        created_at: "2026-03-02T10:00:00.000Z",
        expires_at: "2026-03-02T10:05:00.000Z",
        version: 1,
      });
      expect(await approvals.get(request.id)).toEqual(request);
      expect(audited).toEqual([
        {
          timestamp: "2026-03-02T10:00:00.000Z",
          event: "approval",
          decision_id: "dec-1",
          trace_id: "0af7651916cd43dd8448eb211c80319c",
          user: { subject: ENGINEER.subject, email: ENGINEER.email },
          groups: [...ENGINEER.groups],
          agent: "change-reviewer",
          workflow: "change-review",
          session_id: "sess-1",
          tool: "jira_add_comment",
          risk_score: 5,
          policy_revision: "87c76d67ea6c01f0",
          arguments: input.arguments,
          approval: { required: true, approvers_required: 1, state: "pending" },
          details: {
            approval_id: request.id,
            action: "request",
            result: "applied",
            transition_id: "00000000-0000-4000-8000-000000000002",
            from_status: null,
            to_status: "pending",
            version: 1,
            actor: ENGINEER.subject,
            requester: { subject: ENGINEER.subject, email: ENGINEER.email },
            arguments_digest: argumentsDigest(input.arguments),
            approvals: [],
            expires_at: "2026-03-02T10:05:00.000Z",
            approver_groups: ["grp-ai-change-approvers"],
            fallback_groups: ["grp-ai-security-oncall"],
          },
        },
      ]);
    });

    it("approves with one approver when one is required", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      clock.ms += 30_000;
      const approved = await approvals.approve(id, ALICE, true);
      expect(approved.status).toBe("approved");
      expect(approved.approvals).toEqual([
        {
          subject: ALICE.subject,
          email: ALICE.email,
          groups: [...ALICE.groups],
          at: "2026-03-02T10:00:30.000Z",
        },
      ]);
      expect(approved.decided_at).toBe("2026-03-02T10:00:30.000Z");
      expect(approved.version).toBe(2);
      expect(await store.get(id)).toEqual(approved);
      expect(audited[1]).toMatchObject({
        event: "approval",
        user: { subject: ALICE.subject },
        groups: [...ALICE.groups],
        approval: { required: true, approvers_required: 1, state: "approved" },
        details: {
          approval_id: id,
          action: "approve",
          result: "applied",
          from_status: "pending",
          to_status: "approved",
          version: 2,
          actor: ALICE.subject,
          approvals: [ALICE.subject],
        },
      });
      expect(audited[1]?.arguments).toBeUndefined();
    });

    it("needs a second, distinct approver at risk 8 to 10", async () => {
      const approvals = service();
      const { id } = await approvals.request(
        requestInput({ risk_score: 9, approvers_required: 2 }),
      );
      const first = await approvals.approve(id, ALICE, true);
      expect(first.status).toBe("pending");
      expect(first.approvals.map((a) => a.subject)).toEqual([ALICE.subject]);
      await rejectsWith(
        approvals.approve(id, ALICE, true),
        "approver_already_approved",
        `${ALICE.subject} already approved request ${id}; another approver must`,
      );
      // The same person under another subject (same e-mail) is not a second approver either.
      await rejectsWith(
        approvals.approve(
          id,
          { subject: "u-alice-2", email: "ALICE@zyxbank.example", groups: ALICE.groups },
          true,
        ),
        "approver_already_approved",
      );
      const second = await approvals.approve(id, BOB, true);
      expect(second.status).toBe("approved");
      expect(second.approvals.map((a) => a.subject)).toEqual([ALICE.subject, BOB.subject]);
      expect(second.version).toBe(3);
      expect(actions()).toEqual([
        "request:applied",
        "approve:applied",
        "approve:refused",
        "approve:refused",
        "approve:applied",
      ]);
    });

    it("ends the request on any eligible approver's denial", async () => {
      const approvals = service();
      const { id } = await approvals.request(
        requestInput({ risk_score: 9, approvers_required: 2 }),
      );
      await approvals.approve(id, ALICE, true);
      clock.ms += 10_000;
      const denied = await approvals.deny(id, BOB, "no rollback plan in the ticket");
      expect(denied.status).toBe("denied");
      expect(denied.denial).toEqual({
        subject: BOB.subject,
        groups: ["grp-ai-change-approvers"],
        reason: "no rollback plan in the ticket",
        at: "2026-03-02T10:00:10.000Z",
      });
      expect(denied.decided_at).toBe("2026-03-02T10:00:10.000Z");
      await rejectsWith(
        approvals.approve(id, BOB, true),
        "approval_not_open",
        `approval request ${id} is denied, no longer open to approvers`,
      );
      await rejectsWith(
        approvals.claimForExecution(id, denied.arguments_digest),
        "approval_not_approved",
        `approval request ${id} is denied, not approved`,
      );
      expect(audited[2]?.details).toMatchObject({
        action: "deny",
        reason: "no rollback plan in the ticket",
      });
    });

    it("refuses a denial from outside the groups, from the requester, or without a reason", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      await rejectsWith(approvals.deny(id, INTERN, "no"), "approver_not_eligible");
      await rejectsWith(approvals.deny(id, ENGINEER, "changed my mind"), "approver_is_requester");
      await rejectsWith(approvals.deny(id, BOB, "  "), "approval_invalid", /reason/);
      expect((await store.get(id))?.status).toBe("pending");
    });

    it("escalates once to the fallback group, then expires", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      clock.ms = T0 + 299_999;
      expect(await approvals.sweep()).toEqual({ escalated: [], expired: [] });

      clock.ms = T0 + 300_000;
      expect(await approvals.sweep()).toEqual({ escalated: [id], expired: [] });
      const escalated = await store.get(id);
      expect(escalated).toMatchObject({
        status: "escalated",
        escalated_at: "2026-03-02T10:05:00.000Z",
        expires_at: "2026-03-02T10:07:00.000Z",
        version: 2,
      });
      // Once: a second sweep at the same time changes nothing.
      expect(await approvals.sweep()).toEqual({ escalated: [], expired: [] });

      clock.ms = T0 + 420_000;
      expect(await approvals.sweep()).toEqual({ escalated: [], expired: [id] });
      const expired = await store.get(id);
      expect(expired).toMatchObject({
        status: "expired",
        decided_at: "2026-03-02T10:07:00.000Z",
        version: 3,
      });
      await rejectsWith(approvals.approve(id, ONCALL, true), "approval_not_open", /is expired/);
      expect(actions()).toEqual([
        "request:applied",
        "escalate:applied",
        "expire:applied",
        "approve:refused",
      ]);
      expect(audited[1]).not.toHaveProperty("user");
      expect(audited[1]).toMatchObject({
        details: {
          action: "escalate",
          actor: "system",
          fallback_groups: ["grp-ai-security-oncall"],
        },
      });
    });

    it("announces every escalation once: the sweep's, and one found due on the way to a decision", async () => {
      const approvals = service();
      const announced: string[] = [];
      const stop = approvals.onEscalated((request) => {
        announced.push(`${request.id}:${request.status}`);
      });
      const swept = await approvals.request(requestInput());
      const lazy = await approvals.request(requestInput({ session_id: "s-other" }));
      clock.ms = T0 + 300_000;
      // The approver comes before the sweep: the escalation is applied first, and announced.
      await rejectsWith(approvals.approve(lazy.id, INTERN, true), "approver_not_eligible");
      expect(await store.get(lazy.id)).toMatchObject({ status: "escalated" });
      expect(announced).toEqual([`${lazy.id}:escalated`]);
      expect(await approvals.sweep()).toEqual({ escalated: [swept.id], expired: [] });
      expect(announced).toEqual([`${lazy.id}:escalated`, `${swept.id}:escalated`]);
      // Expiry is no escalation; a removed listener hears nothing.
      stop();
      clock.ms = T0 + 420_000;
      await approvals.sweep();
      expect(announced).toHaveLength(2);
    });

    it("a post-hoc review escalates as any request, then stays open for its review window", async () => {
      const approvals = service(store, { reviewSeconds: 72 * 3600 });
      const { id } = await approvals.request(requestInput({ mode: "post_hoc" }));
      clock.ms = T0 + 300_000;
      expect(await approvals.sweep()).toEqual({ escalated: [id], expired: [] });
      // Open until three days after the call, not two minutes after the escalation.
      expect(await store.get(id)).toMatchObject({
        status: "escalated",
        expires_at: "2026-03-05T10:00:00.000Z",
      });
      clock.ms = T0 + 8 * 3600_000;
      expect(await approvals.sweep()).toEqual({ escalated: [], expired: [] });
      // A reviewer in the morning can still reject it (the compensation then runs).
      expect(await approvals.deny(id, ONCALL, "not at night", true)).toMatchObject({
        status: "denied",
      });
    });

    it("a post-hoc review expires when its window ends; with no fallback it never escalates", async () => {
      const approvals = service(store, { reviewSeconds: 72 * 3600 });
      const { id } = await approvals.request(requestInput({ mode: "post_hoc" }));
      const { id: lone } = await approvals.request(
        requestInput({ mode: "post_hoc", fallback_groups: [], session_id: "s-lone" }),
      );
      expect((await store.get(lone))?.expires_at).toBe("2026-03-05T10:00:00.000Z");
      expect(await approvals.sweep(T0 + 300_000)).toEqual({ escalated: [id], expired: [] });
      expect(await approvals.sweep(T0 + 72 * 3600_000 - 1)).toEqual({ escalated: [], expired: [] });
      expect(await approvals.sweep(T0 + 72 * 3600_000)).toEqual({
        escalated: [],
        expired: [id, lone],
      });
    });

    it("sweeps with the time it is given", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      expect(await approvals.sweep(T0 + 300_000)).toEqual({ escalated: [id], expired: [] });
      expect((await store.get(id))?.expires_at).toBe("2026-03-02T10:07:00.000Z");
    });

    it("expires at once, without escalating, when there is no fallback group", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput({ fallback_groups: [] }));
      expect(await approvals.sweep(T0 + 300_000)).toEqual({ escalated: [], expired: [id] });
    });

    it("lets a fallback approver approve once escalated, and not before", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      await rejectsWith(
        approvals.approve(id, ONCALL, true),
        "approver_not_eligible",
        `${ONCALL.subject} is in none of the approver groups (grp-ai-change-approvers)`,
      );
      clock.ms = T0 + 300_000;
      await approvals.sweep();
      clock.ms += 1_000;
      const approved = await approvals.approve(id, ONCALL, true);
      expect(approved).toMatchObject({
        status: "approved",
        approvals: [{ subject: ONCALL.subject, at: "2026-03-02T10:05:01.000Z" }],
      });
    });

    it("applies a due escalation before an approval, without waiting for the sweep", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      clock.ms = T0 + 300_000;
      const approved = await approvals.approve(id, ONCALL, true);
      expect(approved.status).toBe("approved");
      expect(approved.escalated_at).toBe("2026-03-02T10:05:00.000Z");
      expect(actions()).toEqual(["request:applied", "escalate:applied", "approve:applied"]);
      // And a due expiry before an approval: refused as the sweep would have left it.
      const other = await approvals.request(requestInput());
      clock.ms += 300_000;
      expect(await approvals.sweep()).toEqual({ escalated: [other.id], expired: [] });
      clock.ms += 120_000;
      await rejectsWith(approvals.approve(other.id, ALICE, true), "approval_not_open", /expired/);
      expect(actions().slice(-2)).toEqual(["expire:applied", "approve:refused"]);
    });

    it("refuses self-approval, even under another subject with the same e-mail", async () => {
      const approvals = service();
      const requester = { ...ENGINEER, groups: [...ENGINEER.groups, "grp-ai-change-approvers"] };
      const { id } = await approvals.request(requestInput({ requester }));
      await rejectsWith(
        approvals.approve(id, requester, true),
        "approver_is_requester",
        "the requester cannot approve or deny their own call",
      );
      await rejectsWith(
        approvals.approve(
          id,
          {
            subject: "u-engineer-alt",
            email: "Engineer@ZYXBank.example",
            groups: ["grp-ai-change-approvers"],
          },
          true,
        ),
        "approver_is_requester",
      );
      expect((await store.get(id))?.approvals).toEqual([]);
    });

    it("refuses an approver outside the approver groups, and audits the refusal", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      await rejectsWith(
        approvals.approve(id, INTERN, true),
        "approver_not_eligible",
        `${INTERN.subject} is in none of the approver groups (grp-ai-change-approvers)`,
      );
      expect(await store.get(id)).toMatchObject({ status: "pending", version: 1, approvals: [] });
      expect(audited[1]).toMatchObject({
        event: "approval",
        user: { subject: INTERN.subject },
        approval: { state: "pending" },
        outcome: { status: "refused", code: "approver_not_eligible" },
        details: { approval_id: id, action: "approve", result: "refused", actor: INTERN.subject },
      });
    });

    it("refuses an approver on a non-compliant device", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      await rejectsWith(
        approvals.approve(id, ALICE, false),
        "approver_device_not_compliant",
        `${ALICE.subject} is not on a compliant device`,
      );
      expect((await store.get(id))?.status).toBe("pending");
    });

    it("refuses an unknown request", async () => {
      const approvals = service();
      const unknown = "00000000-0000-4000-8000-0000000000aa";
      await rejectsWith(
        approvals.approve(unknown, ALICE, true),
        "approval_not_found",
        `no approval request ${unknown}`,
      );
      await rejectsWith(approvals.claimForExecution(unknown, "a".repeat(64)), "approval_not_found");
      await rejectsWith(approvals.waitFor(unknown, 10), "approval_not_found");
      expect(audited[0]).toMatchObject({
        event: "approval",
        user: { subject: ALICE.subject },
        outcome: { status: "refused", code: "approval_not_found" },
        details: { approval_id: unknown, action: "approve" },
      });
    });

    it("executes an approval once: a second claim is refused", async () => {
      const approvals = service();
      const input = requestInput();
      const { id } = await approvals.request(input);
      await approvals.approve(id, ALICE, true);
      const digest = argumentsDigest(input.arguments);
      const claimed = await approvals.claimForExecution(id, digest);
      expect(claimed.status).toBe("executing");
      await rejectsWith(
        approvals.claimForExecution(id, digest),
        "approval_already_executed",
        `approval request ${id} was already claimed for execution (executing)`,
      );
      clock.ms += 2_000;
      const executed = await approvals.markExecuted(id, {
        decision_id: "dec-2",
        http_status: 200,
        detail: "comment added",
      });
      expect(executed).toMatchObject({
        status: "executed",
        executed_at: "2026-03-02T10:00:02.000Z",
        result: {
          status: "executed",
          decision_id: "dec-2",
          http_status: 200,
          detail: "comment added",
        },
      });
      await rejectsWith(
        approvals.claimForExecution(id, digest),
        "approval_already_executed",
        /\(executed\)/,
      );
      await rejectsWith(
        approvals.markExecuted(id, {}),
        "approval_not_executing",
        `approval request ${id} is executed, not executing`,
      );
      expect(actions()).toEqual([
        "request:applied",
        "approve:applied",
        "claim:applied",
        "claim:refused",
        "mark_executed:applied",
        "claim:refused",
        "mark_executed:refused",
      ]);
    });

    it("post-hoc review: settled once with its compensation, denied, compensated once", async () => {
      const approvals = service();
      const input = requestInput({ mode: "post_hoc" });
      const { id } = await approvals.request(input);
      const compensation = {
        tool: "jira_delete_comment",
        arguments: { ticket: "CHG-18422", comment_id: "10001" },
      };
      const settled = await approvals.settlePostHoc(id, {
        status: "executed",
        decision_id: "dec-1",
        compensation,
      });
      expect(settled).toMatchObject({
        status: "pending",
        mode: "post_hoc",
        compensation,
        result: { status: "executed", decision_id: "dec-1", http_status: 200 },
      });
      await rejectsWith(
        approvals.settlePostHoc(id, { status: "executed", decision_id: "dec-1", compensation }),
        "approval_not_open",
      );
      // A review approves what already ran: never claimable for a second run.
      await rejectsWith(
        approvals.claimForExecution(id, argumentsDigest(input.arguments)),
        "approval_already_executed",
      );
      await rejectsWith(
        approvals.markCompensated(id, { status: "executed", http_status: 200 }),
        "approval_not_open",
      );
      await approvals.deny(id, ALICE, "not at night", true);
      clock.ms += 1_000;
      const compensated = await approvals.markCompensated(id, {
        status: "executed",
        decision_id: "dec-2",
        http_status: 200,
      });
      expect(compensated.compensation_result).toEqual({
        status: "executed",
        decision_id: "dec-2",
        http_status: 200,
        at: "2026-03-02T10:00:01.000Z",
      });
      await rejectsWith(
        approvals.markCompensated(id, { status: "executed", http_status: 200 }),
        "approval_not_open",
      );
      // What the store gives back is the whole record, over either adapter.
      expect(await approvals.get(id)).toEqual(compensated);
      expect(actions()).toEqual([
        "request:applied",
        "settle_post_hoc:applied",
        "settle_post_hoc:refused",
        "claim:refused",
        "mark_compensated:refused",
        "deny:applied",
        "mark_compensated:applied",
        "mark_compensated:refused",
      ]);
    });

    it("post-hoc review: a denial from an untrusted device is refused (it would run a compensating write)", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput({ mode: "post_hoc" }));
      await approvals.settlePostHoc(id, {
        status: "executed",
        decision_id: "dec-1",
        compensation: undefined,
      });
      await rejectsWith(approvals.deny(id, ALICE, "not at night"), "approver_device_not_compliant");
      expect(await approvals.get(id)).toMatchObject({ status: "pending" });
      // A request that waits is denied from any device: that denial only stops a call.
      const waiting = await approvals.request(requestInput());
      expect(await approvals.deny(waiting.id, ALICE, "no")).toMatchObject({ status: "denied" });
    });

    it("post-hoc compensation: due after the denial's grace, claimed by one runner, retried when it may pass", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput({ mode: "post_hoc" }));
      const compensation = {
        tool: "jira_delete_comment",
        arguments: { ticket: "CHG-18422", comment_id: "10001" },
      };
      await approvals.settlePostHoc(id, { status: "executed", decision_id: "dec-1", compensation });
      expect(await approvals.compensationsDue(clock.ms + 3_600_000)).toEqual([]);
      await approvals.deny(id, ALICE, "not at night", true);
      const deniedAt = clock.ms;
      // Never run: due 30 s after the denial (the deny route had its chance).
      expect(await approvals.compensationsDue(deniedAt + 29_999)).toEqual([]);
      expect((await approvals.compensationsDue(deniedAt + 30_000)).map((r) => r.id)).toEqual([id]);
      // One runner: the second claim finds the lease.
      const claimed = await approvals.claimCompensation(id, 120_000);
      expect(claimed.compensation_result).toMatchObject({
        status: "failed",
        code: "compensation_running",
        attempts: 1,
        retry_at: new Date(deniedAt + 120_000).toISOString(),
      });
      await rejectsWith(approvals.claimCompensation(id, 120_000), "approval_not_open");
      // The runner died: its lease ends, and the review is due again.
      expect((await approvals.compensationsDue(deniedAt + 120_000)).map((r) => r.id)).toEqual([id]);
      // It failed in a way that may pass: a retry is scheduled, then claimed again.
      await approvals.markCompensated(id, {
        status: "failed",
        code: "worker_unavailable",
        attempts: 1,
        retry_at: new Date(deniedAt + 30_000).toISOString(),
      });
      clock.ms = deniedAt + 30_000;
      const again = await approvals.claimCompensation(id, 120_000);
      expect(again.compensation_result?.attempts).toBe(2);
      const done = await approvals.markCompensated(id, {
        status: "executed",
        http_status: 200,
        attempts: 2,
      });
      expect(done.compensation_result).toMatchObject({ status: "executed", attempts: 2 });
      expect(await approvals.compensationsDue(Number.MAX_SAFE_INTEGER)).toEqual([]);
      await rejectsWith(approvals.claimCompensation(id, 120_000), "approval_not_open");
      await rejectsWith(
        approvals.markCompensated(id, { status: "executed", http_status: 200 }),
        "approval_not_open",
      );
    });

    it("post-hoc compensation: a late runner cannot overwrite a newer lease; spent tries end it", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput({ mode: "post_hoc" }));
      await approvals.settlePostHoc(id, {
        status: "executed",
        decision_id: "dec-1",
        compensation: {
          tool: "jira_delete_comment",
          arguments: { ticket: "CHG-18422", comment_id: "1" },
        },
      });
      await approvals.deny(id, ALICE, "no", true);
      const first = await approvals.claimCompensation(id, 60_000);
      expect(first.compensation_result?.attempts).toBe(1);
      // The first runner is slow: its lease runs out and a second runner claims the review.
      clock.ms += 60_000;
      const second = await approvals.claimCompensation(id, 60_000);
      expect(second.compensation_result?.attempts).toBe(2);
      await rejectsWith(
        approvals.markCompensated(id, { status: "executed", http_status: 200, attempts: 1 }),
        "approval_not_open",
      );
      expect((await approvals.get(id))?.compensation_result?.code).toBe("compensation_running");
      // Runners that die, again and again: after the fifth try the claim records the end.
      for (const expected of [3, 4, 5]) {
        clock.ms += 60_000;
        const claimed = await approvals.claimCompensation(id, 60_000);
        expect(claimed.compensation_result?.attempts).toBe(expected);
      }
      clock.ms += 60_000;
      const spent = await approvals.claimCompensation(id, 60_000);
      expect(spent.compensation_result).toMatchObject({
        status: "failed",
        code: "compensation_attempts_exhausted",
        attempts: 5,
      });
      expect(spent.compensation_result).not.toHaveProperty("retry_at");
      expect(await approvals.compensationsDue(Number.MAX_SAFE_INTEGER)).toEqual([]);
      await rejectsWith(approvals.claimCompensation(id, 60_000), "approval_not_open");
    });

    it("post-hoc review: a failed call ends the review; a plain request cannot be settled", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput({ mode: "post_hoc" }));
      const failed = await approvals.settlePostHoc(id, {
        status: "failed",
        decision_id: "dec-1",
        code: "worker_timeout",
        http_status: 504,
      });
      expect(failed).toMatchObject({
        status: "failed",
        result: { status: "failed", code: "worker_timeout" },
      });
      await rejectsWith(approvals.deny(id, ALICE, "too late"), "approval_not_open");
      const plain = await approvals.request(requestInput({ session_id: "s-other" }));
      await rejectsWith(
        approvals.settlePostHoc(plain.id, {
          status: "executed",
          decision_id: "dec-3",
          compensation: undefined,
        }),
        "approval_not_open",
      );
    });

    it("records a failed execution, and refuses to claim it again", async () => {
      const approvals = service();
      const input = requestInput();
      const { id } = await approvals.request(input);
      await approvals.approve(id, ALICE, true);
      await approvals.claimForExecution(id, argumentsDigest(input.arguments));
      const failed = await approvals.markFailed(id, { code: "policy_denied", http_status: 403 });
      expect(failed).toMatchObject({
        status: "failed",
        result: { status: "failed", code: "policy_denied", http_status: 403 },
      });
      await rejectsWith(
        approvals.claimForExecution(id, argumentsDigest(input.arguments)),
        "approval_already_executed",
      );
    });

    it("refuses to execute other arguments than the approved ones", async () => {
      const approvals = service();
      const input = requestInput();
      const { id } = await approvals.request(input);
      await approvals.approve(id, ALICE, true);
      const changed = { ...input.arguments, body: "LGTM, also open port 22 to 0.0.0.0/0" };
      await rejectsWith(
        approvals.claimForExecution(id, argumentsDigest(changed)),
        "approval_arguments_mismatch",
        `the arguments differ from the ones approved in request ${id}`,
      );
      expect((await store.get(id))?.status).toBe("approved");
      // The same arguments in another key order are the same call.
      const reordered = Object.fromEntries(Object.entries(input.arguments).reverse());
      expect((await approvals.claimForExecution(id, argumentsDigest(reordered))).status).toBe(
        "executing",
      );
    });

    it("refuses to claim a request that is not approved yet", async () => {
      const approvals = service();
      const input = requestInput();
      const { id } = await approvals.request(input);
      await rejectsWith(
        approvals.claimForExecution(id, argumentsDigest(input.arguments)),
        "approval_not_approved",
        `approval request ${id} is pending, not approved`,
      );
    });

    it("changes nothing when the audit record cannot be written", async () => {
      const approvals = service();
      const input = requestInput();
      const { id } = await approvals.request(input);
      auditFails = true;
      await rejectsWith(
        approvals.approve(id, ALICE, true),
        "audit_unavailable",
        "the approval audit record could not be written, nothing changed: disk full",
      );
      await rejectsWith(approvals.deny(id, ALICE, "no"), "audit_unavailable");
      await rejectsWith(approvals.sweep(T0 + 300_000), "audit_unavailable");
      expect(await store.get(id)).toMatchObject({ status: "pending", version: 1, approvals: [] });
      // Nor is a request stored that the log does not show.
      await rejectsWith(approvals.request(requestInput()), "audit_unavailable");
      expect(await store.listDue(T0 + 10_000_000)).toHaveLength(1);

      auditFails = false;
      await approvals.approve(id, ALICE, true);
      auditFails = true;
      await rejectsWith(
        approvals.claimForExecution(id, argumentsDigest(input.arguments)),
        "audit_unavailable",
      );
      expect((await store.get(id))?.status).toBe("approved");
    });

    it("lets only one of two approvers racing in two processes complete a one-approver request", async () => {
      // Two services over two connections: no shared in-process queue, only the store's CAS.
      // The audit callback holds both approvals until both have read the same version.
      const latch = barrier(2);
      const audit = async (record: AuditRecordInput) => {
        if (record.details?.["action"] === "approve" && record.details["result"] === "applied") {
          await latch();
        }
        audited.push(record);
      };
      const one = service(store, { audit });
      const two = service(await open(location), { audit });
      const { id } = await one.request(requestInput());
      const results = await Promise.allSettled([
        one.approve(id, ALICE, true),
        two.approve(id, BOB, true),
      ]);
      const fulfilled = results.filter((r) => r.status === "fulfilled");
      const rejected = results.filter((r) => r.status === "rejected");
      expect(fulfilled).toHaveLength(1);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]?.reason).toBeInstanceOf(ApprovalError);
      expect((rejected[0]?.reason as ApprovalError).code).toBe("approval_not_open");
      const stored = await store.get(id);
      expect(stored?.status).toBe("approved");
      expect(stored?.approvals).toHaveLength(1);
      expect(stored?.version).toBe(2);
      // The loser's audited transition is followed by an "aborted" record with its transition id.
      const aborted = audited.filter((r) => r.details?.["result"] === "aborted");
      expect(aborted).toHaveLength(1);
      expect(aborted[0]?.outcome).toEqual({ status: "aborted", code: "approval_conflict" });
      const loser = aborted[0]?.details?.["transition_id"];
      expect(
        audited
          .filter((r) => r.details?.["transition_id"] === loser)
          .map((r) => r.details?.["result"]),
      ).toEqual(["applied", "aborted"]);
    });

    it("records both of two distinct approvers racing on a two-approver request", async () => {
      const latch = barrier(2);
      const audit = async (record: AuditRecordInput) => {
        if (record.details?.["action"] === "approve" && record.details["result"] === "applied") {
          await latch();
        }
        audited.push(record);
      };
      const one = service(store, { audit });
      const two = service(await open(location), { audit });
      const { id } = await one.request(requestInput({ risk_score: 8, approvers_required: 2 }));
      const [a, b] = await Promise.all([one.approve(id, ALICE, true), two.approve(id, BOB, true)]);
      const final = [a, b].find((r) => r.status === "approved");
      expect(final?.approvals.map((x) => x.subject).sort()).toEqual([ALICE.subject, BOB.subject]);
      expect(await store.get(id)).toEqual(final);
    });

    it("refuses the same approver racing twice on a two-approver request", async () => {
      const one = service(store);
      const two = service(await open(location));
      const { id } = await one.request(requestInput({ risk_score: 10, approvers_required: 2 }));
      const results = await Promise.allSettled([
        one.approve(id, ALICE, true),
        two.approve(id, ALICE, true),
      ]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const refused = results.find((r) => r.status === "rejected");
      expect((refused?.reason as ApprovalError).code).toBe("approver_already_approved");
      expect(await store.get(id)).toMatchObject({
        status: "pending",
        approvals: [{ subject: ALICE.subject }],
      });
    });

    it("lets exactly one of several executors claim an approved request", async () => {
      const input = requestInput();
      const one = service(store);
      const two = service(await open(location));
      const { id } = await one.request(input);
      await one.approve(id, ALICE, true);
      const digest = argumentsDigest(input.arguments);
      const results = await Promise.allSettled([
        one.claimForExecution(id, digest),
        two.claimForExecution(id, digest),
        one.claimForExecution(id, digest),
        two.claimForExecution(id, digest),
      ]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const result of results.filter((r) => r.status === "rejected")) {
        expect((result.reason as ApprovalError).code).toBe("approval_already_executed");
      }
    });

    it("survives closing the store and opening it again", async () => {
      const before = service(store);
      const { id } = await before.request(requestInput({ risk_score: 9, approvers_required: 2 }));
      await before.approve(id, ALICE, true);
      await store.close();

      const reopened = await open(location);
      const after = service(reopened);
      expect(await after.get(id)).toMatchObject({
        status: "pending",
        approvals: [{ subject: ALICE.subject }],
      });
      expect((await after.approve(id, BOB, true)).status).toBe("approved");
    });

    it("survives the process that wrote it: a request made in a child process", async () => {
      const child = spawn(process.execPath, [join(import.meta.dirname, "child-writer.ts")], {
        env: { ...process.env, APPROVAL_STORE: JSON.stringify(location.config) },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((done) => child.once("exit", done));
      expect(code, output).toBe(0);
      const { id } = JSON.parse(output) as { id: string };
      const approvals = service(store);
      expect(await approvals.get(id)).toMatchObject({
        status: "pending",
        approvals: [{ subject: ALICE.subject }],
        approvers_required: 2,
        version: 2,
      });
      expect((await approvals.approve(id, BOB, true)).status).toBe("approved");
    });

    it("wakes a waiter when the request is decided in the same process", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      const started = Date.now();
      const waiting = approvals.waitFor(id, 10_000);
      await approvals.approve(id, ALICE, true);
      const result = await waiting;
      expect(result.status).toBe("approved");
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it("wakes a waiter when another process decides the request (polling the store)", async () => {
      const waiter = service(store);
      const other = service(await open(location));
      const { id } = await waiter.request(requestInput());
      const waiting = waiter.waitFor(id, 10_000);
      await other.deny(id, BOB, "not today");
      const result = await waiting;
      expect(result.status).toBe("denied");
    });

    it("answers at once for a decided request, and with the open state after the timeout", async () => {
      const approvals = service(store, { maxWaitMs: 50 });
      const { id } = await approvals.request(requestInput());
      const started = Date.now();
      // Asked for 10 s, bounded by maxWaitMs.
      const pending = await approvals.waitFor(id, 10_000);
      expect(pending.status).toBe("pending");
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
      expect(Date.now() - started).toBeLessThan(5_000);
      await approvals.deny(id, ALICE, "no");
      expect((await approvals.waitFor(id, 10_000)).status).toBe("denied");
      await rejectsWith(approvals.waitFor(id, -1), "approval_invalid", /timeoutMs/);
    });

    it("releases waiters on close", async () => {
      const approvals = service();
      const { id } = await approvals.request(requestInput());
      const waiting = approvals.waitFor(id, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 30));
      const started = Date.now();
      approvals.close();
      expect((await waiting).status).toBe("pending");
      expect(Date.now() - started).toBeLessThan(1_000);
    });
  });
});

/** A promise that resolves for everyone once `count` callers are waiting on it. */
function barrier(count: number): () => Promise<void> {
  let waiting = 0;
  const { promise, resolve } = Promise.withResolvers<undefined>();
  return () => {
    waiting++;
    if (waiting >= count) resolve(undefined);
    return promise;
  };
}
