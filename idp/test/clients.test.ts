// The identity provider's client registry: one client per catalog agent, its secret written once
// in plaintext for the local runtime (0600) and only a salted scrypt hash in idp-clients.json.
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CLIENTS_FILE,
  DEFAULT_SCRYPT_PARAMS,
  devClientPaths,
  ensureDevClients,
  hashClientSecret,
  parseRegisteredClients,
  readDevClients,
  verifyClientSecret,
} from "../src/clients.ts";

const tempDir = () => mkdtempSync(join(tmpdir(), "zyx-idp-clients-"));
const AGENTS = ["change-reviewer", "change-remediator"];
const mode = (path: string) => statSync(path).mode & 0o777;
const secretOf = (stateDir: string, agent: string) =>
  readFileSync(devClientPaths(stateDir).secret(agent), "utf8").trim();

describe("ensureDevClients", () => {
  it("registers one client per agent: plaintext secret 0600 for the runtime, only a hash in the registry", async () => {
    const stateDir = tempDir();
    const { paths, clients, registered } = await ensureDevClients(stateDir, AGENTS);
    expect(paths.file).toBe(join(stateDir, CLIENTS_FILE));
    expect(registered).toEqual(AGENTS);
    expect(clients.map((client) => [client.client_id, client.agent])).toEqual(
      AGENTS.map((agent) => [agent, agent]),
    );
    expect(mode(paths.file)).toBe(0o600);
    expect(mode(paths.secretsDir)).toBe(0o700);

    const registry = readFileSync(paths.file, "utf8");
    expect(await readDevClients(paths.file)).toEqual(clients);
    for (const client of clients) {
      const secretPath = paths.secret(client.agent);
      expect(secretPath).toBe(join(stateDir, "clients", `${client.agent}.secret`));
      expect(mode(secretPath)).toBe(0o600);
      const secret = secretOf(stateDir, client.agent);
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 random bits
      expect(registry).not.toContain(secret);
      expect(client.secret).toMatchObject({ alg: "scrypt", ...DEFAULT_SCRYPT_PARAMS });
      expect(await verifyClientSecret(secret, client.secret)).toBe(true);
      expect(await verifyClientSecret(`${secret}x`, client.secret)).toBe(false);
    }
    expect(secretOf(stateDir, "change-reviewer")).not.toBe(secretOf(stateDir, "change-remediator"));
  });

  it("is idempotent: secrets are written once, and the registry's mode is restored", async () => {
    const stateDir = tempDir();
    const first = await ensureDevClients(stateDir, AGENTS);
    const registry = readFileSync(first.paths.file, "utf8");
    const secrets = AGENTS.map((agent) => secretOf(stateDir, agent));
    chmodSync(first.paths.file, 0o644);

    const second = await ensureDevClients(stateDir, AGENTS);
    expect(second.registered).toEqual([]);
    expect(second.clients).toEqual(first.clients);
    expect(readFileSync(first.paths.file, "utf8")).toBe(registry);
    expect(AGENTS.map((agent) => secretOf(stateDir, agent))).toEqual(secrets);
    expect(mode(first.paths.file)).toBe(0o600);
  });

  it("registers a new agent alone and keeps the clients of agents no longer listed", async () => {
    const stateDir = tempDir();
    const first = await ensureDevClients(stateDir, ["change-reviewer", "retired-agent"]);
    const reviewerSecret = secretOf(stateDir, "change-reviewer");

    const second = await ensureDevClients(stateDir, AGENTS);
    expect(second.registered).toEqual(["change-remediator"]);
    expect(second.clients.map((client) => client.client_id)).toEqual([
      "change-reviewer",
      "retired-agent",
      "change-remediator",
    ]);
    expect(second.clients.slice(0, 2)).toEqual(first.clients);
    expect(secretOf(stateDir, "change-reviewer")).toBe(reviewerSecret);
    expect(mode(second.paths.file)).toBe(0o600);
  });

  it.each(["../escape", ".hidden", "a/b", ""])("refuses the agent id %j", async (agent) => {
    await expect(ensureDevClients(tempDir(), [agent])).rejects.toMatchObject({
      code: "idp_clients_agent_invalid",
      message: `agent id ${JSON.stringify(agent)} cannot name a client (letters, digits, ".", "_", "-")`,
    });
  });

  it("refuses a registry that is not JSON, or of another shape, instead of replacing it", async () => {
    const stateDir = tempDir();
    const file = join(stateDir, CLIENTS_FILE);
    writeFileSync(file, "{not json");
    await expect(ensureDevClients(stateDir, AGENTS)).rejects.toMatchObject({
      code: "idp_clients_invalid",
      message: `${file} is not JSON`,
    });
    writeFileSync(file, JSON.stringify({ version: 1, clients: [{ client_id: "x", agent: "x" }] }));
    await expect(ensureDevClients(stateDir, AGENTS)).rejects.toMatchObject({
      code: "idp_clients_invalid",
      message: `${CLIENTS_FILE} is invalid: clients.0.secret: Invalid input: expected object, received undefined`,
    });
    expect(readFileSync(file, "utf8")).toContain('"client_id":"x"');
  });
});

describe("client secrets and the registry's shape", () => {
  it("salts every hash", async () => {
    const [a, b] = await Promise.all([hashClientSecret("same"), hashClientSecret("same")]);
    expect(a.salt).not.toBe(b.salt);
    expect(a.hash).not.toBe(b.hash);
    expect(await verifyClientSecret("same", a)).toBe(true);
    expect(await verifyClientSecret("same", b)).toBe(true);
    expect(await verifyClientSecret("Same", a)).toBe(false);
  });

  it("refuses secrets over 512 characters, even when their prefix matches", async () => {
    const long = "s".repeat(512);
    const stored = await hashClientSecret(long);
    expect(await verifyClientSecret(long, stored)).toBe(true);
    expect(await verifyClientSecret(`${long}s`, stored)).toBe(false);
    await expect(hashClientSecret(`${long}s`)).rejects.toThrow(
      '"secret" must be a string of 1 to 512 characters',
    );
  });

  it("refuses duplicate clients and clients acting as another agent", async () => {
    const secret = await hashClientSecret("x");
    expect(() =>
      parseRegisteredClients([
        { client_id: "a", agent: "a", secret },
        { client_id: "a", agent: "a", secret },
        { client_id: "b", agent: "c", secret },
      ]),
    ).toThrow(
      "clients are invalid: client a is registered twice; client b names agent c: a client may only act as the agent its id names",
    );
  });

  it("refuses weak or absurd scrypt parameters", async () => {
    const secret = await hashClientSecret("x");
    expect(() =>
      parseRegisteredClients([{ client_id: "a", agent: "a", secret: { ...secret, N: 1000 } }]),
    ).toThrow("clients are invalid: 0.secret.N: Too small: expected number to be >=1024");
    expect(() =>
      parseRegisteredClients([{ client_id: "a", agent: "a", secret: { ...secret, N: 3072 } }]),
    ).toThrow("clients are invalid: 0.secret.N: must be a power of two");
  });
});
