// Where every PostgreSQL adapter of the gateway connects: a connection string and, optionally, a
// file holding the password (DATABASE_PASSWORD_FILE: a mounted Docker or Kubernetes secret), so
// the password is in neither the environment nor the URL that configuration errors may print.
//
// Invariants:
// - One check for every adapter: the connection string is a non-empty string; a URL that carries
//   a password together with a password file is refused at construction (set one, not both).
// - The file is read when a connection opens, not once: a rotated secret is used by the next
//   connection without a restart. One trailing newline is not part of the password.
// - The password is never put in an error message, a log line or the returned config's
//   enumerable fields beyond what node-postgres itself hides.
//
// Failure modes: a file that is missing, unreadable or empty fails that connection with an
// error naming the file (never its content); the adapter's own error path then applies (the
// store is unavailable and the gateway refuses what needs it: fail closed).
import { readFile } from "node:fs/promises";
import type pg from "pg";
import { parseIntoClientConfig } from "pg-connection-string";

/** A PostgreSQL database and how to authenticate to it. */
export interface PgTarget {
  connectionString: string;
  /** A file holding the password; the URL then carries none. */
  passwordFile?: string | undefined;
}

/** The longest password read from a file (PostgreSQL itself allows about 1000 bytes). */
const MAX_PASSWORD_BYTES = 4_096;

/** The connection part of a node-postgres client config for `target`. */
export function pgConnection(target: PgTarget): pg.ClientConfig {
  const { connectionString, passwordFile } = target;
  if (typeof connectionString !== "string" || connectionString === "") {
    throw new TypeError("connectionString is required");
  }
  if (passwordFile === undefined) return { connectionString };
  if (typeof passwordFile !== "string" || passwordFile === "") {
    throw new TypeError("passwordFile must be a non-empty path");
  }
  const parsed = parseIntoClientConfig(connectionString);
  if (typeof parsed.password === "string" && parsed.password !== "") {
    throw new TypeError(
      "the database URL carries a password and a password file is set: set one, not both",
    );
  }
  return { ...parsed, password: () => readPassword(passwordFile) };
}

async function readPassword(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? "error";
    throw new Error(`database password file ${path}: ${code}`, { cause });
  }
  if (bytes.length > MAX_PASSWORD_BYTES) {
    throw new Error(`database password file ${path}: over ${String(MAX_PASSWORD_BYTES)} bytes`);
  }
  const password = bytes.toString("utf8").replace(/\r?\n$/, "");
  if (password === "") throw new Error(`database password file ${path}: empty`);
  return password;
}
