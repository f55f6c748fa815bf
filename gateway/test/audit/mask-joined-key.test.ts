// A secret under a key that names it as one joined word (PGPASSWORD, apitoken, webhooksecret)
// must not reach the audit log in clear. The string detector already masks the same name in
// text (`PGPASSWORD=...`, `{"apitoken": "..."}` inside a string); the key check did not, so
// the structured form of the very same secret (tool arguments, an env map) was written as is.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSecretKey } from "../../src/audit/mask.ts";
import { openAuditLog } from "../../src/audit/log.ts";

const SECRET = "Zq9vLx2Wp7Rt";
const JOINED = [
  "PGPASSWORD",
  "adminpassword",
  "NEWPASSWORD",
  "dbpasswd",
  "apitoken",
  "accesstoken",
  "githubtoken",
  "refreshtoken",
  "apisecret",
  "webhooksecret",
];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-mask-joined-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("secret keys written as one word", () => {
  it.each(JOINED)("%s is secret", (key) => {
    expect(isSecretKey(key)).toBe(true);
  });

  it.each(["max_tokens", "tokenizer", "tokens", "secretary", "password_policy", "apitoken_id"])(
    "%s stays readable",
    (key) => {
      expect(isSecretKey(key)).toBe(false);
    },
  );

  it("the audit log writes none of their values, as text or as members", async () => {
    const path = join(dir, "audit.jsonl");
    const log = await openAuditLog({ path, fsync: false });
    const env = Object.fromEntries(JOINED.map((key) => [key, SECRET]));
    await log.append({
      event: "decision",
      tool: "jira_read",
      arguments: { env, text: `PGPASSWORD=${SECRET}` },
    });
    await log.close();
    const text = await readFile(path, "utf8");
    expect(text).toContain("PGPASSWORD");
    expect(text).not.toContain(SECRET);
  });
});
