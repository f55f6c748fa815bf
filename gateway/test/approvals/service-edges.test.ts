// The approval service and the SQLite adapter at their edges: options checked at construction,
// invalid input, a store that keeps losing the compare-and-set or fails, and the SQLite settings.
// (The behaviour shared by both stores is in contract.test.ts.)
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { argumentsDigest } from "../../../common/canonical.ts";
import { openAuditLog } from "../../src/audit/log.ts";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";
import { ApprovalError } from "../../src/approvals/errors.ts";
import { openPostgresApprovalStore } from "../../src/approvals/postgres-store.ts";
import type { ApprovalServiceOptions } from "../../src/approvals/service.ts";
import { createApprovalService } from "../../src/approvals/service.ts";
import type { SqliteApprovalStore } from "../../src/approvals/sqlite-store.ts";
import { openSqliteApprovalStore } from "../../src/approvals/sqlite-store.ts";
import type { ApprovalStore } from "../../src/approvals/store.ts";
import { freePort } from "../support/opa-server.ts";
import { ALICE, INTERN, T0, deterministicIds, requestInput } from "./fixtures.ts";

let dir: string;
let store: SqliteApprovalStore;
let audited: AuditRecordInput[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "approvals-edges-"));
  store = await openSqliteApprovalStore({ path: join(dir, "state", "approvals.db") });
  audited = [];
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function options(overrides: Partial<ApprovalServiceOptions> = {}): ApprovalServiceOptions {
  return {
    store,
    now: () => T0,
    newId: deterministicIds(),
    expirySeconds: 300,
    escalationSeconds: 300,
    audit: (record) => {
      audited.push(record);
      return Promise.resolve();
    },
    ...overrides,
  };
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: ApprovalError["code"],
  message?: string | RegExp,
): Promise<void> {
  const error: unknown = await promise.then(
    () => new Error("expected a rejection"),
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ApprovalError);
  expect((error as ApprovalError).code).toBe(code);
  if (message !== undefined) expect((error as ApprovalError).message).toMatch(message);
}

describe("the SQLite adapter", () => {
  it("runs in WAL mode with synchronous=FULL, in a folder it creates private", () => {
    expect(store.kind).toBe("sqlite");
    expect(store.settings).toEqual({ journalMode: "wal", synchronous: 2 });
    expect(statSync(join(dir, "state")).mode & 0o777).toBe(0o700);
  });

  it("checks its options", async () => {
    await expect(openSqliteApprovalStore({ path: "" })).rejects.toThrow(
      "path must name the SQLite database file",
    );
    await expect(openSqliteApprovalStore({ path: ":memory:" })).rejects.toThrow(
      "path must name the SQLite database file",
    );
    await expect(
      openSqliteApprovalStore({ path: join(dir, "x.db"), busyTimeoutMs: -1 }),
    ).rejects.toThrow("busyTimeoutMs must be an integer from 0 to 60000");
  });

  it("refuses a file that is not an SQLite database", async () => {
    const garbage = join(dir, "garbage.db");
    writeFileSync(garbage, "this is not a database, just some text that is long enough".repeat(20));
    await rejectsWith(
      openSqliteApprovalStore({ path: garbage }),
      "approval_store_unavailable",
      `approval store: preparing ${garbage} failed: file is not a database`,
    );
  });

  it("says which file it cannot open", async () => {
    const blocked = join(dir, "state", "approvals.db", "nested.db");
    await rejectsWith(
      openSqliteApprovalStore({ path: blocked }),
      "approval_store_unavailable",
      `approval store: opening ${blocked} failed`,
    );
  });
});

describe("the PostgreSQL adapter", () => {
  it("checks its options", async () => {
    await expect(openPostgresApprovalStore({ connectionString: "" })).rejects.toThrow(
      "connectionString is required",
    );
    await expect(
      openPostgresApprovalStore({
        connectionString: "postgresql://x@127.0.0.1/x",
        maxConnections: 0,
      }),
    ).rejects.toThrow("maxConnections must be an integer from 1 to 1000");
  });

  it("fails to open, with the reason, when the server is not there", async () => {
    const port = await freePort();
    await rejectsWith(
      openPostgresApprovalStore({
        connectionString: `postgresql://postgres@127.0.0.1:${String(port)}/zyx`,
        connectTimeoutMs: 2_000,
      }),
      "approval_store_unavailable",
      /^approval store: opening the PostgreSQL store failed: .*ECONNREFUSED/,
    );
  });
});

describe("the approval service's options", () => {
  it.each([
    [{ expirySeconds: 0 }, "expirySeconds must be an integer from 1 to 604800"],
    [{ expirySeconds: 1.5 }, "expirySeconds must be an integer from 1 to 604800"],
    [{ escalationSeconds: -1 }, "escalationSeconds must be an integer from 1 to 604800"],
    [{ pollIntervalMs: 1 }, "pollIntervalMs must be an integer from 5 to 60000"],
    [{ maxWaitMs: 700_000 }, "maxWaitMs must be an integer from 0 to 600000"],
    [{ maxAttempts: 0 }, "maxAttempts must be an integer from 1 to 100"],
    [{ now: undefined as unknown as () => number }, "now must be a function (epoch ms)"],
    [
      { audit: undefined as unknown as ApprovalServiceOptions["audit"] },
      "audit must be a function",
    ],
    [{ store: {} as ApprovalStore }, "store must be an ApprovalStore"],
  ] as [Partial<ApprovalServiceOptions>, string][])("refuses %o", (overrides, message) => {
    expect(() => createApprovalService(options(overrides))).toThrow(new TypeError(message));
  });
});

describe("the approval service's input checks", () => {
  it("refuses a request that cannot be approved as given", async () => {
    const approvals = createApprovalService(options());
    await rejectsWith(
      approvals.request(requestInput({ approver_groups: [] })),
      "approval_invalid",
      /approver_groups/,
    );
    await rejectsWith(
      approvals.request(requestInput({ approvers_required: 3 as 1 })),
      "approval_invalid",
      /approvers_required/,
    );
    await rejectsWith(
      approvals.request(requestInput({ arguments: { port: Number.NaN } })),
      "approval_invalid",
      /^approval request: /,
    );
    await rejectsWith(
      approvals.request(requestInput({ requester: { subject: "", groups: [] } })),
      "approval_invalid",
      /subject/,
    );
    expect(audited).toEqual([]);
  });

  it("refuses malformed ids, digests, outcomes and timeouts before touching the store", async () => {
    const approvals = createApprovalService(options());
    const { id } = await approvals.request(requestInput());
    await rejectsWith(approvals.approve("", ALICE, true), "approval_invalid", /approval id/);
    await rejectsWith(approvals.claimForExecution(id, "abc"), "approval_invalid", /digest/);
    await rejectsWith(
      approvals.markExecuted(id, { http_status: 99 }),
      "approval_invalid",
      /http_status/,
    );
    await rejectsWith(approvals.waitFor(id, Number.NaN), "approval_invalid", /timeoutMs/);
    expect(audited).toHaveLength(1);
  });

  it("takes only subject, e-mail and groups from a verified principal", async () => {
    const approvals = createApprovalService(options());
    const { id } = await approvals.request(requestInput());
    const principal = { ...ALICE, agent: "approver-ui", tokenId: "jti-1", expiresAt: 1 };
    const approved = await approvals.approve(id, principal, true);
    expect(approved.approvals[0]).toEqual({
      subject: ALICE.subject,
      email: ALICE.email,
      groups: [...ALICE.groups],
      at: new Date(T0).toISOString(),
    });
  });
});

describe("the approval service with the real audit log", () => {
  it("writes records the log accepts, one per transition and refusal, in a chain that verifies", async () => {
    const path = join(dir, "audit", "audit.jsonl");
    const log = await openAuditLog({ path, fsync: false });
    const approvals = createApprovalService(options({ audit: (record) => log.append(record) }));
    const input = requestInput();
    const { id } = await approvals.request(input);
    await rejectsWith(approvals.approve(id, INTERN, true), "approver_not_eligible");
    await approvals.approve(id, ALICE, true);
    await approvals.claimForExecution(id, argumentsDigest(input.arguments));
    await approvals.markExecuted(id, { http_status: 200, detail: "comment added" });
    await log.close();
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(
      lines.map((line) => (JSON.parse(line) as { details: { action: string } }).details.action),
    ).toEqual(["request", "approve", "approve", "claim", "mark_executed"]);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, records: 5 });
  });
});

describe("the approval service over a misbehaving store", () => {
  it("gives up with approval_conflict when it keeps losing the compare-and-set", async () => {
    const losing: ApprovalStore = { ...store, compareAndSet: () => Promise.resolve(undefined) };
    const approvals = createApprovalService(options({ store: losing, maxAttempts: 3 }));
    const { id } = await approvals.request(requestInput());
    await rejectsWith(
      approvals.approve(id, ALICE, true),
      "approval_conflict",
      `approval request ${id} kept changing; gave up after 3 attempts`,
    );
    expect(audited.map((r) => r.details?.["result"])).toEqual([
      "applied",
      ...Array.from({ length: 3 }, () => ["applied", "aborted"]).flat(),
    ]);
    expect((await store.get(id))?.status).toBe("pending");
  });

  it("audits the transition it could not write, and passes the store's error on", async () => {
    const failing: ApprovalStore = {
      ...store,
      compareAndSet: () =>
        Promise.reject(new ApprovalError("approval_store_unavailable", "approval store: down")),
      create: () => Promise.reject(new Error("disk on fire")),
    };
    const approvals = createApprovalService(options());
    const { id } = await approvals.request(requestInput());
    const broken = createApprovalService(options({ store: failing }));
    await rejectsWith(
      broken.approve(id, ALICE, true),
      "approval_store_unavailable",
      "approval store: down",
    );
    const [applied, aborted] = audited.slice(1);
    expect(applied?.details).toMatchObject({ action: "approve", result: "applied" });
    expect(aborted).toMatchObject({
      outcome: { status: "aborted", code: "approval_store_unavailable" },
      details: {
        action: "approve",
        result: "aborted",
        transition_id: applied?.details?.["transition_id"],
        message: "approval store: down",
      },
    });
    await expect(broken.request(requestInput())).rejects.toThrow("disk on fire");
    expect(audited.at(-1)).toMatchObject({
      outcome: { status: "aborted", code: "approval_store_unavailable" },
      details: { action: "request", result: "aborted", message: "disk on fire" },
    });
  });

  it("stores the canonical digest of the arguments, whatever their key order", async () => {
    const approvals = createApprovalService(options());
    const input = requestInput({ arguments: { b: 2, a: [1, { d: 4, c: 3 }] } });
    const request = await approvals.request(input);
    expect(request.arguments_digest).toBe(argumentsDigest({ a: [1, { c: 3, d: 4 }], b: 2 }));
  });
});
