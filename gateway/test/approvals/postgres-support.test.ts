// The test set-up's PostgreSQL: scripts/postgres.sh finds (or installs) the server binaries, and
// test/support/postgres.ts starts a private cluster, or fails saying why.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { locatePostgresBinaries, startPostgres } from "../../../test/support/postgres.ts";
import { REPO_ROOT } from "../support/paths.ts";

const SCRIPT = join(REPO_ROOT, "scripts/postgres.sh");
const savedBinDir = process.env["POSTGRES_BIN_DIR"];

afterEach(() => {
  if (savedBinDir === undefined) delete process.env["POSTGRES_BIN_DIR"];
  else process.env["POSTGRES_BIN_DIR"] = savedBinDir;
});

describe("scripts/postgres.sh", () => {
  it("finds the server binaries", () => {
    const result = spawnSync("bash", [SCRIPT], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^postgres: server binaries in \/\S+ \(postgres \(PostgreSQL\) \d+/,
    );
  });

  it("fails, without installing anything, when POSTGRES_BIN_DIR names a folder without them", () => {
    const result = spawnSync("bash", [SCRIPT], {
      encoding: "utf8",
      env: { ...process.env, POSTGRES_BIN_DIR: "/nonexistent/bin" },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "postgres: POSTGRES_BIN_DIR=/nonexistent/bin has no initdb and postgres executables\n",
    );
  });
});

describe("startPostgres", () => {
  it("starts a private cluster on a loopback port, and removes it on stop", async () => {
    const server = await startPostgres({ database: "support_check" });
    try {
      expect(server.connectionString).toBe(
        `postgresql://postgres@127.0.0.1:${String(server.port)}/support_check`,
      );
      const client = new pg.Client({ connectionString: server.connectionString });
      await client.connect();
      const { rows } = await client.query<{ db: string; addr: string }>(
        "SELECT current_database() AS db, inet_server_addr()::text AS addr",
      );
      await client.end();
      expect(rows).toEqual([{ db: "support_check", addr: "127.0.0.1/32" }]);
      expect(existsSync(join(server.directory, "data", "PG_VERSION"))).toBe(true);
    } finally {
      await server.stop();
    }
    expect(existsSync(server.directory)).toBe(false);
    // Stopped: nothing listens any more.
    const client = new pg.Client({ connectionString: server.connectionString });
    await expect(client.connect()).rejects.toThrow(/ECONNREFUSED/);
  });

  it("fails with the reason when the server binaries are missing", async () => {
    process.env["POSTGRES_BIN_DIR"] = "/nonexistent/bin";
    expect(() => locatePostgresBinaries()).toThrow(
      "POSTGRES_BIN_DIR=/nonexistent/bin has no initdb, postgres",
    );
    await expect(startPostgres()).rejects.toThrow(
      "POSTGRES_BIN_DIR=/nonexistent/bin has no initdb, postgres",
    );
  });
});
