// common/secret-rules/*: each provider format and each context rule on samples written here
// (fake secrets generated at run time from a fixed seed, so the repository holds none), the
// guard's precision rules (assignments that are plainly no secret), and linear cost on long
// adversarial strings, asserted on relative growth rather than absolute time.
import { describe, expect, it } from "vitest";
import { isPlainlyNotASecret, redactSecrets, SECRET_DETECTOR_PATTERNS } from "../secrets.ts";

let seed = 7;
function random(alphabet: string, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    out += alphabet.charAt(seed % alphabet.length);
  }
  return out;
}
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS = "0123456789";
const ALNUM = `${UPPER}abcdefghijklmnopqrstuvwxyz${DIGITS}`;
const BASE64 = `${ALNUM}+/`;

const fake = {
  awsRoleKeyId: `ABIA${random(UPPER + DIGITS, 16)}`,
  awsA3T: `A3TX${random(UPPER + DIGITS, 16)}`,
  slackApp: `xapp-1-${random(UPPER + DIGITS, 11)}-${random(DIGITS, 13)}-${random("abcdef0123456789", 64)}`,
  slackLegacy: `xoxo-${random(DIGITS, 6)}-${random(DIGITS, 6)}-${random(DIGITS, 6)}-${random("abcdef0123456789", 20)}`,
  slackWebhook: `https://hooks.slack.com/services/T${random(UPPER, 8)}/B${random(UPPER, 8)}/${random(ALNUM, 24)}`,
  stripe: ["sk", "live", random(ALNUM, 24)].join("_"), // not a literal: scanners would flag it
  gcp: `AIza${random(ALNUM, 35)}`,
  azureClient: `${random(ALNUM, 3)}8Q~${random(ALNUM, 31)}`,
  azureDevops: `${random(ALNUM, 76)}AZDO${random(ALNUM, 4)}`,
  atlassian: `ATATT3${random(ALNUM, 186)}`,
  azureAccountKey: `${random(BASE64, 86)}==`,
};

describe("provider token formats (gitleaks rules as data)", () => {
  it.each([
    ["an AWS key id with another documented prefix", fake.awsRoleKeyId, "aws_access_key_id"],
    ["an AWS key id with the A3T prefix", fake.awsA3T, "aws_access_key_id"],
    ["a Slack app token", fake.slackApp, "slack_token"],
    ["a Slack legacy token", fake.slackLegacy, "slack_token"],
    ["a Slack webhook", fake.slackWebhook, "slack_webhook"],
    ["a Stripe key", fake.stripe, "stripe_key"],
    ["a Google API key", fake.gcp, "gcp_api_key"],
    ["an Azure AD client secret", fake.azureClient, "azure_client_secret"],
    ["an Azure DevOps PAT", fake.azureDevops, "azure_devops_pat"],
    ["an Atlassian API token", fake.atlassian, "atlassian_token"],
  ])("masks %s", (_name, secret, kind) => {
    const result = redactSecrets(`config: use '${secret}' here`, { keepReferences: true });
    expect(result.text).toBe(`config: use '[REDACTED:${kind}]' here`);
    expect(result.kinds).toEqual([kind]);
  });

  it("leaves words that only look like a prefix", () => {
    for (const text of [
      "https://img.example/2018-250-xoxo-party-1.jpg",
      "The AIza prefix marks Google keys.",
      "ABIA is a four-letter word",
    ]) {
      expect(redactSecrets(text, { keepReferences: true }).redactions).toBe(0);
    }
  });
});

describe("context rules", () => {
  it.each([
    ["a comparison", 'if password == "open-sesame-42":', 'if password == "[REDACTED:password]":'],
    [
      "a negated comparison",
      "if (db_pass != 'n0t-so-s3cret')",
      "if (db_pass != '[REDACTED:password]')",
    ],
    ["a Ruby hash rocket", ":password => 'hunter2x'", ":password => '[REDACTED:password]'"],
    [
      "prose",
      "The default password is 'letmein42'.",
      "The default password is '[REDACTED:password]'.",
    ],
    [
      "a credential constructor",
      'new NetworkCredential("build@example.com", "pl4inText");',
      'new NetworkCredential("build@example.com", "[REDACTED:password]");',
    ],
    [
      "a directory entry",
      'new DirectoryEntry("LDAP://dc.example", "EXAMPLE\\\\svc", "Winter2024");',
      'new DirectoryEntry("LDAP://dc.example", "EXAMPLE\\\\svc", "[REDACTED:password]");',
    ],
    [
      ".NET configuration",
      '<add key="SmtpPassword" value="Tr0ub4dor"/>',
      '<add key="SmtpPassword" value="[REDACTED:password]"/>',
    ],
    ["an XML element", "<secret>s3cr3t-v4lue</secret>", "<secret>[REDACTED:secret]</secret>"],
    [
      "an Azure connection string",
      `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${fake.azureAccountKey};`,
      "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=[REDACTED:azure_storage_key];",
    ],
    [
      "an Azure key as a fallback literal",
      `const key = process.env.ACCOUNT_KEY ||\n  "${fake.azureAccountKey}";`,
      'const key = process.env.ACCOUNT_KEY ||\n  "[REDACTED:azure_storage_key]";',
    ],
    [
      "a dotted YAML password that reads as a literal",
      "database:\n  password: Prod.Db.Pass2024\n",
      "database:\n  password: [REDACTED:password]\n",
    ],
    [
      "curl -u",
      "curl -s --user 'deploy:Rx9-pass' https://api.example/x",
      "curl -s --user 'deploy:[REDACTED:http_auth]' https://api.example/x",
    ],
    [
      "an Authorization scheme other than Bearer",
      'curl -H "Authorization: Api-Token 0123abcd4567ef89" https://api.example',
      'curl -H "Authorization: Api-Token [REDACTED:http_auth]" https://api.example',
    ],
  ])("masks %s", (_name, text, expected) => {
    expect(redactSecrets(text, { keepReferences: true }).text).toBe(expected);
  });

  it("masks PGP and base64-encoded PEM private keys, not an encoded certificate", () => {
    const pgp = `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${random(BASE64, 64)}\n-----END PGP PRIVATE KEY BLOCK-----`;
    expect(redactSecrets(`key:\n${pgp}\nend`).text).toBe("key:\n[REDACTED:private_key]\nend");
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${random(BASE64, 64)}\n-----END RSA PRIVATE KEY-----\n`;
    const encoded = Buffer.from(pem).toString("base64");
    expect(redactSecrets(`PRIVATE_KEY_B64=${encoded}`).text).toBe(
      "PRIVATE_KEY_B64=[REDACTED:private_key]",
    );
    const cert = Buffer.from(`-----BEGIN CERTIFICATE-----\n${random(BASE64, 64)}\n`).toString(
      "base64",
    );
    expect(redactSecrets(`CA_B64=${cert}`).redactions).toBe(0);
  });

  it("masks an unsigned JWT (header and payload)", () => {
    const header = Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url");
    const payload = Buffer.from('{"sub":"someone","admin":true}').toString("base64url");
    expect(redactSecrets(`t=${header}.${payload}`).text).toBe("t=[REDACTED:jwt]");
  });

  it("keeps the docker user flag and other -u options", () => {
    for (const text of ["docker run -u 1000:1000 img", "git push -u origin main:main"]) {
      expect(redactSecrets(text, { keepReferences: true }).redactions).toBe(0);
    }
  });
});

describe("the guard keeps assignments that are plainly no secret", () => {
  it.each([
    ["a value on the next line", "snowflake.password=\njdbc.url=x"],
    ["a public token", 'publicToken = "pk_abcdefghijklmnop"'],
    ["a Maven coordinate", "io.jsonwebtoken:jjwt-api"],
    ["a one-digit setting", "SavePassword=0"],
    ["a CSS selector", 'this.resetPassword = "#reset-password";'],
    ["a URL path", '"/docs/creating-a-strong-password":"/docs/auth"'],
    ["a bracketed placeholder", "'oov_token': '[UNK]'"],
    ["a concatenation", "echo 'password = '.$cfg['db_password'];"],
    ["a quoted shell variable", 'export PGPASSWORD="$app_db_password"'],
    ["a nested quoted shell variable", `echo 'DB_PASSWORD="'$DEPLOY_PASSWORD'"'`],
    ["a quoted URL followed by an @", '"https://host:8000";@other'],
    ["an object literal's dotted reference", "{ password: dbSettings.primary.password }"],
  ])("%s", (_name, text) => {
    expect(redactSecrets(text, { keepReferences: true })).toEqual({
      text,
      redactions: 0,
      kinds: [],
    });
  });

  it("while the audit mask (the default) masks the assignments anyway", () => {
    expect(redactSecrets("SavePassword=0").redactions).toBe(1);
    expect(isPlainlyNotASecret("password = ", '"hunter2"')).toBe(false);
  });
});

describe("cost stays linear on long adversarial strings", () => {
  const UNITS = [
    "password == '",
    "key=",
    "AccountKey= ",
    "<secret>",
    "curl -u a:",
    "Authorization: Token ",
    "LS0tLS1CRUdJTi",
    "eyJa.eyJ",
    "xoxo-1-",
    "aaaa0Q~",
    "AIza-",
    "sk_live_",
    "The password for ",
    'new DirectoryEntry("a", ',
    '<add key="password',
    ";Password={a;}",
    "the password is a1!",
  ];

  /** Fastest of three runs: the least disturbed by other work on the machine. */
  function fastest(text: string): number {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = process.hrtime.bigint();
      redactSecrets(text, { keepReferences: true });
      best = Math.min(best, Number(process.hrtime.bigint() - started));
    }
    return best;
  }

  it.each(UNITS)("%j repeated: 10x the length costs far less than 100x the time", (unit) => {
    const small = unit.repeat(Math.ceil(20_000 / unit.length));
    const large = unit.repeat(Math.ceil(200_000 / unit.length));
    fastest(small); // warm-up
    const ratio = fastest(large) / Math.max(fastest(small), 1);
    // Linear: about 10; quadratic: about 100. The bound leaves room for noise.
    expect(ratio).toBeLessThan(40);
  });

  it("every detector pattern is global (replace acts on every match)", () => {
    for (const [kind, pattern] of SECRET_DETECTOR_PATTERNS) {
      expect(pattern.flags, kind).toContain("g");
    }
  });
});
