// The PostgreSQL approval store when the network to the database is cut silently (no reset, no
// refusal: packets simply stop, as in a partition; test/support/pg-proxy.ts "partition"). The
// pool holds a connection opened before the cut; a query on it must fail closed within the
// store's client-side bound (approval_store_unavailable, answered 503 by the routes), never wait
// for an answer that will not come. Back to "pass", the same store answers again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresApprovalStore } from "../../src/approvals/postgres-store.ts";
import type { ApprovalStore } from "../../src/approvals/store.ts";
import { startPgProxy, type PgProxy } from "../../../test/support/pg-proxy.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";

let server: PrivatePostgres;
let proxy: PgProxy;
let store: ApprovalStore;

beforeAll(async () => {
  server = await startPostgres({ database: "partition" });
  proxy = await startPgProxy({ host: "127.0.0.1", port: server.port });
  store = await openPostgresApprovalStore({
    connectionString: `postgresql://postgres@127.0.0.1:${String(proxy.port)}/partition`,
    connectTimeoutMs: 500,
    queryTimeoutMs: 500,
  });
}, 60_000);

afterAll(async () => {
  await store.close().catch(() => undefined);
  await proxy.close();
  await server.stop();
});

/** What a promise came to, or "still waiting" after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((done) => {
    timer = setTimeout(() => {
      done("still waiting");
    }, ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ answered: value }),
        (error: unknown) => error,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe("the PostgreSQL approval store behind a silent network cut", () => {
  it("fails closed on a connection opened before the cut, then answers again once it heals", async () => {
    await store.ping(); // the pool now holds an idle connection
    proxy.mode = "partition";
    const read = await within(store.get("a-request-that-does-not-exist"), 8_000);
    const ping = await within(store.ping(), 8_000);
    proxy.mode = "pass";
    expect(read).toMatchObject({ code: "approval_store_unavailable" });
    expect(ping).toMatchObject({ code: "approval_store_unavailable" });
    await expect(store.get("a-request-that-does-not-exist")).resolves.toBeUndefined();
  }, 30_000);
});
