// A request whose arguments hold U+0000 (a Block Kit button URL may: the schema checks it as a
// URL, not as free text) is stored and listed alike by both stores. PostgreSQL's jsonb cannot
// hold "\u0000": a listing that cast every open record to jsonb failed on that one row, and with
// it every later call needing approval of the same user or, through the agent's listing, of
// every user of the same agent (503 approval_store_unavailable), for as long as it stayed open.
import { Pool } from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import type { ApprovalStoreConfig } from "../../src/approvals/store.ts";
import { createHarness } from "../support/harness.ts";

let postgres: PrivatePostgres | undefined;
afterAll(async () => {
  await postgres?.stop();
});

const backEnds: [string, () => Promise<ApprovalStoreConfig | undefined>][] = [
  ["SQLite", () => Promise.resolve(undefined)],
  [
    "PostgreSQL",
    async () => {
      postgres ??= await startPostgres();
      const pool = new Pool({ connectionString: postgres.connectionString });
      await pool.query("CREATE SCHEMA nul_arguments");
      await pool.end();
      return {
        kind: "postgres",
        connectionString: postgres.urlFor(postgres.database, { searchPath: "nul_arguments" }),
      };
    },
  ],
];

/** A message with one link button: the URL is the caller's. */
const message = (url: string) => ({
  channel: "devsecops-change-review",
  text: "CHG-18422 reviewed",
  blocks: [
    {
      type: "actions",
      elements: [{ type: "button", text: { type: "plain_text", text: "Open" }, url }],
    },
  ],
});

const COLLEAGUE = {
  user: "colleague@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-devops-readonly"],
  agent: "change-reviewer",
};

describe.each(backEnds)("a request with U+0000 in its arguments on %s", (_name, storeConfig) => {
  it("leaves the next requests of the same user and agent waiting for approval (202), not 503", async () => {
    const config = await storeConfig();
    const h = await createHarness(config === undefined ? {} : { approvalStore: config });
    // Tainted sessions: every write waits for approval.
    h.sessions.taint("s-nul");
    h.sessions.taint("s-colleague");
    const planted = await h.callAs("slack_post_message", message("https://a.example/x\u0000y"), {
      sessionId: "s-nul",
    });
    expect(planted.status).toBe(202);

    const same = await h.callAs("slack_post_message", message("https://a.example/ok"), {
      sessionId: "s-nul",
    });
    const other = await h.callAs("slack_post_message", message("https://a.example/ok"), {
      as: COLLEAGUE,
      sessionId: "s-colleague",
    });
    expect([
      { status: same.status, body: await same.json() },
      { status: other.status, body: await other.json() },
    ]).toMatchObject([
      { status: 202, body: { status: "pending" } },
      { status: 202, body: { status: "pending" } },
    ]);
  });
});
