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

  it("with a byte bound, reads no further: lines appended after the chain was verified are not read", async () => {
    const file = join(dir, "audit.jsonl");
    const first = line({ timestamp: "2026-12-06T01:00:00.000Z", event: "decision", n: 1 });
    const second = line({ timestamp: "2026-12-06T01:00:01.000Z", event: "outcome", n: 2 });
    await writeFile(file, first + second + '{"event":"half');
    const bounded = await loadRecords([{ file, bytes: Buffer.byteLength(first) }]);
    expect(bounded.records.map((r) => r.record["n"])).toEqual([1]);
    expect(bounded.malformed).toEqual([]);
    expect((await loadRecords([{ file, bytes: 0 }])).records).toEqual([]);
    const whole = await loadRecords([file]);
    expect(whole.records.map((r) => r.record["n"])).toEqual([1, 2]);
    expect(whole.malformed).toEqual([{ file, line: 3 }]);
  });
});
