// A review found secrets passing the output guard when the JSON that holds them is itself a
// string: `aws secretsmanager get-secret-value` prints SecretString as escaped JSON, and that
// output is what gets pasted into a Jira ticket or a Confluence runbook, or committed as a test
// fixture. The quotes around the name and the value are then \" and no assignment matched.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const PW = "Vq7tLm2xRb9wKp4e";
const AWS_SECRET = "Hq3vTz8LmR2pXw9kBn4cYd7sJf1gUa6eWo5iQr0t";

describe("secrets in escaped JSON (a JSON document inside a string)", () => {
  it.each([
    [
      "Secrets Manager's SecretString, pasted into a ticket",
      `{\n  "Name": "prod/core/db",\n  "SecretString": "{\\"username\\":\\"app\\",\\"password\\":\\"${PW}\\"}"\n}`,
      PW,
    ],
    ["an API key", `"body": "{\\"api_key\\": \\"${PW}\\"}"`, PW],
    ["a token", `"{\\"token\\":\\"${PW}\\"}"`, PW],
    ["an AWS secret key", `"{\\"aws_secret_access_key\\":\\"${AWS_SECRET}\\"}"`, AWS_SECRET],
  ])("masks %s", (_name, text, secret) => {
    const out = JSON.stringify(guardOutput({ description: text }).value);
    expect(out).not.toContain(secret);
  });

  it("keeps the escaped quotes around the marker and the rest readable", () => {
    const text = `"SecretString": "{\\"username\\":\\"app\\",\\"password\\":\\"${PW}\\"}"`;
    expect(guardOutput(text).value).toBe(
      `"SecretString": "{\\"username\\":\\"app\\",\\"password\\":\\"[REDACTED:password]\\"}"`,
    );
  });

  it("keeps an escaped reference and an empty value", () => {
    for (const text of [
      `"{\\"password\\":\\"\\"}"`,
      `"{\\"token\\": \\"\${{ secrets.TOKEN }}\\"}"`,
    ]) {
      expect(guardOutput(text).value).toBe(text);
    }
  });
});

describe("escaped values cost linear time", () => {
  it.each([
    ["unterminated escaped values", 'password=\\"a\\'],
    ["escaped names", 'a_token\\":\\"x '],
  ])("1 MB of %s", (_name, unit) => {
    const text = unit.repeat(Math.ceil(1_000_000 / unit.length));
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
