// Ordinary change-review text that looks like the injection patterns' triggers (a TODO beside an
// e-mail attribute, a standard forbidding emojis or asking for base64) raises no indicator: a
// false one taints the session and holds its writes for approval.
import { describe, expect, it } from "vitest";
import { detectInjection } from "../../src/guard/output-guard.ts";

describe("new injection patterns on ordinary change-review text", () => {
  it.each([
    // A Terraform diff: a TODO comment, then an SES identity's e-mail attribute and address.
    '# TODO: move the sender to Secrets Manager\nresource "aws_ses_email_identity" "alerts" {\n  email = "alerts@zyxbank-notifications.com"\n}',
    "TODO: ask the vendor to rotate the cert; contact jane.doe@acme-pki.com (email her the CSR)",
    // A standards page (confluence_read).
    "Please avoid emojis in your messages to #change-approvals.",
    "Binary attachments must be base64-encoded in your message body.",
  ])("no injection indicator: %s", (text) => {
    expect(detectInjection(text)).toEqual([]);
  });
});
