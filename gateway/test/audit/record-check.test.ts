// The audit record's fast check (record.ts checkAuditRecordInput: ajv code compiled from the zod
// schema, zod judging what it refuses) must give zod's verdict on every input: a compiled check
// laxer than zod would let a malformed record into the log (issue 18's fast path).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AuditRecordInput, checkAuditRecordInput } from "../../src/audit/record.ts";

const DIGEST = "9de5cc1a00273d0b511187041c6dc20580d0a4182527eead8c1844195f4da48f";

/** Values that sit on zod's boundaries: odd numbers, near-miss strings, wrong containers. */
const odd = fc.constantFrom<unknown>(
  null,
  undefined,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  -0,
  1.5,
  -1,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  0,
  "",
  "x",
  true,
  [],
  {},
  ["a"],
  10n,
);
const datetime = fc.constantFrom(
  "2026-12-07T12:00:00Z",
  "2026-12-07T12:00:00.123+08:00",
  "2026-12-07T12:00:00",
  "2026-02-30T12:00:00Z",
  "2028-02-29T00:00:00Z",
  "2027-02-29T00:00:00Z",
  "2026-12-07 12:00:00Z",
  "2026-12-07T24:00:00Z",
  "2026-12-07T12:00:00+0800",
  "2026-12-07T12:00:00.Z",
  "２026-12-07T12:00:00Z",
);
const digest = fc.constantFrom(
  DIGEST,
  DIGEST.toUpperCase(),
  DIGEST.slice(1),
  `${DIGEST}0`,
  `${DIGEST.slice(0, -1)}g`,
  `${DIGEST}\n`,
);
const either = <T>(valid: fc.Arbitrary<T>) => fc.oneof(valid, odd, fc.anything());

const record = fc.record(
  {
    timestamp: either(datetime),
    event: either(fc.constantFrom("decision", "outcome", "")),
    decision_id: either(fc.uuid()),
    user: either(
      fc.record({ subject: either(fc.string()), email: either(fc.string()) }, { requiredKeys: [] }),
    ),
    groups: either(fc.array(either(fc.string()), { maxLength: 3 })),
    device: either(
      fc.record(
        {
          compliant: either(fc.boolean()),
          checked_at: either(fc.oneof(fc.integer(), datetime)),
          device_id: either(fc.string()),
        },
        { requiredKeys: [] },
      ),
    ),
    agent: either(
      fc.oneof(fc.string(), fc.record({ id: either(fc.string()) }, { requiredKeys: [] })),
    ),
    arguments: either(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 })),
    arguments_digest: either(digest),
    decision: either(
      fc.record(
        {
          allow: either(fc.boolean()),
          reasons: either(
            fc.array(
              either(
                fc.record(
                  { code: either(fc.string()), message: either(fc.string()) },
                  { requiredKeys: [] },
                ),
              ),
              { maxLength: 2 },
            ),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    risk_score: either(fc.double()),
    approval: either(
      fc.record(
        {
          required: either(fc.boolean()),
          approvers_required: either(fc.integer({ min: -2, max: 3 })),
          state: either(fc.string()),
        },
        { requiredKeys: [] },
      ),
    ),
    source: either(
      fc.record(
        { ip: either(fc.string()), peer: either(fc.string()), forwarded: either(fc.string()) },
        { requiredKeys: [] },
      ),
    ),
    decision_input: either(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 })),
    latency_ms: either(fc.double()),
    outcome: either(
      fc.record(
        {
          status: either(fc.constantFrom("executed", "")),
          code: either(fc.string()),
          http_status: either(fc.integer({ min: 100, max: 599 })),
        },
        { requiredKeys: [] },
      ),
    ),
    details: either(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 })),
    replica: either(fc.constantFrom("gw-1", "")),
  },
  { requiredKeys: [] },
);

describe("checkAuditRecordInput", () => {
  it("gives zod's verdict on records near every boundary of the schema", () => {
    fc.assert(
      fc.property(fc.oneof(record, odd, fc.anything()), (input) => {
        expect(checkAuditRecordInput(input).ok).toBe(AuditRecordInput.safeParse(input).success);
      }),
      { numRuns: 20_000 },
    );
  });

  it("refuses a malformed record with zod's message, naming the member", () => {
    expect(
      checkAuditRecordInput({ event: "decision", approval: { required: true, state: "x" } }),
    ).toEqual({
      ok: false,
      message: expect.stringContaining("approval.approvers_required") as string,
    });
    expect(checkAuditRecordInput({ event: "outcome", risk_score: Number.NaN })).toEqual({
      ok: false,
      message: expect.stringContaining("risk_score") as string,
    });
  });

  it("accepts the records the pipeline writes", () => {
    expect(
      checkAuditRecordInput({
        event: "decision",
        timestamp: "2026-12-07T12:00:00.000Z",
        arguments_digest: DIGEST,
        decision: { allow: true, reasons: [] },
        approval: { required: false, approvers_required: 0, state: "not_required" },
        device: { compliant: true, checked_at: 1_796_625_350 },
        outcome: { status: "executed", http_status: 200 },
      }),
    ).toEqual({ ok: true });
  });
});
