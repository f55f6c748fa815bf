// A review found most of a private key passing the output guard: `base64 key.pem` (GNU
// coreutils, and most tools by default) wraps its output at 76 columns, and only the first line,
// the one that begins "LS0tLS1CRUdJTi" ("-----BEGIN"), was masked. The lines after it, the key
// itself, came through in a runbook, a Kubernetes Secret in a diff or a ticket.
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const PEM = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
  type: "pkcs1",
  format: "pem",
}) as string;
const LINES =
  Buffer.from(PEM)
    .toString("base64")
    .match(/.{1,76}/g) ?? [];
/** Every wrapped line after the first: each is part of the key. */
const TAIL = LINES.slice(1).filter((line) => line.length >= 20);

describe("a base64-encoded private key wrapped over several lines", () => {
  it.each([
    ["as base64 prints it", LINES.join("\n")],
    ["with CRLF line ends", LINES.join("\r\n")],
    [
      "in a YAML block scalar",
      `data:\n  tls.key: |\n${LINES.map((l) => `    ${l}`).join("\n")}\n  tls.crt: x`,
    ],
    [
      "added in a diff",
      `@@ -0,0 +1,${String(LINES.length)} @@\n${LINES.map((l) => `+${l}`).join("\n")}`,
    ],
    ["in a Jira ticket's prose", `Here is the key, base64'd:\n\n${LINES.join("\n")}\n\nThanks!`],
  ])("is masked whole %s", (_name, text) => {
    expect(TAIL.length).toBeGreaterThan(5);
    const out = JSON.stringify(guardOutput({ description: text }).value);
    for (const line of TAIL) expect(out).not.toContain(line);
  });

  it("keeps what follows the key", () => {
    const text = `${LINES.join("\n")}\n\nThanks, the rotation is CHG-18422.`;
    expect(guardOutput(text).value).toBe(
      "[REDACTED:private_key]\n\nThanks, the rotation is CHG-18422.",
    );
  });

  it("leaves a base64-encoded certificate alone", () => {
    const cert = Buffer.from(
      `-----BEGIN CERTIFICATE-----\n${"MIIBkTCB+wIJAK".repeat(20)}\n-----END CERTIFICATE-----\n`,
    )
      .toString("base64")
      .match(/.{1,76}/g)
      ?.join("\n");
    expect(guardOutput(cert).value).toBe(cert);
  });

  it("1 MB of wrapped base64 look-alikes takes linear time", () => {
    const text = `LS0tLS1CRUdJTi${"A".repeat(60)}\n`.repeat(14_000);
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
