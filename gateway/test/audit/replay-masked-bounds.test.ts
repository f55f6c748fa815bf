// Replay counts the decisions whose recorded input the audit mask changed (README: "inputs that
// carried masked values are counted, since their replay may differ"). The mask changes an input
// by redacting secrets and by its bounds: a string cut, an array cut, an object cut to its first
// keys, a value too deep, the node budget spent. Every one of them must be counted, not only the
// markers that happen to contain "…[truncated ".
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openAuditLog } from "../../src/audit/log.ts";
import { replayDecisions } from "../../src/audit/replay.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import { BUNDLE_PATH } from "../support/paths.ts";

const COMMENT = { ticket: "CHG-18422", body: "AI security review: see findings." };

let h: Harness;
let decision: Record<string, unknown>;

beforeAll(async () => {
  h = await createHarness();
  const allowed = await h.callAs("jira_add_comment", COMMENT);
  expect(allowed.status).toBe(200);
  await h.audit.close();
  const lines = (await readFile(h.auditPath, "utf8")).split("\n").filter((l) => l !== "");
  const found = lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((r) => r["event"] === "decision");
  if (found === undefined) throw new Error("no decision record");
  decision = found;
}, 60_000);

/** The real decision record again, its input's arguments given `extra`, through the real log. */
async function logWith(name: string, extras: Record<string, unknown>[]): Promise<string> {
  const path = join(dirname(h.auditPath), `${name}.jsonl`);
  await writeFile(path, "");
  const log = await openAuditLog({ path, fsync: false });
  for (const [index, extra] of extras.entries()) {
    const { seq: _s, prev_hash: _p, hash: _h, ...record } = decision;
    const input = record["decision_input"] as Record<string, unknown>;
    const args = input["arguments"] as Record<string, unknown>;
    await log.append({
      ...(record as { event: string }),
      decision_id: `d-${String(index)}`,
      decision_input: { ...input, arguments: { ...args, ...extra } },
    });
  }
  await log.close();
  return path;
}

function nested(depth: number): unknown {
  return depth === 0 ? "leaf" : { level: nested(depth - 1) };
}

describe("replay: inputs the mask's bounds changed are counted as masked", () => {
  it("an object cut to its first keys, and a value too deep", async () => {
    const manyKeys = Object.fromEntries(
      Array.from({ length: 150 }, (_, i) => [`k${String(i).padStart(3, "0")}`, i]),
    );
    const path = await logWith("bounds", [{ labels: manyKeys }, { deep: nested(12) }]);
    const text = await readFile(path, "utf8");
    expect(text).toContain("[truncated 50 keys]");
    expect(text).toContain("[truncated: too deep]");
    const report = await replayDecisions(BUNDLE_PATH, [path]);
    expect(report.decisions).toBe(2);
    expect(report.masked_inputs).toBe(2);
  });
});
