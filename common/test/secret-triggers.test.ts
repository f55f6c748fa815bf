// redactSecrets skips texts without any trigger literal: the triggers must be a superset of
// every detector, or a secret would pass unredacted. Checked on the known samples and on
// random texts built from the detectors' own fragments.
import { describe, expect, it } from "vitest";
import { SECRET_DETECTOR_PATTERNS, SECRET_TRIGGERS } from "../secrets.ts";

const FRAGMENTS = [
  "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
  "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.sig",
  "AKIAIOSFODNN7EXAMPLE",
  "ASIAIOSFODNN7EXAMPLE",
  "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
  "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
  "xoxb-1234567890-abcdefghij",
  "https://user:hunter2@db.example",
  "Bearer abcdefghijklmnop",
  "Basic dXNlcjpwYXNzd29yZA==",
  "DB_PASSWORD=hunter2",
  'passwd: "x1y2z3"',
  "client_secret=abc123",
  "api-key: k1",
  "access_token='t0k3n'",
  "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQ\n-----END PGP PRIVATE KEY BLOCK-----",
  "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB",
  "ABIAZZZZZZZZZZZZZZZZ",
  "A3T0ZZZZZZZZZZZZZZZZ",
  "xapp-1-ABC123DEF45-1234567890123-abcdef0123456789",
  "xoxo-123-456-789-abcdef01",
  "https://hooks.slack.com/services/TAAAAAAAA/BAAAAAAAA/aaaaaaaaaaaaaaaaaaaaaaaa",
  "AIzaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "abc8Q~aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "password == 'x1'",
  ":pwd => 'x'",
  "The password is 'y'",
  "pwd: S3cr3t-value",
  'NetworkCredential("u", "p")',
  'DirectoryEntry("a", "b", "c")',
  '<add key="DbPassword" value="v"/>',
  "<token>t</token>",
  "AccountKey=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa==",
  "curl -u me:pw1 x",
  "Authorization: Token abcdefgh12",
  '"auth": "dXNlcjpwYXNzd29yZA=="',
  "_auth=dXNlcjpwYXNzd29yZA==",
  "Server=s;Uid=u;Pwd=p1;",
  ";PWD={a;b}",
  "machine h login u password p",
  "default login u password p",
  "authorization: bearer abcdefgh12",
  "mysql -u r -pPw1",
  "sshpass -p pw ssh h",
  "redis-cli -a pw ping",
  '{"kty":"oct","k":"a1b2"}',
  "?sv=1&sig=abcdefghijklmnop1234",
  'auth=("u", "p")',
  'HTTPBasicAuth("u", "p")',
  "plain words",
  " = ",
  ": ",
  "_",
  "-",
  "\n",
  "x",
];

function pseudoRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

function matchesAnyDetector(text: string): boolean {
  return SECRET_DETECTOR_PATTERNS.some(([, pattern]) =>
    new RegExp(pattern.source, pattern.flags.replace("g", "")).test(text),
  );
}

describe("secret triggers", () => {
  it("are found in every fragment that a detector matches", () => {
    for (const fragment of FRAGMENTS) {
      if (matchesAnyDetector(fragment)) expect(SECRET_TRIGGERS.test(fragment), fragment).toBe(true);
    }
  });

  it("are found in every random text that a detector matches (5,000 texts)", () => {
    const random = pseudoRandom(42);
    let matched = 0;
    for (let i = 0; i < 5_000; i++) {
      const parts = Array.from({ length: 1 + Math.floor(random() * 4) }, () => {
        const fragment = FRAGMENTS[Math.floor(random() * FRAGMENTS.length)] ?? "";
        // Cut fragments at random points so partial triggers appear too.
        const from = Math.floor(random() * fragment.length);
        return random() < 0.5 ? fragment : fragment.slice(from);
      });
      const text = parts.join(random() < 0.5 ? " " : "");
      if (matchesAnyDetector(text)) {
        matched++;
        expect(SECRET_TRIGGERS.test(text), text).toBe(true);
      }
    }
    expect(matched).toBeGreaterThan(1_000);
  });
});
