// A UTF-8 byte order mark before a line is not what the log writes, and a reader that keeps it
// (JSON.parse of the line, jq, Python's json, a SIEM) reads no record there: verify names the
// line instead of dropping the mark (TextDecoder's default) and calling the chain intact.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../src/audit/log.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "rv-bom-"));
  file = join(dir, "audit.jsonl");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a byte order mark before a record", () => {
  it("is not what the log writes: verify names the line", async () => {
    const log = await openAuditLog({ path: file, fsync: false });
    await log.append({ event: "decision", decision_id: "d-1", tool: "jira_read" });
    await log.append({
      event: "outcome",
      decision_id: "d-1",
      outcome: { status: "denied", code: "policy_denied" },
    });
    await log.append({ event: "decision", decision_id: "d-2", tool: "jira_read" });
    await log.close();

    const bytes = await readFile(file);
    const second = bytes.indexOf(0x0a) + 1;
    const forged = Buffer.concat([
      bytes.subarray(0, second),
      Buffer.from([0xef, 0xbb, 0xbf]),
      bytes.subarray(second),
    ]);
    await writeFile(file, forged);

    // What a plain JSON Lines reader (a SIEM's) makes of the line now.
    const line = forged.toString("utf8").split("\n")[1] ?? "";
    expect(() => JSON.parse(line) as unknown).toThrow();

    expect(await verifyAuditFile(file)).toMatchObject({ ok: false, line: 2 });
  });
});
