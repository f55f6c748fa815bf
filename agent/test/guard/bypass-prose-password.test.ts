// A review found passwords stated in prose without quotes passing the output guard: a ticket
// comment says "the password is hunter2!x" or "pwd: S3cr3t-value", and only a quoted value
// ("the password is 'x'") or a `password: x` assignment was masked. A bare value is masked when
// it is shaped like a password (letters and digits with a symbol, letters and digits
// interleaved, or mixed case with digits); words, paths, versions and technical terms that
// follow "password is" in ordinary prose stay readable.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

describe("passwords stated in prose", () => {
  it.each([
    ["a password with a symbol", "Reset done, the password is hunter2!x for now.", "hunter2!x"],
    ["a pwd: in a ticket comment", "Creds for staging\npwd: S3cr3t-value\nthanks", "S3cr3t-value"],
    ["a past tense", "Old password was Tr0ub4dor&3 until the rotation", "Tr0ub4dor&3"],
    ["a colon after is", "The new password is: Winter2025! (change it)", "Winter2025!"],
    ["a password for an account", "the password for svc-ledger is Lk8#pq2Zx.", "Lk8#pq2Zx"],
    ["interleaved digits", "temp passwd is q9Zr7kLm", "q9Zr7kLm"],
    ["mixed case and digits", "The password is Summer2024 again", "Summer2024"],
  ])("masks %s", (_name, text, secret) => {
    const result = guardOutput({ comment: text });
    expect(JSON.stringify(result.value)).not.toContain(secret);
    expect(result.redactions).toBeGreaterThan(0);
  });

  it("keeps the sentence readable", () => {
    expect(guardOutput("Reset done, the password is hunter2!x for now.").value).toBe(
      "Reset done, the password is [REDACTED:password] for now.",
    );
  });

  it.each([
    ["a verdict", "the password is incorrect, please retry"],
    ["a requirement", "The password is at least 12 characters long."],
    ["a hashing algorithm", "the password is SHA-256 hashed before storage"],
    ["an encoding", "the password is base64-encoded in the config"],
    ["a test kind", "the password is e2e-tested by the login suite"],
    ["a numeronym", "the password is i18n-aware now"],
    ["a working directory", "pwd: /home/runner/work2/app"],
    ["a home-relative directory", "pwd: ~/src/ledger-v2"],
    ["a variable", "the password is $DB_PASSWORD_2 from the vault"],
    ["a version", "the password is v2.3.1-compatible"],
    ["a date", "the password was 2024-01-31 rotated"],
    ["a link", "the password is https://vault.zyxbank.example/ui/2"],
    ["a cross-reference", "the password is in JIRA-1234"],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });

  it.each([
    ["password-is phrases", "the password is a1!"],
    ["pwd colons", "pwd: "],
    ["long values", "password is " + "a1!".repeat(40) + " "],
  ])("1 MB of %s takes linear time", (_name, unit) => {
    const text = unit.repeat(Math.ceil(1_000_000 / unit.length));
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
