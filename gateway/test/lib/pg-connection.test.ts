// DATABASE_PASSWORD_FILE: every PostgreSQL adapter authenticates with the password read from a
// file, on a private cluster that trusts no connection (SCRAM). Read at each new connection (a
// rotated secret needs no restart); a missing, wrong or empty file fails the connection without
// the password in any message; a URL with a password and a file is refused at construction.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import { openPostgresApprovalStore } from "../../src/approvals/postgres-store.ts";
import { openPostgresKillSwitchStore } from "../../src/killswitch/postgres-store.ts";
import { createBoundedPool } from "../../src/lib/pg-pool.ts";
import { pgConnection } from "../../src/lib/pg-connection.ts";
import { openPostgresSessionSignals } from "../../src/session-postgres.ts";

const PASSWORD = randomBytes(18).toString("base64url");
let postgres: PrivatePostgres;
/** The cluster's URL without its password. */
let url: string;
let file: string;

function writeSecret(name: string, content: string): string {
  const path = join(postgres.directory, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

async function whoAmI(passwordFile: string): Promise<string> {
  const pool = createBoundedPool({
    connectionString: url,
    passwordFile,
    max: 1,
    applicationName: "pg-connection-test",
  });
  try {
    const { rows } = await pool.query<{ user: string }>('SELECT current_user AS "user"');
    return rows[0]?.user ?? "";
  } finally {
    await pool.end();
  }
}

beforeAll(async () => {
  postgres = await startPostgres({ database: "password_file", password: PASSWORD });
  const withoutPassword = new URL(postgres.connectionString);
  withoutPassword.password = "";
  url = withoutPassword.toString();
  file = writeSecret("database.password", `${PASSWORD}\n`);
}, 60_000);

afterAll(async () => {
  await postgres.stop();
});

describe("pgConnection", () => {
  it("refuses a URL that carries a password when a password file is set too", () => {
    expect(() =>
      pgConnection({ connectionString: postgres.connectionString, passwordFile: file }),
    ).toThrow(
      new TypeError(
        "the database URL carries a password and a password file is set: set one, not both",
      ),
    );
  });

  it("refuses an empty connection string", () => {
    expect(() => pgConnection({ connectionString: "" })).toThrow(
      new TypeError("connectionString is required"),
    );
  });

  it("the cluster trusts nothing: without the file the connection is refused", async () => {
    const client = new pg.Client({ connectionString: url });
    client.on("error", () => undefined);
    await expect(client.connect()).rejects.toThrow();
    await client.end().catch(() => undefined);
  });

  it("connects with the file's password, its trailing newline not part of it", async () => {
    expect(await whoAmI(file)).toBe("postgres");
  });

  it("reads the file at each new connection: a rotated password works without reopening", async () => {
    const rotated = randomBytes(18).toString("base64url");
    const path = writeSecret("rotating.password", PASSWORD);
    const pool = createBoundedPool({
      connectionString: url,
      passwordFile: path,
      max: 1,
      applicationName: "pg-connection-test",
    });
    try {
      await pool.query(`ALTER ROLE postgres PASSWORD '${rotated}'`);
      writeFileSync(path, rotated);
      // A new connection (the pool's only one is released and ended) reads the new secret.
      const client = await pool.connect();
      client.release(true);
      const { rows } = await pool.query<{ one: number }>("SELECT 1 AS one");
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      // Back to the cluster's password for the other tests.
      await pool.query(`ALTER ROLE postgres PASSWORD '${PASSWORD}'`).finally(() => pool.end());
    }
  });

  it.each([
    [
      "a wrong password",
      () => writeSecret("wrong.password", "not-the-password-123"),
      /password authentication failed/,
    ],
    [
      "an empty file",
      () => writeSecret("empty.password", "\n"),
      /database password file \S+: empty$/,
    ],
    [
      "a missing file",
      () => join(postgres.directory, "absent.password"),
      /database password file \S+: ENOENT$/,
    ],
  ])("%s fails the connection, and no message holds a password", async (_name, path, message) => {
    const error = await whoAmI(path()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(message);
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(
      "not-the-password",
    );
    expect(String(error?.stack)).not.toContain(PASSWORD);
  });
});

describe("every PostgreSQL adapter opens with the password file", () => {
  it("approvals, kill switch and session signals", async () => {
    const approvals = await openPostgresApprovalStore({
      connectionString: url,
      passwordFile: file,
    });
    await approvals.ping();
    await approvals.close();
    const killSwitch = await openPostgresKillSwitchStore({
      connectionString: url,
      passwordFile: file,
    });
    expect(await killSwitch.load()).toBeUndefined();
    await killSwitch.ping();
    await killSwitch.close();
    const sessions = await openPostgresSessionSignals({
      connectionString: url,
      passwordFile: file,
      denialWindowMs: 60_000,
    });
    await sessions.close();
  });

  it("an adapter whose file holds a wrong password does not open (fail closed)", async () => {
    const wrong = writeSecret("adapter-wrong.password", "wrong-password-456");
    await expect(
      openPostgresApprovalStore({ connectionString: url, passwordFile: wrong }),
    ).rejects.toMatchObject({ code: "approval_store_unavailable" });
  });
});
