// A review found secrets given to a command line's flags passing the output guard: the flag rule
// knew --password, --passwd and --passphrase only, and runbooks and CI scripts pass the other
// credentials the same way (`az login --client-secret ...`, `vault login --token ...`,
// `datadog-ci --api-key ...`).
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const SECRET = "Vq7tLm2xRb9wKp4e";

describe("secrets given as a command's flag", () => {
  it.each([
    [
      "an Azure client secret",
      `az login --service-principal -u app-id --client-secret ${SECRET} --tenant t`,
    ],
    ["a Vault token", `vault login --token ${SECRET}`],
    ["an API key, quoted", `datadog-ci synthetics run-tests --api-key "${SECRET}"`],
    [
      "an access key in a diff",
      `+  minio-client alias set zyx https://s3.zyx --access-key svc --secret-key ${SECRET}`,
    ],
    ["an auth token", `npx sentry-cli --auth-token ${SECRET} releases new v1`],
  ])("masks %s", (_name, text) => {
    const result = guardOutput({ body: text });
    expect(JSON.stringify(result.value)).not.toContain(SECRET);
    expect(result.redactions).toBeGreaterThan(0);
  });

  it("keeps the command readable", () => {
    expect(guardOutput(`vault login --token ${SECRET}`).value).toBe(
      "vault login --token [REDACTED:secret]",
    );
  });

  it.each([
    ["a token read from a file", "gh auth login --with-token < token.txt"],
    ["a variable", 'vault login --token "$VAULT_TOKEN"'],
    ["a flag after the flag", "tool --token --verbose"],
    ["a token file", "kubectl --token-file /var/run/secrets/token get pods"],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });
});

describe("secret flags cost linear time", () => {
  it.each([
    ["flag-like words", " --a-b-c-"],
    ["one long flag", ` --${"a-".repeat(100)}`],
    ["secret flags without a value", " --x-secret  "],
  ])("1 MB of %s", (_name, unit) => {
    const text = unit.repeat(Math.ceil(1_000_000 / unit.length));
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
