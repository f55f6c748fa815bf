import { describe, expect, it } from "vitest";
import {
  isSecretKey,
  maskSecrets,
  maskSecretsWithCount,
  redactString,
} from "../../src/audit/mask.ts";

// Real-looking samples (the documented AWS example keys, jwt.io's example token, fake tokens).
const AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE";
const AWS_SESSION_KEY_ID = "ASIAY34FZKBOKMUTVV7A";
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const GITHUB_PAT_CLASSIC = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const GITHUB_PAT_FINE = `github_pat_11ABCDEFG0${"a1B2c3D4e5".repeat(8)}`;
const SLACK_BOT = "xoxb-2048163729-4096327458-AbCdEfGhIjKlMnOpQrStUvWx";
const PEM = [
  "-----BEGIN RSA PRIVATE KEY-----",
  "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
  "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
  "-----END RSA PRIVATE KEY-----",
].join("\n");

describe("isSecretKey", () => {
  it.each([
    "password",
    "Password",
    "db_password",
    "passwd",
    "secret",
    "client_secret",
    "clientSecret",
    "token",
    "access_token",
    "session-token",
    "SESSION_TOKEN",
    "api_key",
    "apikey",
    "apiKey",
    "X-Api-Key",
    "Authorization",
    "proxy-authorization",
    "private_key",
    "privateKey",
    "access_key",
    "AWS_SECRET_ACCESS_KEY",
    "credential",
    "credentials",
    "cookie",
    "Set-Cookie",
    "DB_PASS",
    "MYSQL_PWD",
    "redisPass",
  ])("%s is secret", (key) => {
    expect(isSecretKey(key)).toBe(true);
  });

  it.each([
    "ticket",
    "max_tokens",
    "tokenizer",
    "password_policy",
    "token_type",
    "secret_arn",
    "secret_name",
    "token_expires_at",
    "aws_access_key_id",
    "author",
    "session_id",
    "description",
    "pass",
    "PWD",
    "OLDPWD",
    "bypass",
    "db_pass_policy",
  ])("%s is not secret", (key) => {
    expect(isSecretKey(key)).toBe(false);
  });
});

describe("maskSecrets: values under secret keys", () => {
  it("masks an env-style DB_PASS or MYSQL_PWD member, and keeps PWD", () => {
    expect(maskSecrets({ DB_PASS: "hunter2", MYSQL_PWD: "s3cr3tpw", PWD: "/srv" })).toEqual({
      DB_PASS: "[REDACTED]",
      MYSQL_PWD: "[REDACTED]",
      PWD: "/srv",
    });
  });

  it("replaces the whole value, whatever it is, at any depth", () => {
    const result = maskSecretsWithCount({
      ticket: "CHG-18422",
      password: "hunter2",
      nested: { headers: { Authorization: "Bearer abc", "X-Api-Key": 12345 } },
      list: [{ client_secret: { value: "s" } }],
      token: null,
      password_set: true,
    });
    expect(result.value).toEqual({
      ticket: "CHG-18422",
      password: "[REDACTED]",
      nested: { headers: { Authorization: "[REDACTED]", "X-Api-Key": "[REDACTED]" } },
      list: [{ client_secret: "[REDACTED]" }],
      token: null, // nothing to hide
      password_set: true,
    });
    expect(result.redactions).toBe(4);
  });
});

describe("maskSecrets: secrets inside strings", () => {
  it.each([
    ["AWS access key id", `key ${AWS_KEY_ID} in use`, "key [REDACTED:aws_access_key_id] in use"],
    ["AWS session key id", `id=${AWS_SESSION_KEY_ID}`, "id=[REDACTED:aws_access_key_id]"],
    [
      "aws_secret_access_key assignment",
      `aws_secret_access_key = ${AWS_SECRET}`,
      "aws_secret_access_key = [REDACTED:aws_secret_access_key]",
    ],
    [
      "AWS_SECRET_ACCESS_KEY env line",
      `export AWS_SECRET_ACCESS_KEY="${AWS_SECRET}"`,
      'export AWS_SECRET_ACCESS_KEY="[REDACTED:aws_secret_access_key]"',
    ],
    ["PEM private key", `key:\n${PEM}\nend`, "key:\n[REDACTED:private_key]\nend"],
    [
      "PEM private key cut off",
      "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
      "[REDACTED:private_key]",
    ],
    ["JWT", `token ${JWT} expired`, "token [REDACTED:jwt] expired"],
    ["bearer JWT", `Authorization: Bearer ${JWT}`, "Authorization: Bearer [REDACTED:jwt]"],
    ["opaque bearer token", "Bearer 2YotnFZFEjr1zCsicMWpAA", "Bearer [REDACTED:bearer]"],
    [
      "GitHub classic PAT",
      `git clone https://${GITHUB_PAT_CLASSIC}@github.com/x`,
      "git clone https://[REDACTED:github_token]@github.com/x",
    ],
    ["GitHub fine-grained PAT", `pat ${GITHUB_PAT_FINE}`, "pat [REDACTED:github_token]"],
    ["GitHub app token", `ghs_${"A1b2C3d4E5".repeat(4)}`, "[REDACTED:github_token]"],
    ["Slack bot token", `use ${SLACK_BOT} to post`, "use [REDACTED:slack_token] to post"],
    ["Slack user token", "xoxp-1234567890-0987654321-abcdefabcdef", "[REDACTED:slack_token]"],
    ["password=", "user=bob&password=hunter2&x=1", "user=bob&password=[REDACTED:password]&x=1"],
    [
      "JSON password",
      '{"user": "bob", "password": "hunter2"}',
      '{"user": "bob", "password": "[REDACTED:password]"}',
    ],
    ["env DB_PASSWORD", "DB_PASSWORD=s3cr3t!", "DB_PASSWORD=[REDACTED:password]"],
    ["client_secret:", "client_secret: abc123def", "client_secret: [REDACTED:secret]"],
    [
      "password in a URL",
      "postgres://app:pa55w0rd@db.internal:5432/core",
      "postgres://app:[REDACTED:url_password]@db.internal:5432/core",
    ],
  ])("%s", (_name, input, expected) => {
    const result = maskSecretsWithCount({ text: input });
    expect(result.value).toEqual({ text: expected });
    expect(result.redactions).toBeGreaterThan(0);
  });

  it.each([
    ["a Jira key", "CHG-18422"],
    ["a SHA-256 digest", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["a security group id", "sg-0123456789abcdef0"],
    ["a CIDR", "10.20.0.0/16 and 2001:db8::/32"],
    [
      "prose about passwords",
      "The password policy requires 14 characters; rotate the secret quarterly.",
    ],
    ["an AWS account and region", "account 111122223333 in ap-southeast-1"],
    ["a git commit", "merged 9fceb02d0ae598e95dc970b74767f19372d61af8 into main"],
    ["an ARN", "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:db-creds"],
    ["an LLM parameter", "max_tokens=4096"],
    ["a URL without credentials", "https://zyx.atlassian.net/browse/CHG-18422"],
  ])("leaves %s alone", (_name, input) => {
    expect(maskSecretsWithCount(input)).toEqual({ value: input, redactions: 0, truncations: 0 });
  });

  it("masks a PGP private key block in any string, as it does a PEM one", () => {
    // Issue 16 item 7: the audit mask and the output guard share one detector
    // (common/secrets.ts); a PGP block reached the audit log verbatim before it.
    const body = Buffer.from(`fake key material ${"x".repeat(48)}`).toString("base64");
    const pgp = `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${body}\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----`;
    const result = maskSecretsWithCount({
      context: { decision_trace: `The key is:\n${pgp}\nkeep it safe` },
      list: [pgp],
    });
    expect(result.value).toEqual({
      context: { decision_trace: "The key is:\n[REDACTED:private_key]\nkeep it safe" },
      list: ["[REDACTED:private_key]"],
    });
    expect(result.redactions).toBe(2);
    expect(JSON.stringify(result.value)).not.toContain(body);
  });

  it("redactString counts every secret", () => {
    expect(redactString(`${AWS_KEY_ID} ${JWT} ${SLACK_BOT}`)).toEqual({
      text: "[REDACTED:aws_access_key_id] [REDACTED:jwt] [REDACTED:slack_token]",
      redactions: 3,
    });
  });

  it("masks secrets in object keys too, and counts them", () => {
    const masked = maskSecretsWithCount({
      [GITHUB_PAT_CLASSIC]: "x",
      nested: { "postgres://admin:S3cretPassw0rd@db.internal/app": 1 },
      ticket: "CHG-18422",
    });
    expect(masked.value).toEqual({
      "[REDACTED:github_token]": "x",
      nested: { "postgres://admin:[REDACTED:url_password]@db.internal/app": 1 },
      ticket: "CHG-18422",
    });
    expect(masked.redactions).toBe(2);
    expect(JSON.stringify(masked.value)).not.toContain("S3cretPassw0rd");
  });

  it("is idempotent", () => {
    const once = maskSecrets({ a: `password=hunter2 ${JWT}`, b: "x".repeat(5000) });
    const twice = maskSecretsWithCount(once);
    expect(twice.value).toEqual(once);
    expect(twice.redactions).toBe(0);
    expect(twice.truncations).toBe(0);
  });
});

// The short-string memo (issue 18) must never turn a remembered string into a kept secret.
it("masks a short secret every time it is met, remembered or not, and counts it each time", () => {
  const key = { [AWS_KEY_ID]: AWS_KEY_ID, token: "x", note: `id ${AWS_SESSION_KEY_ID}` };
  for (let round = 0; round < 3; round++) {
    const masked = maskSecretsWithCount(key);
    expect(masked.value).toEqual({
      "[REDACTED:aws_access_key_id]": "[REDACTED:aws_access_key_id]",
      token: "[REDACTED]",
      note: "id [REDACTED:aws_access_key_id]",
    });
    expect(masked.redactions).toBe(4);
  }
});

it("keeps masking short strings correctly after the memo has started over", () => {
  // More distinct short strings than the memo holds, then the secrets again.
  for (let i = 0; i < 5000; i++) redactString(`CHG-${String(i)}`);
  expect(redactString("password=hunter2").redactions).toBe(1);
  expect(redactString(GITHUB_PAT_CLASSIC)).toEqual({
    text: "[REDACTED:github_token]",
    redactions: 1,
  });
  expect(redactString("CHG-4999")).toEqual({ text: "CHG-4999", redactions: 0 });
});

describe("maskSecrets: bounds", () => {
  it("truncates long strings with a marker, within the limit", () => {
    const result = maskSecretsWithCount("y".repeat(3000));
    expect(typeof result.value).toBe("string");
    const text = result.value as string;
    expect(text.length).toBeLessThanOrEqual(2048);
    expect(text).toMatch(/^y+…\[truncated \d+ chars\]$/);
    const kept = text.indexOf("…");
    expect(text).toBe(`${"y".repeat(kept)}…[truncated ${String(3000 - kept)} chars]`);
    expect(result.truncations).toBe(1);
    expect(maskSecrets("z".repeat(100), { maxStringLength: 64 })).toMatch(
      /^z+…\[truncated \d+ chars\]$/,
    );
  });

  it("masks before truncating, so a secret at the cut is not half-kept", () => {
    const text = `${"a".repeat(2030)} ${AWS_KEY_ID}`;
    expect(maskSecrets(text)).not.toMatch(/AKIA/);
  });

  it("bounds depth, keys and items", () => {
    interface Nested {
      next?: Nested;
      level: number;
    }
    let deep: Nested = { level: 0 };
    for (let level = 1; level < 20; level++) deep = { next: deep, level };
    const depthLimited = JSON.stringify(maskSecrets(deep, { maxDepth: 3 }));
    expect(depthLimited).toBe(
      '{"next":{"next":{"next":"[truncated: too deep]","level":17},"level":18},"level":19}',
    );

    const wide = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${String(i)}`, i]));
    const keysLimited = maskSecretsWithCount(wide, { maxKeys: 100 });
    expect(Object.keys(keysLimited.value as object)).toHaveLength(101);
    expect((keysLimited.value as Record<string, unknown>)["…"]).toBe("[truncated 50 keys]");

    const items = maskSecrets(
      Array.from({ length: 300 }, (_, i) => i),
      { maxItems: 10 },
    );
    expect(items).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, "…[truncated 290 items]"]);
  });

  it("returns JSON-safe values", () => {
    const circular: Record<string, unknown> = { name: "loop" };
    circular["self"] = circular;
    const value = maskSecrets({
      circular,
      nan: Number.NaN,
      infinity: Number.POSITIVE_INFINITY,
      big: 12345678901234567890n,
      date: new Date("2026-11-21T03:00:00Z"),
      undef: undefined,
      fn: () => 1,
      list: [undefined, 1],
      bytes: new Uint8Array(4),
      error: new Error("boom"),
      map: new Map([["a", 1]]),
      set: new Set(["x"]),
      lone: "\ud800",
    });
    expect(value).toEqual({
      circular: { name: "loop", self: "[circular]" },
      nan: null,
      infinity: null,
      big: "12345678901234567890",
      date: "2026-11-21T03:00:00.000Z",
      list: [null, 1],
      bytes: "[binary 4 bytes]",
      error: { name: "Error", message: "boom" },
      map: { a: 1 },
      set: ["x"],
      lone: "\ufffd",
    });
  });
});
