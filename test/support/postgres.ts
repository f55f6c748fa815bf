// A private PostgreSQL for tests: a fresh cluster in a temporary folder, started as a local
// process on a free loopback port, gone after stop(). One per test file (beforeAll), never the
// machine's own cluster. The server binaries come from Debian's packages (scripts/postgres.sh
// installs them; `make setup` runs it).
//
// initdb and postgres refuse to run as root. Tests run as root here and in CI, so as root the
// binaries run as the `postgres` system user (setpriv, which execs: the child we hold IS the
// postmaster), with the temporary folder owned by that user. Not root: they run as we are.
// Either way the postmaster gets SIGQUIT if the test process dies without calling stop().
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "../../gateway/test/support/opa-server.ts";

export interface PrivatePostgres {
  /** postgresql://postgres@127.0.0.1:<port>/<database> (trust authentication, loopback only;
   *  with the `password` option, postgresql://postgres:<password>@… and SCRAM). */
  connectionString: string;
  database: string;
  port: number;
  /** The folder holding the cluster, removed by stop(). */
  directory: string;
  /** A connection string for another database of the same cluster. */
  urlFor(database: string, options?: { searchPath?: string }): string;
  /** What the server wrote to stderr so far (for failure messages). */
  log(): string;
  /** Stops the server (fast shutdown), keeping its folder: the database is "lost". */
  halt(): Promise<void>;
  /** Starts it again on the same folder and port after halt(). */
  resume(): Promise<void>;
  /** Stops the server (fast shutdown) and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Database created for the tests (default "zyx_test"). */
  database?: string;
  /** Give up when the server is not ready after this many ms (default 20000). */
  timeoutMs?: number;
  /** The superuser's password: every connection then authenticates with SCRAM, none is trusted. */
  password?: string;
}

const SERVER_BINARIES = ["initdb", "postgres"] as const;

/**
 * The folder holding initdb and postgres: $POSTGRES_BIN_DIR when set, else the newest
 * /usr/lib/postgresql/<major>/bin. Throws, saying how to install them, when there is none.
 */
export function locatePostgresBinaries(): string {
  const override = process.env["POSTGRES_BIN_DIR"];
  if (override !== undefined && override !== "") {
    const missing = SERVER_BINARIES.filter((name) => !existsSync(join(override, name)));
    if (missing.length > 0) {
      throw new Error(`POSTGRES_BIN_DIR=${override} has no ${missing.join(", ")}`);
    }
    return override;
  }
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+(\.\d+)?$/.test(name))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  for (const major of majors) {
    const bin = join(root, major, "bin");
    if (SERVER_BINARIES.every((name) => existsSync(join(bin, name)))) return bin;
  }
  throw new Error(
    "PostgreSQL server binaries not found (no /usr/lib/postgresql/<version>/bin/initdb): " +
      "run scripts/postgres.sh (make setup does), i.e. as root " +
      "`apt-get update && apt-get install -y postgresql`",
  );
}

interface RunAs {
  /** argv prefix that runs a binary as the cluster's owner. */
  prefix: string[];
  uid?: number;
  gid?: number;
}

function runAs(): RunAs {
  if (process.getuid?.() !== 0) {
    const setpriv = spawnSync("setpriv", ["--version"], { stdio: "ignore" }).status === 0;
    return { prefix: setpriv ? ["setpriv", "--pdeathsig=SIGQUIT", "--"] : [] };
  }
  const id = (flag: string): number => {
    const result = spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
    const value = Number.parseInt(result.stdout.trim(), 10);
    if (result.status !== 0 || !Number.isInteger(value)) {
      throw new Error(
        "running as root, and there is no `postgres` system user to run PostgreSQL as " +
          "(initdb refuses root); the Debian postgresql package creates it: run scripts/postgres.sh",
      );
    }
    return value;
  };
  const uid = id("-u");
  const gid = id("-g");
  return {
    prefix: [
      "setpriv",
      `--reuid=${String(uid)}`,
      `--regid=${String(gid)}`,
      "--init-groups",
      "--pdeathsig=SIGQUIT",
      "--",
    ],
    uid,
    gid,
  };
}

function command(as: RunAs, bin: string, args: string[]): [string, string[]] {
  const [head, ...rest] = [...as.prefix, bin, ...args];
  if (head === undefined) throw new Error("empty command");
  return [head, rest];
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PrivatePostgres> {
  const database = options.database ?? "zyx_test";
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) {
    throw new TypeError("database must be a plain lower-case SQL identifier");
  }
  const timeoutMs = options.timeoutMs ?? 20_000;
  const bin = locatePostgresBinaries();
  const as = runAs();

  const directory = mkdtempSync(join(tmpdir(), "zyx-pg-"));
  const data = join(directory, "data");
  const sockets = join(directory, "sockets");
  mkdirSync(sockets, { mode: 0o700 });
  if (as.uid !== undefined && as.gid !== undefined) {
    chownSync(directory, as.uid, as.gid);
    chownSync(sockets, as.uid, as.gid);
  }
  const cleanUp = (): void => {
    rmSync(directory, { recursive: true, force: true });
  };

  const auth = ["--auth", "trust"];
  if (options.password !== undefined) {
    const pwfile = join(directory, "pwfile");
    writeFileSync(pwfile, options.password, { mode: 0o600 });
    if (as.uid !== undefined && as.gid !== undefined) chownSync(pwfile, as.uid, as.gid);
    auth.splice(0, 2, "--auth", "scram-sha-256", "--pwfile", pwfile);
  }
  const [initdb, initdbArgs] = command(as, join(bin, "initdb"), [
    "--pgdata",
    data,
    "--username",
    "postgres",
    ...auth,
    "--encoding",
    "UTF8",
    "--locale",
    "C",
    "--no-sync",
    "--no-instructions",
  ]);
  const initialized = spawnSync(initdb, initdbArgs, { encoding: "utf8", cwd: directory });
  if (initialized.status !== 0) {
    cleanUp();
    throw new Error(
      `initdb failed (${initialized.error?.message ?? `exit ${String(initialized.status)}`}) ` +
        `as ${as.uid === undefined ? userInfo().username : "postgres"} in ${directory}:\n` +
        `${initialized.stderr}${initialized.stdout}`,
    );
  }

  // The port is free when we look; another process may take it before the server binds it.
  let lastFailure = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const started = await startServer(as, bin, data, sockets, port, timeoutMs, options.password);
    if (!started.ok) {
      lastFailure = started.log;
      if (/could not (bind|create listen socket)/i.test(started.log)) continue;
      break;
    }
    let { child, log } = started;
    const stop = once(async () => {
      process.off("exit", killOnExit);
      await stopServer(child);
      cleanUp();
    });
    const killOnExit = (): void => {
      child.kill("SIGQUIT");
    };
    const halt = () => stopServer(child);
    const resume = async (): Promise<void> => {
      const again = await startServer(as, bin, data, sockets, port, timeoutMs, options.password);
      if (!again.ok) throw new Error(`PostgreSQL did not start again:\n${again.log}`);
      ({ child, log } = again);
    };
    process.on("exit", killOnExit);
    const urlFor = (name: string, urlOptions: { searchPath?: string } = {}): string => {
      const url = new URL(`postgresql://postgres@127.0.0.1:${String(port)}/${name}`);
      if (options.password !== undefined) url.password = options.password;
      if (urlOptions.searchPath !== undefined) {
        url.searchParams.set("options", `-c search_path=${urlOptions.searchPath}`);
      }
      return url.toString();
    };
    try {
      const admin = new pg.Client({ connectionString: urlFor("postgres") });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${database}`);
      } finally {
        await admin.end();
      }
    } catch (error) {
      await stop();
      throw new Error(
        `PostgreSQL started but CREATE DATABASE ${database} failed: ${String(error)}`,
        { cause: error },
      );
    }
    return {
      connectionString: urlFor(database),
      database,
      port,
      directory,
      urlFor,
      log: () => log(),
      halt,
      resume,
      stop,
    };
  }
  cleanUp();
  throw new Error(`PostgreSQL did not start:\n${lastFailure}`);
}

type Started = { ok: true; child: ChildProcess; log: () => string } | { ok: false; log: string };

async function startServer(
  as: RunAs,
  bin: string,
  data: string,
  sockets: string,
  port: number,
  timeoutMs: number,
  password: string | undefined,
): Promise<Started> {
  const [executable, args] = command(as, join(bin, "postgres"), [
    "-D",
    data,
    "-p",
    String(port),
    "-k",
    sockets,
    "-c",
    "listen_addresses=127.0.0.1",
    // A throwaway cluster: durability off for speed (the stores' own durability is theirs).
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=60",
    "-c",
    "shared_buffers=16MB",
  ]);
  const child = spawn(executable, args, { stdio: ["ignore", "ignore", "pipe"], cwd: data });
  let log = "";
  child.stderr.on("data", (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  });
  const exited = new Promise<void>((done) => {
    child.once("exit", () => {
      done();
    });
    child.once("error", (error) => {
      log += `\n${error.message}`;
      done();
    });
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await exited;
      return { ok: false, log: `${executable} ${args.join(" ")}\n${log}` };
    }
    const client = new pg.Client({
      host: "127.0.0.1",
      port,
      user: "postgres",
      database: "postgres",
      ...(password === undefined ? {} : { password }),
      connectionTimeoutMillis: 1_000,
    });
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      return { ok: true, child, log: () => log };
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) {
      await stopServer(child);
      return { ok: false, log: `not ready after ${String(timeoutMs)} ms\n${log}` };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Fast shutdown (SIGINT); immediate (SIGQUIT) after 10 s, SIGKILL after 5 more. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => {
    child.once("exit", () => {
      done();
    });
  });
  const escalate = (signal: NodeJS.Signals, afterMs: number) =>
    setTimeout(() => child.kill(signal), afterMs);
  const timers = [escalate("SIGQUIT", 10_000), escalate("SIGKILL", 15_000)];
  child.kill("SIGINT");
  await exited;
  for (const timer of timers) clearTimeout(timer);
}

function once(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= run());
}
