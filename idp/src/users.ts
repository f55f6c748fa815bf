// The people of the local development identity provider, for the approver console's sign-in
// (OpenID Connect, idp/src/oidc.ts), and the device each one uses (for the dev device-trust).
//
//   <stateDir>/idp-users.json          0600: each person's e-mail, groups, device and a salted
//                                      scrypt hash of their password, never the password itself
//   <stateDir>/users/<email>.password  0600: the password, written once, for tests and the demo
//
// Invariants: passwords are random (256 bits), generated on first use, never in the repository;
// a person's groups and device come from DEV_PEOPLE (the README's cast). Development only: the
// bank's own identity provider and device management replace all of it.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { hashClientSecret, type ClientSecretHash } from "./clients.ts";

export const USERS_FILE = "idp-users.json";
export const USER_PASSWORDS_DIR = "users";

export interface DevPerson {
  email: string;
  groups: readonly string[];
  /** The person's managed device as the dev device-trust service reports it. */
  device: { id: string; compliant: boolean };
}

/** The README's cast: approvers, requesters, the intern and an unmanaged laptop. */
export const DEV_PEOPLE: readonly DevPerson[] = [
  {
    email: "approver.one@zyxbank.example",
    groups: ["grp-ai-prod-approvers"],
    device: { id: "zyx-lt-0101", compliant: true },
  },
  {
    email: "approver.two@zyxbank.example",
    groups: ["grp-ai-prod-approvers"],
    device: { id: "zyx-lt-0102", compliant: true },
  },
  {
    // Reviews the post-hoc writes (Jira comments, Slack messages) outside business hours.
    email: "change.approver@zyxbank.example",
    groups: ["grp-ai-change-approvers"],
    device: { id: "zyx-lt-0103", compliant: true },
  },
  {
    email: "oncall@zyxbank.example",
    groups: ["grp-ai-security-oncall"],
    device: { id: "zyx-lt-0103", compliant: true },
  },
  {
    email: "unmanaged.approver@zyxbank.example",
    groups: ["grp-ai-prod-approvers"],
    device: { id: "byod-7734", compliant: false },
  },
  {
    email: "cloud@zyxbank.example",
    groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers"],
    device: { id: "zyx-lt-0201", compliant: true },
  },
  {
    email: "engineer@zyxbank.example",
    groups: ["grp-ai-users", "grp-ai-devops-readonly"],
    device: { id: "zyx-lt-0202", compliant: true },
  },
  {
    email: "intern@zyxbank.example",
    groups: ["grp-ai-users"],
    device: { id: "zyx-lt-0203", compliant: true },
  },
  {
    email: "secadmin@zyxbank.example",
    groups: ["grp-ai-security-admins"],
    device: { id: "zyx-lt-0301", compliant: true },
  },
];

const SecretHash = z.strictObject({
  alg: z.literal("scrypt"),
  N: z.number().int(),
  r: z.number().int(),
  p: z.number().int(),
  salt: z.string(),
  hash: z.string(),
});

const RegisteredPerson = z.strictObject({
  email: z.email(),
  groups: z.array(z.string().min(1)),
  device: z.strictObject({ id: z.string().min(1), compliant: z.boolean() }),
  password: SecretHash,
});

const UsersFile = z.strictObject({ version: z.literal(1), users: z.array(RegisteredPerson) });

export type RegisteredPerson = z.infer<typeof RegisteredPerson>;

/** <stateDir>/users/<email>.password */
export function passwordPath(stateDir: string, email: string): string {
  if (!/^[a-z0-9._-]+@[a-z0-9.-]+$/.test(email)) throw new TypeError(`not an e-mail: ${email}`);
  return join(stateDir, USER_PASSWORDS_DIR, `${email}.password`);
}

/** Reads a registry written by ensureDevUsers (throws when it is not one). */
export function parseUsersFile(json: unknown): RegisteredPerson[] {
  return UsersFile.parse(json).users;
}

/**
 * Registers every person of `people` who has no entry yet (a random password written to
 * users/<email>.password, its hash in idp-users.json); existing entries are kept. Idempotent.
 */
export async function ensureDevUsers(
  stateDir: string,
  people: readonly DevPerson[] = DEV_PEOPLE,
): Promise<RegisteredPerson[]> {
  const file = join(stateDir, USERS_FILE);
  await mkdir(join(stateDir, USER_PASSWORDS_DIR), { recursive: true, mode: 0o700 });
  let users: RegisteredPerson[] = [];
  try {
    users = parseUsersFile(JSON.parse(await readFile(file, "utf8")));
  } catch (error) {
    if (!(error instanceof Error && "code" in error && error.code === "ENOENT")) throw error;
  }
  const known = new Set(users.map((u) => u.email));
  let added = false;
  for (const person of people) {
    if (known.has(person.email)) continue;
    const password = randomBytes(32).toString("base64url");
    await writeFile(passwordPath(stateDir, person.email), `${password}\n`, { mode: 0o600 });
    const hash: ClientSecretHash = await hashClientSecret(password);
    users.push({
      ...person,
      groups: [...person.groups],
      device: { ...person.device },
      password: hash,
    });
    added = true;
  }
  if (added) {
    await writeFile(file, `${JSON.stringify({ version: 1, users }, null, 2)}\n`, { mode: 0o600 });
  }
  await chmod(file, 0o600);
  return users;
}
