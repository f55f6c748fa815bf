// common/secrets.ts: the shared patterns. The audit mask's own tests (gateway/test/audit/
// mask.test.ts) cover what is masked; these cover the kinds reported, the cost on adversarial
// input, and that the linear rewrites match exactly what the original patterns matched.
import { describe, expect, it } from "vitest";
import {
  redactSecrets,
  SECRET_KINDS,
  SECRET_PATTERNS,
  secretMarker,
  type SecretKind,
} from "../../../common/secrets.ts";

describe("redactSecrets", () => {
  it("reports each kind once, in SECRET_KINDS order", () => {
    const result = redactSecrets(
      "AKIAIOSFODNN7EXAMPLE password=a password=b xoxb-2048163729-4096327458-AbCdEfGh",
    );
    expect(result).toEqual({
      text: "[REDACTED:aws_access_key_id] password=[REDACTED:password] password=[REDACTED:password] [REDACTED:slack_token]",
      redactions: 4,
      kinds: ["aws_access_key_id", "slack_token", "password"],
    });
    expect(redactSecrets("nothing here")).toEqual({
      text: "nothing here",
      redactions: 0,
      kinds: [],
    });
    for (const kind of result.kinds) expect(SECRET_KINDS).toContain(kind);
    expect(secretMarker("jwt")).toBe("[REDACTED:jwt]");
  });

  it.each([
    ["a Terraform variable", "password = var.db_password"],
    ["a resource attribute", "password = aws_secretsmanager_secret_version.db.secret_string"],
    ["an interpolation", 'password = "${var.db_password}"'],
    ["a GitHub Actions secret", "token: ${{ secrets.GITHUB_TOKEN }}"],
    ["a Jinja variable", "password: '{{ vault_db_password }}'"],
    ["an environment variable", "API_KEY=$API_KEY"],
    ["a command substitution", "TOKEN=$(npm run -s token -- access)"],
    ["process.env", "const apiKey = process.env.API_KEY;"],
    ["a call", 'password = os.getenv("DB_PASSWORD")'],
    ["a type annotation", "token: string;"],
    ["a Python type", "password: Optional[str] = None"],
    ["a comparison", "if (token === undefined) return;"],
    ["a dotted reference in code", "password = config.db.password"],
    ["a flag's variable", "docker login --username svc --password $REGISTRY_PASSWORD"],
    ["a keyword followed by code", "password = None,"],
    ["a typed parameter with a default", "def login(user, password:str=None): pass"],
  ])("keeps %s when asked to keep references", (_name, text) => {
    expect(redactSecrets(text, { keepReferences: true })).toEqual({
      text,
      redactions: 0,
      kinds: [],
    });
    expect(redactSecrets(text).redactions).toBeGreaterThan(0); // the audit mask's default
  });

  it.each([
    ["a quoted literal", 'password = "hunter2"', 'password = "[REDACTED:password]"'],
    ["a bare literal", "DB_PASSWORD=hunter2", "DB_PASSWORD=[REDACTED:password]"],
    ["a literal starting with $", "password=$ecret1", "password=[REDACTED:password]"],
    ["a literal with parentheses", "password=Welcome(2024)", "password=[REDACTED:password]"],
    ["a literal token", "api_key: sk_live_51Habc123", "api_key: [REDACTED:secret]"],
    // Shapes a review found passing through (a .env diff in a pull request carries them):
    [
      "a URL password after an empty user (Redis AUTH)",
      "redis://:hunter2xyz@cache:6379/0",
      "redis://:[REDACTED:url_password]@cache:6379/0",
    ],
    ["a DB_PASS assignment", "DB_PASS=hunter2xyz", "DB_PASS=[REDACTED:password]"],
    ["a MYSQL_PWD assignment", "MYSQL_PWD=hunter2xyz", "MYSQL_PWD=[REDACTED:password]"],
    [
      "a dotted literal in an env line",
      "DB_PASSWORD=correct.horse.battery",
      "DB_PASSWORD=[REDACTED:password]",
    ],
    ["a password after a glued colon", "password:hunter2", "password:[REDACTED:password]"],
    // Shapes a second review found passing through (Terraform, .env and YAML in a diff):
    [
      "a Terraform provider's secret_key",
      '+  secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
      '+  secret_key = "[REDACTED:secret]"',
    ],
    [
      "an AWS_SECRET_KEY line",
      "AWS_SECRET_KEY=wJalrXUtnFEMIK7MDENG",
      "AWS_SECRET_KEY=[REDACTED:secret]",
    ],
    [
      "a private_key literal",
      'private_key = "q8ZlR2v0Xy7nT4bP"',
      'private_key = "[REDACTED:secret]"',
    ],
    ["a signing key", "JWT_SIGNING_KEY=q8ZlR2v0Xy7nT4bP", "JWT_SIGNING_KEY=[REDACTED:secret]"],
    [
      "a YAML literal block under a password",
      "+  password: |\n+    Sup3rS3cret!Prod\n+  user: app",
      "+  password: |\n+    [REDACTED:password]\n+  user: app",
    ],
    [
      "a YAML folded block under a password, over two lines",
      "db_password: >-\n  Sup3rS3cret\n  !Prod\nhost: db",
      "db_password: >-\n  [REDACTED:password]\nhost: db",
    ],
    [
      "a YAML block under a token",
      "  api_token: |\n    tok_8d7f6a5e4c3b\n  name: x",
      "  api_token: |\n    [REDACTED:secret]\n  name: x",
    ],
    [
      "a passphrase of several words",
      "passphrase: correct horse battery staple",
      "passphrase: [REDACTED:password]",
    ],
    [
      "a password of several words, up to its comment",
      "password: my secret phrase # rotate monthly",
      "password: [REDACTED:password] # rotate monthly",
    ],
    // Shapes a third review found passing through (runbooks, CI scripts, .env lines):
    [
      "a password given as a command's flag",
      "docker login registry.zyxbank.example --username svc-deploy --password Vq7tLm2xRb9wKp4e",
      "docker login registry.zyxbank.example --username svc-deploy --password [REDACTED:password]",
    ],
    [
      "a quoted password after a longer flag",
      'mysqldump --db-password "Vq7 tLm2x" app',
      'mysqldump --db-password "[REDACTED:password]" app',
    ],
    [
      "an AWS secret given to aws configure",
      "aws configure set aws_secret_access_key Hq3vTz8LmR2pXw9kBn4cYd7sJf1gUa6eWo5iQr0t",
      "aws configure set aws_secret_access_key [REDACTED:aws_secret_access_key]",
    ],
    ["a password that begins with new", "DB_PASSWORD=New@2025x", "DB_PASSWORD=[REDACTED:password]"],
    [
      "a password that begins with true",
      "spring.datasource.password=True#Blue77",
      "spring.datasource.password=[REDACTED:password]",
    ],
    [
      "a password that begins with none",
      "ldap:\n  password: None-Shall-Pass-42\n",
      "ldap:\n  password: [REDACTED:password]\n",
    ],
  ])("still masks %s", (_name, text, expected) => {
    expect(redactSecrets(text, { keepReferences: true }).text).toBe(expected);
  });

  it.each([
    ["bypass", "bypass=true"],
    ["compass", "compass=north"],
    ["a shell's previous directory", "OLDPWD=/home/me"],
    ["a host and port", "https://host:8000/x"],
    ["a password read from stdin", "echo $PW | docker login --username svc --password-stdin"],
    ["a flag followed by another", "tool --password --verbose"],
  ])("leaves %s alone", (_name, text) => {
    expect(redactSecrets(text).text).toBe(text);
  });

  it.each([
    ["identifier runs", "-a"],
    ["underscores", "_a"],
    ["dots", "."],
    ["scheme look-alikes", "a+"],
    ["JWT look-alikes", "eyJ-"],
    ["GitHub look-alikes", "-ghp_"],
    ["secret key names", "aws_secret_access_key"],
    ["secret key names and spaces", "aws_secret_access_key  "],
    ["password flags", " --a-b-password-"],
  ])("1 MB of %s takes linear time", (_name, unit) => {
    const text = unit.repeat(Math.ceil(1_000_000 / unit.length));
    const started = performance.now();
    redactSecrets(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

// The patterns in their plain (quadratic on long runs of name characters) form, what the linear
// rewrites must find: the oracle for the differential test below.
const NOT_MASKED = String.raw`(?!\[REDACTED)`;
const VALUE = String.raw`("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]]+)`;
const ORIGINAL: Record<string, RegExp> = {
  jwt: /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  url_password: new RegExp(
    String.raw`(\b[a-z][a-z0-9+.-]*://[^\s:/@[\]]*:)${NOT_MASKED}[^\s@/]+(?=@)`,
    "gi",
  ),
  password: new RegExp(
    String.raw`((?<![A-Za-z0-9:/])[A-Za-z0-9_.-]*(?:password|passwd|passphrase|[_.-](?:pass|pwd))["']?\s*[:=]\s*)${NOT_MASKED}("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]]+)`,
    "gi",
  ),
  secret: new RegExp(
    String.raw`((?<![A-Za-z0-9:/])[A-Za-z0-9_.-]*(?:secret|api[_-]?key|token|(?:secret|private|signing|encryption)[_-]?key)["']?\s*[:=]\s*)${NOT_MASKED}${VALUE}`,
    "gi",
  ),
};

/**
 * What a pattern finds that redaction acts on: where each match ends and the value it masks.
 * (Where a match starts may differ: the part before the value is kept verbatim either way.)
 */
function found(pattern: RegExp, text: string, kind: string): string[] {
  return [...text.matchAll(pattern)].map((match) => {
    const end = match.index + match[0].length;
    const prefix = kind === "jwt" ? "" : (match[1] ?? "");
    return `${String(end)}:${match[0].slice(prefix.length)}`;
  });
}

describe("the linear patterns find what the original ones did", () => {
  const PIECES = [
    "eyJ",
    "eyJhbGci",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "=",
    ":",
    "/",
    "://",
    "-",
    "_",
    ".",
    "a",
    "Ab",
    "x9",
    " ",
    '"',
    "'",
    "@",
    "+",
    "aaaa",
    "DB_",
    "http",
    "eyJhbGciOi.",
    "abcd.",
    "s://u:",
    "s://:",
    "p@h",
    "_pass",
    "_pwd",
    "pass",
  ];

  it.each(Object.keys(ORIGINAL))("%s, on 20 000 random strings", (kind) => {
    const original = ORIGINAL[kind];
    const linear = SECRET_PATTERNS.get(kind as SecretKind);
    if (original === undefined || linear === undefined) throw new Error(kind);
    let seed = 20261121;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let matched = 0;
    for (let i = 0; i < 20_000; i++) {
      let text = "";
      for (let j = 0, n = 1 + next(14); j < n; j++) text += PIECES[next(PIECES.length)] ?? "";
      const expected = found(original, text, kind);
      expect(found(linear, text, kind), JSON.stringify(text)).toEqual(expected);
      if (expected.length > 0) matched++;
    }
    expect(matched).toBeGreaterThan(250);
  });
});
