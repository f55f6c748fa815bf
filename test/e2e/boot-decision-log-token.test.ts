// DECISION_LOG_TOKEN_FILE holds one bearer token (RFC 6750 token68) or the gateway does not
// start, naming the setting and never printing the file's content. A file of two lines (a
// rotated token appended) used to start a gateway whose every upload failed: fetch refuses the
// header value, and nothing reached the SIEM.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bootGateway } from "../support/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "zyx-decision-log-token-"));

describe("DECISION_LOG_TOKEN_FILE", () => {
  it("refuses a file that does not hold one bearer token, without printing it", async () => {
    const file = join(dir, "two-lines.token");
    writeFileSync(file, "old-token-AAAA\nnew-token-BBBB\n");
    const { outcome, output } = await bootGateway({
      DECISION_LOG_URL: "https://siem.zyxbank.example/decisions",
      DECISION_LOG_TOKEN_FILE: file,
    });
    expect(outcome, output).toBe(1);
    expect(output).toContain("DECISION_LOG_TOKEN_FILE");
    expect(output).toContain("does not hold one bearer token");
    expect(output).not.toContain("token-AAAA");
    expect(output).not.toContain("token-BBBB");
  });
});
