// The audit log's fast serialisation (issue 18): the mask copies members in RFC 8785 key order and
// vouches for it (`canonicalOrder`), and serializeRecord then sorts only the top level. Whatever
// the value, the line and hash are the general path's: the library-checked canonical JSON of the
// same masked record. A key the fast path cannot vouch for sends the record the general way.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { libraryCanonicalJson } from "../../../common/canonical.ts";
import { maskSecretsSorted, maskSecretsWithCount } from "../../src/audit/mask.ts";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog } from "../../src/audit/log.ts";
import { serializeRecord, sha256Hex } from "../../src/audit/record.ts";

const CHAIN = { seq: 7, prev_hash: "a".repeat(64), timestamp: "2026-12-05T12:00:00.000Z" };

/** The line the general path writes: the reference canonicaliser over the unsorted mask. */
function reference(value: unknown): { line: string; hash: string } {
  const masked = maskSecretsWithCount(value).value as Record<string, unknown>;
  const canonical = libraryCanonicalJson({ ...masked, ...CHAIN });
  const hash = sha256Hex(canonical);
  return { line: `${canonical.slice(0, -1)},"hash":"${hash}"}`, hash };
}

function fast(value: unknown): { line: string; hash: string; vouched: boolean } {
  const masked = maskSecretsSorted(value);
  const body = masked.value as Record<string, unknown>;
  return {
    ...serializeRecord({ ...body, ...CHAIN }, masked.canonicalOrder),
    vouched: masked.canonicalOrder,
  };
}

/** Keys that test the order: index-like, "__proto__", non-ASCII, surrogates, long ones. */
const key = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom("0", "1", "10", "01", "-1", "__proto__", "é", "\u2026", "\ud83d\ude00", "\ud800"),
  fc.constantFrom("password", "api_key", "token", "Authorization"),
  fc.string({ minLength: 250, maxLength: 300 }),
);
const value = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: "small" },
    fc.string({ maxLength: 20 }),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("node"), { maxLength: 4 }),
    fc.dictionary(key, tie("node"), { maxKeys: 5 }),
  ),
})).node;

describe("audit record serialisation in key order", () => {
  it("writes the same line and hash as the general path, whatever the record", () => {
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 8 }), value, (top, details) => {
        const record = { ...top, event: "decision", details };
        const got = fast(record);
        expect({ line: got.line, hash: got.hash }).toEqual(reference(record));
        // The same value as the insertion-order mask, whatever the walk's order.
        expect(maskSecretsSorted(record).value).toEqual(maskSecretsWithCount(record).value);
      }),
      { numRuns: 400 },
    );
  });

  it("vouches for a plain record and declines one with an index-like or rewritten key", () => {
    expect(fast({ event: "decision", arguments: { b: 1, a: [{ d: 1, c: 2 }] } }).vouched).toBe(
      true,
    );
    expect(fast({ event: "decision", arguments: { "10": 1, "9": 2 } }).vouched).toBe(false);
    expect(fast({ event: "decision", details: { ["k".repeat(300)]: 1 } }).vouched).toBe(false);
    expect(fast({ event: "decision", details: { "\ud800": 1 } }).vouched).toBe(false);
  });

  it("writes the fixed canonical text of a small record", () => {
    // Fixed text, not computed by the code under test.
    const got = fast({ event: "decision", arguments: { ticket: "CHG-1", a: { z: 1, y: [2, 1] } } });
    expect(got.line).toMatch(
      /^\{"arguments":\{"a":\{"y":\[2,1\],"z":1\},"ticket":"CHG-1"\},"event":"decision","prev_hash":"a{64}","seq":7,"timestamp":"2026-12-05T12:00:00\.000Z","hash":"[0-9a-f]{64}"\}$/,
    );
  });

  it("a record over a bound is masked in its own order: a caller's big details cannot blank the members after them", async () => {
    // A refusal record carries the caller's unvalidated arguments in `details` (sorted early):
    // 10,100 values use up the mask's 10,000-node budget.
    const args = { a: Array.from({ length: 100 }, () => Array<number>(100).fill(0)) };
    const record = {
      timestamp: "2026-12-05T12:00:00.000Z",
      event: "refusal",
      user: { subject: "alice@zyxbank.example" },
      agent: "change-reviewer",
      door: "rest",
      tool: "jira_read",
      session_id: "s1",
      outcome: { status: "denied", code: "request_malformed", http_status: 400 },
      details: { arguments: args },
    };
    const sorted = maskSecretsSorted(record);
    expect(sorted.canonicalOrder).toBe(false);
    expect(sorted.value).toEqual(maskSecretsWithCount(record).value);

    const dir = mkdtempSync(join(tmpdir(), "zyx-order-"));
    try {
      const log = await openAuditLog({ path: join(dir, "audit.jsonl"), fsync: false });
      await log.append(record);
      await log.close();
      const written = JSON.parse(
        readFileSync(join(dir, "audit.jsonl"), "utf8").split("\n")[0] ?? "",
      ) as Record<string, unknown>;
      expect(written).toMatchObject({
        timestamp: "2026-12-05T12:00:00.000Z",
        event: "refusal",
        user: { subject: "alice@zyxbank.example" },
        tool: "jira_read",
        session_id: "s1",
        outcome: { status: "denied", code: "request_malformed", http_status: 400 },
      });
      expect(JSON.stringify(written["details"])).toContain("[truncated: too many values]");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a top-level value added after the mask that RFC 8785 refuses takes the general path", () => {
    const body = { event: "decision", replica: "gw-\ud800", seq: 1 };
    expect(() => serializeRecord(body, true)).toThrow();
    expect(() => serializeRecord({ event: "decision", seq: Number.NaN }, true)).toThrow();
  });
});
