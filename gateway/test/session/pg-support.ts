// A private PostgreSQL for one session-signals test file: started before its tests, every
// replica a test opened closed after it (the next test's faults must not reach an earlier test's
// replica), every client and the server stopped at the end. Each test works in a fresh schema.
import pg from "pg";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { SharedSessionSignals } from "../../src/session-postgres.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";

export interface SessionsDatabase {
  /** A connected client (the database's own URL by default), ended after the file. */
  client: (url?: string) => Promise<pg.Client>;
  /** A new schema: its URL (search_path set) and its name. */
  freshSchema: () => Promise<{ url: string; schema: string }>;
  /** Closes `signals` after the running test. */
  track: (signals: SharedSessionSignals) => void;
}

/** Registers the file's hooks; `database` names the cluster's test database. */
export function sessionsDatabase(database: string): SessionsDatabase {
  let postgres: PrivatePostgres | undefined;
  let schemas = 0;
  const opened: SharedSessionSignals[] = [];
  const clients: pg.Client[] = [];
  const server = (): PrivatePostgres => {
    if (postgres === undefined) throw new Error("the private PostgreSQL is not started yet");
    return postgres;
  };
  beforeAll(async () => {
    postgres = await startPostgres({ database });
  }, 60_000);
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((signals) => signals.close()));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await postgres?.stop();
  });
  const client = async (url = server().connectionString): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: url });
    c.on("error", () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  };
  return {
    client,
    freshSchema: async () => {
      const schema = `${database}_${String(++schemas)}`;
      await (await client()).query(`CREATE SCHEMA ${schema}`);
      return { url: server().urlFor(server().database, { searchPath: schema }), schema };
    },
    track: (signals) => {
      opened.push(signals);
    },
  };
}

/** Resolves once `check` holds; throws after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
