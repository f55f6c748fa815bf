// A review found credentials in common shapes passing the output guard: a connection string's
// `Pwd=`, a .netrc entry, a lower-case `authorization: bearer` header, the password flags of
// mysql, sshpass and redis-cli, a JSON Web Key's private members, an Azure SAS signature in a
// URL and Python's `auth=("user", "password")`. Each is masked, the text around it kept; the
// code and prose that only resemble them are left alone, and each costs linear time.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const SECRET = "Vq7tLm2xRb9wKp4e";
const B64URL = "Xk3_pQ9-Lm2ZvT8wRb4nYc6dHf1gJs5a";

describe("credential shapes", () => {
  it.each([
    [
      "an ADO.NET connection string's Pwd",
      `Server=db1;Database=ledger;Uid=svc;Pwd=${SECRET};`,
      "Server=db1;Database=ledger;Uid=svc;Pwd=[REDACTED:password];",
    ],
    [
      "an ODBC connection string's braced PWD",
      `Driver={ODBC Driver 18};Server=db1;UID=svc;PWD={${SECRET};x}`,
      "Driver={ODBC Driver 18};Server=db1;UID=svc;PWD=[REDACTED:password]",
    ],
    [
      "a .netrc entry on one line",
      `machine api.example.com login bob password ${SECRET}`,
      "machine api.example.com login bob password [REDACTED:password]",
    ],
    [
      "a .netrc entry on several lines",
      `machine git.example.com\n  login bob\n  password ${SECRET}\n`,
      "machine git.example.com\n  login bob\n  password [REDACTED:password]\n",
    ],
    [
      "a lower-case bearer header",
      `authorization: bearer ${SECRET}`,
      "authorization: bearer [REDACTED:http_auth]",
    ],
    [
      "a lower-case basic header",
      `curl -H 'authorization: basic ${SECRET}' https://api.example`,
      "curl -H 'authorization: basic [REDACTED:http_auth]' https://api.example",
    ],
    [
      "mysql -p",
      `mysql -h db1 -u root -p${SECRET} ledger`,
      "mysql -h db1 -u root -p[REDACTED:password] ledger",
    ],
    [
      "mysqldump -p, quoted",
      `docker exec db mysqldump -uroot -p'${SECRET}' ledger > dump.sql`,
      "docker exec db mysqldump -uroot -p'[REDACTED:password]' ledger > dump.sql",
    ],
    [
      "sshpass -p",
      `sshpass -p ${SECRET} ssh ops@host uptime`,
      "sshpass -p [REDACTED:password] ssh ops@host uptime",
    ],
    [
      "redis-cli -a",
      `redis-cli -h cache -p 6379 -a ${SECRET} --no-auth-warning ping`,
      "redis-cli -h cache -p 6379 -a [REDACTED:password] --no-auth-warning ping",
    ],
    [
      "an RSA JWK's private members",
      `{"kty":"RSA","n":"${B64URL}","e":"AQAB","d":"${B64URL}","p":"${B64URL}","q":"${B64URL}","dp":"${B64URL}","dq":"${B64URL}","qi":"${B64URL}"}`,
      `{"kty":"RSA","n":"${B64URL}","e":"AQAB","d":"[REDACTED:private_key]","p":"[REDACTED:private_key]","q":"[REDACTED:private_key]","dp":"[REDACTED:private_key]","dq":"[REDACTED:private_key]","qi":"[REDACTED:private_key]"}`,
    ],
    [
      "an EC JWK with sorted members, pretty-printed",
      `{\n  "crv": "P-256",\n  "d": "${B64URL}",\n  "kty": "EC",\n  "x": "${B64URL}"\n}`,
      `{\n  "crv": "P-256",\n  "d": "[REDACTED:private_key]",\n  "kty": "EC",\n  "x": "${B64URL}"\n}`,
    ],
    [
      "a symmetric JWK in escaped JSON",
      `{"SecretString":"{\\"kty\\":\\"oct\\",\\"k\\":\\"${B64URL}\\"}"}`,
      `{"SecretString":"{\\"kty\\":\\"oct\\",\\"k\\":\\"[REDACTED:private_key]\\"}"}`,
    ],
    [
      "an Azure SAS signature",
      `https://acct.blob.core.windows.net/c/b.csv?sv=2022-11-02&sr=b&sp=r&se=2026-01-01&sig=${SECRET}%2B${SECRET}%3D`,
      "https://acct.blob.core.windows.net/c/b.csv?sv=2022-11-02&sr=b&sp=r&se=2026-01-01&sig=[REDACTED:secret]",
    ],
    [
      "requests' auth tuple",
      `requests.get(url, auth=("bob", "${SECRET}"))`,
      'requests.get(url, auth=("bob", "[REDACTED:password]"))',
    ],
    [
      "Elasticsearch's http_auth tuple with a variable user",
      `Elasticsearch(hosts, http_auth=(user, '${SECRET}'))`,
      "Elasticsearch(hosts, http_auth=(user, '[REDACTED:password]'))",
    ],
    [
      "HTTPBasicAuth",
      `session.auth = HTTPBasicAuth("bob", "${SECRET}")`,
      'session.auth = HTTPBasicAuth("bob", "[REDACTED:password]")',
    ],
  ])("masks %s", (_name, text, expected) => {
    const result = guardOutput({ body: text });
    expect(JSON.stringify(result.value)).not.toContain(SECRET);
    expect(result.value).toEqual({ body: expected });
    expect(result.redactions).toBeGreaterThan(0);
  });

  it.each([
    ["the shell's working directory", "PWD=/home/bob\nOLDPWD=/tmp"],
    ["a connection string's password from a variable", "cd /srv;pwd=$(pwd)"],
    ["prose about a machine", "The machine learning model needs no password reset today."],
    ["a public JWK", `{"kty":"RSA","kid":"k1","use":"sig","n":"${B64URL}","e":"AQAB"}`],
    ["a JSON object without kty", `{"d":"${B64URL}","p":"2"}`],
    ["a token type", '{"token_type": "bearer", "scope": "read"}'],
    ["mysql prompting for the password", "mysql -u root -p ledger"],
    ["mysql's port flag", "mysql -h db1 -P 3306 -u root ledger"],
    ["mysql's password from a variable", 'mysql -u root -p"$MYSQL_PWD" ledger'],
    ["a later command's -p", "mysql -e 'select 1' && mkdir -pv /tmp/x"],
    ["sshpass from a file", "sshpass -f ~/.pw ssh ops@host"],
    ["redis-cli without a password", "redis-cli -h cache ping && ls -a /tmp"],
    ["a short sig parameter", "https://example.com/x?sig=abc&lang=en"],
    ["an auth tuple from variables", "requests.get(url, auth=(user, password))"],
    ["an auth flag", "auth = (1 + 2)"],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });
});

describe("a JSON Web Key as structured data", () => {
  it("masks its private members, not its public ones", () => {
    const jwk = { kty: "EC", crv: "P-256", x: B64URL, y: B64URL, d: SECRET, kid: "k1" };
    const result = guardOutput({ keys: [jwk] });
    expect(JSON.stringify(result.value)).not.toContain(SECRET);
    expect(result.value).toEqual({
      keys: [{ ...jwk, d: "[REDACTED:secret_field]" }],
    });
    expect(result.redactions).toBe(1);
  });

  it("masks a symmetric key's k", () => {
    expect(guardOutput({ kty: "oct", k: SECRET }).value).toEqual({
      kty: "oct",
      k: "[REDACTED:secret_field]",
    });
  });

  it("leaves members named d or k in objects that are no key", () => {
    const value = { d: "2026-01-01", k: 3, p: "page", q: "search terms" };
    expect(guardOutput(value)).toMatchObject({ value, redactions: 0 });
  });
});

describe("credential shapes cost linear time", () => {
  it.each([
    ["connection-string separators", ";pwd=;"],
    ["unclosed ODBC braces", ";PWD={a"],
    ["netrc words", "machine h login "],
    ["mysql words", "mysql -x "],
    ["sshpass flags", "sshpass -v "],
    ["redis-cli words", "redis-cli -h "],
    ["unclosed JSON objects with kty", '{"kty":"RSA","d":"'],
    ["braces", "{"],
    ["sig parameters", "&sig="],
    ["auth tuples", "x_auth=(a, "],
  ])("1 MB of %s", (_name, unit) => {
    const text = unit.repeat(Math.ceil(1_000_000 / unit.length));
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
