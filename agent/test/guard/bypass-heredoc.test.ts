// A review found a Terraform heredoc under a secret name passing the output guard, with the
// marker in the wrong place: `password = <<EOT` became `password = [REDACTED:password]` (the
// heredoc's opening, no secret) and the lines below it, the secret, came through as written.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const PW = "Vq7tLm2xRb9wKp4e";
const KEY_LINE = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7";

describe("heredocs under a secret name", () => {
  it.each([
    ["a Terraform password heredoc", `resource "x" "y" {\n  password = <<EOT\n${PW}\nEOT\n}`],
    [
      "an indented heredoc in a diff",
      `+  master_password = <<-EOT\n+    ${PW}\n+  EOT\n+  port = 5432`,
    ],
    ["a secret over several lines", `  client_secret = <<EOF\n${KEY_LINE}\n${PW}\nEOF`],
    ["a quoted delimiter", `api_token = <<"END"\n${PW}\nEND`],
  ])("masks %s", (_name, text) => {
    const result = guardOutput({ patch: text });
    expect(JSON.stringify(result.value)).not.toContain(PW);
  });

  it("masks the body, keeps the name and the delimiters", () => {
    expect(
      guardOutput(`+  master_password = <<-EOT\n+    ${PW}\n+  EOT\n+  port = 5432`).value,
    ).toBe("+  master_password = <<-EOT\n+    [REDACTED:password]\n+  EOT\n+  port = 5432");
  });

  it("leaves a heredoc under an ordinary name alone", () => {
    const text = `  description = <<EOT\nBastion access for the platform team.\nEOT`;
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });

  it("1 MB of unterminated heredocs takes linear time", () => {
    const text = "password = <<EOT\nx\n".repeat(50_000);
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
