// The confidential clients of the local development identity provider: one per catalog agent,
// client_id = the agent's id. The agent runtime authenticates with its client credentials (HTTP
// Basic) when it exchanges the engineer's token for a delegated one (RFC 8693).
//
//   <stateDir>/idp-clients.json      0600, the registry: each client's id, agent and a salted
//                                    scrypt hash of its secret, never the secret itself
//   <stateDir>/clients/<agent>.secret 0600, the plaintext secret, written once when the client is
//                                    registered, for the local agent runtime to read
//
// Development only. One writer at a time (the identity provider process). To rotate every
// secret, stop the identity provider and delete idp-clients.json and clients/.
import { randomBytes, randomUUID, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

export const CLIENTS_FILE = "idp-clients.json";
export const CLIENT_SECRETS_DIR = "clients";

/** scrypt cost parameters of new hashes: N = 2^14, r = 8, p = 1 (16 MiB, tens of ms). */
export const DEFAULT_SCRYPT_PARAMS = { N: 16_384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const SECRET_BYTES = 32;
/** Client secrets longer than this are refused without hashing them. */
export const MAX_CLIENT_SECRET_LENGTH = 512;

/** Agent ids become file names: letters, digits, dot, underscore, hyphen; no leading dot. */
const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A stable code on every error of this module. */
export type DevClientsErrorCode = "idp_clients_invalid" | "idp_clients_agent_invalid";

export class DevClientsError extends Error {
  readonly code: DevClientsErrorCode;
  constructor(code: DevClientsErrorCode, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "DevClientsError";
    this.code = code;
  }
}

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be base64url");

const SecretHash = z.strictObject({
  alg: z.literal("scrypt"),
  /** A power of two from 2^10 to 2^20. */
  N: z
    .number()
    .int()
    .min(1024)
    .max(1_048_576)
    .refine((n) => (n & (n - 1)) === 0, "must be a power of two"),
  r: z.number().int().min(1).max(32),
  p: z.number().int().min(1).max(16),
  salt: base64url.min(16),
  hash: base64url.min(32),
});

export type ClientSecretHash = z.infer<typeof SecretHash>;

const RegisteredClientSchema = z.strictObject({
  client_id: z.string().regex(AGENT_ID, "must be an agent id"),
  /** The agent this client acts as: "act.sub" of the tokens it obtains. Equal to client_id. */
  agent: z.string().regex(AGENT_ID, "must be an agent id"),
  secret: SecretHash,
});

export type RegisteredClient = z.infer<typeof RegisteredClientSchema>;

const ClientsFileSchema = z.strictObject({
  version: z.literal(1),
  clients: z.array(RegisteredClientSchema),
});

export type DevClientsFile = z.infer<typeof ClientsFileSchema>;

/**
 * Checks a list of registered clients: each well formed, ids unique, and each client acting as
 * the agent its id names. Throws DevClientsError (idp_clients_invalid) naming every problem.
 */
export function parseRegisteredClients(json: unknown): RegisteredClient[] {
  const parsed = z.array(RegisteredClientSchema).safeParse(json);
  if (!parsed.success) {
    throw new DevClientsError(
      "idp_clients_invalid",
      `clients are invalid: ${issues(parsed.error)}`,
    );
  }
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const client of parsed.data) {
    if (seen.has(client.client_id)) problems.push(`client ${client.client_id} is registered twice`);
    seen.add(client.client_id);
    if (client.agent !== client.client_id) {
      problems.push(
        `client ${client.client_id} names agent ${client.agent}: a client may only act as the agent its id names`,
      );
    }
  }
  if (problems.length > 0) {
    throw new DevClientsError("idp_clients_invalid", `clients are invalid: ${problems.join("; ")}`);
  }
  return parsed.data;
}

/** Validates the contents of idp-clients.json. */
export function parseDevClientsFile(json: unknown): DevClientsFile {
  const parsed = ClientsFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new DevClientsError(
      "idp_clients_invalid",
      `${CLIENTS_FILE} is invalid: ${issues(parsed.error)}`,
    );
  }
  return { version: 1, clients: parseRegisteredClients(parsed.data.clients) };
}

/** Reads and validates a clients file. */
export async function readDevClients(path: string): Promise<RegisteredClient[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new DevClientsError("idp_clients_invalid", `cannot read ${path} as JSON`, {
      cause: error,
    });
  }
  return parseDevClientsFile(json).clients;
}

export interface DevClientPaths {
  /** <stateDir>/idp-clients.json */
  file: string;
  /** <stateDir>/clients */
  secretsDir: string;
  /** <stateDir>/clients/<agent>.secret */
  secret(agent: string): string;
}

export function devClientPaths(stateDir: string): DevClientPaths {
  const secretsDir = join(stateDir, CLIENT_SECRETS_DIR);
  return {
    file: join(stateDir, CLIENTS_FILE),
    secretsDir,
    secret: (agent) => join(secretsDir, `${checkAgentId(agent)}.secret`),
  };
}

export interface EnsuredDevClients {
  paths: DevClientPaths;
  /** Every registered client (also those of agents no longer in the catalog). */
  clients: RegisteredClient[];
  /** The clients registered by this call (their secret files were written now). */
  registered: string[];
}

/**
 * Registers a client for every agent that has none yet: a random 256-bit secret, written once to
 * clients/<agent>.secret (0600), and its scrypt hash in idp-clients.json (0600). Existing
 * clients and secrets are kept as they are, including those of agents the catalog no longer
 * lists (the identity provider refuses them at exchange time). Idempotent.
 */
export async function ensureDevClients(
  stateDir: string,
  agents: readonly string[],
): Promise<EnsuredDevClients> {
  const list: unknown = agents;
  if (!Array.isArray(list)) throw new TypeError('"agents" must be an array of agent ids');
  const ids = new Set(list.map(checkAgentId));
  const paths = devClientPaths(stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await mkdir(paths.secretsDir, { recursive: true, mode: 0o700 });
  await chmod(paths.secretsDir, 0o700);

  const existing = await readIfPresent(paths.file);
  const clients = existing === undefined ? [] : parseDevClientsFile(existing).clients;
  const known = new Set(clients.map((client) => client.client_id));
  const registered: string[] = [];
  for (const agent of ids) {
    if (known.has(agent)) continue;
    const secret = randomBytes(SECRET_BYTES).toString("base64url");
    // The secret file first: a crash before the registry is written leaves an unregistered
    // secret, which the next run replaces.
    await writeAtomically(paths.secret(agent), `${secret}\n`, 0o600);
    clients.push({ client_id: agent, agent, secret: await hashClientSecret(secret) });
    registered.push(agent);
  }
  if (existing === undefined || registered.length > 0) {
    const file: DevClientsFile = { version: 1, clients };
    await writeAtomically(paths.file, `${JSON.stringify(file, null, 2)}\n`, 0o600);
  }
  await chmod(paths.file, 0o600);
  return { paths, clients, registered };
}

/** A salted scrypt hash of a client secret. */
export async function hashClientSecret(
  secret: string,
  params: { N: number; r: number; p: number } = DEFAULT_SCRYPT_PARAMS,
): Promise<ClientSecretHash> {
  if (typeof secret !== "string" || secret === "" || secret.length > MAX_CLIENT_SECRET_LENGTH) {
    throw new TypeError(`"secret" must be a string of 1 to ${MAX_CLIENT_SECRET_LENGTH} characters`);
  }
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(secret, salt, params);
  return SecretHash.parse({
    alg: "scrypt",
    ...params,
    salt: salt.toString("base64url"),
    hash: hash.toString("base64url"),
  });
}

/** Whether `secret` matches `stored`; the derived keys are compared in constant time. */
export async function verifyClientSecret(
  secret: string,
  stored: ClientSecretHash,
): Promise<boolean> {
  const expected = Buffer.from(stored.hash, "base64url");
  const actual = await derive(
    secret.slice(0, MAX_CLIENT_SECRET_LENGTH),
    Buffer.from(stored.salt, "base64url"),
    stored,
    expected.length,
  );
  return timingSafeEqual(actual, expected) && secret.length <= MAX_CLIENT_SECRET_LENGTH;
}

function derive(
  secret: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
  length: number = HASH_BYTES,
): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r + 1_048_576,
  };
  return new Promise((done, fail) => {
    scrypt(secret.normalize("NFC"), salt, length, options, (error, key) => {
      if (error === null) done(key);
      else fail(error);
    });
  });
}

function checkAgentId(agent: unknown): string {
  if (typeof agent !== "string" || !AGENT_ID.test(agent)) {
    throw new DevClientsError(
      "idp_clients_agent_invalid",
      `agent id ${JSON.stringify(agent)} cannot name a client (letters, digits, ".", "_", "-")`,
    );
  }
  return agent;
}

async function readIfPresent(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DevClientsError("idp_clients_invalid", `${path} is not JSON`, { cause: error });
  }
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, text, { mode, flag: "wx" });
  await chmod(temporary, mode);
  await rename(temporary, path);
}

function issues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
}
