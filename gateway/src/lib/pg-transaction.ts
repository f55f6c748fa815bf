// One transaction on a connection checked out of a node-postgres pool, for the shared stores
// (call limits, kill switch).
//
// Invariants: while checked out, the connection has an 'error' listener (pg-pool removes its own
// at checkout, and a socket error on a client without one is an uncaught exception that ends the
// whole gateway: a reset in the middle of a transaction must fail that call, not the process);
// the failing query rejects, and the error reaches the caller. A connection whose transaction
// failed is closed, never pooled again: after a query gave up waiting (client-side timeout) its
// session may still hold, or later get, locks inside the unfinished transaction (the ROLLBACK
// that would end it is never sent); closed, the server rolls it back.
import type pg from "pg";

export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  const ignore = (): void => undefined; // the pending query rejects with the same error
  client.on("error", ignore);
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    client.removeListener("error", ignore);
    client.release();
    return result;
  } catch (cause) {
    client.removeListener("error", ignore);
    client.release(cause instanceof Error ? cause : new Error(String(cause)));
    throw cause;
  }
}
