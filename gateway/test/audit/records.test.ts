// Reading records back: time order across files, malformed lines counted, and the filter the
// console uses to read one session out of a large log without parsing the rest.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadRecords } from "../../src/audit/records.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-records-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (record: Record<string, unknown>) => `${JSON.stringify(record)}\n`;

describe("loadRecords", () => {
  it("merges files in time order and counts malformed lines", async () => {
    const a = join(dir, "a.jsonl");
    const b = join(dir, "b.jsonl");
    await writeFile(
      a,
      line({ timestamp: "2026-12-06T01:00:02.000Z", event: "decision", session_id: "s-1" }) +
        "not json\n",
    );
    await writeFile(
      b,
      line({ timestamp: "2026-12-06T01:00:01.000Z", event: "outcome", session_id: "s-2" }),
    );
    const { records, malformed } = await loadRecords([a, b]);
    expect(records.map((r) => r.record["session_id"])).toEqual(["s-2", "s-1"]);
    expect(malformed).toEqual([{ file: a, line: 2 }]);
  });

  it("with `containing`, parses and keeps only the lines that hold it", async () => {
    const file = join(dir, "audit.jsonl");
    const other = Array.from({ length: 50 }, (_, i) =>
      line({ timestamp: "2026-12-06T01:00:00.000Z", event: "decision", session_id: `s-${i}` }),
    );
    await writeFile(
      file,
      other.join("") +
        "garbage that is not the session\n" +
        line({ timestamp: "2026-12-06T01:00:03.000Z", event: "outcome", session_id: "night" }),
    );
    const { records, malformed } = await loadRecords([file], '"session_id":"night"');
    expect(records.map((r) => [r.line, r.record["event"]])).toEqual([[52, "outcome"]]);
    expect(malformed).toEqual([]);
  });
});
