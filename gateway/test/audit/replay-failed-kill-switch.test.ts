// A kill-switch change is audited before it is stored (the record must be durable before
// anything changes); when the store then refuses it, the same change is audited again with
// outcome "failed", and the switch never changed. Replay must not apply it: otherwise it judges
// every later decision with a switch that was never in force.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import { replayDecisions } from "../../src/audit/replay.ts";
import { createKillSwitch } from "../../src/killswitch/service.ts";
import { writeFileAtomic } from "../../src/killswitch/store.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import { BUNDLE_PATH } from "../support/paths.ts";

const COMMENT = { ticket: "CHG-18422", body: "AI security review: see findings." };

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  // The engineer's change-reviewer comments: allowed (no kill switch in force).
  const answer = await h.callAs("jira_add_comment", COMMENT);
  expect(answer.status).toBe(200);
  await h.audit.close();
}, 60_000);

describe("replay and kill-switch changes that did not happen", () => {
  it("a read-only switch the store did not take is not applied to later decisions", async () => {
    const written: AuditRecordInput[] = [];
    let failWrites = false;
    const killSwitch = await createKillSwitch({
      path: join(`${h.auditPath}.kill-switch.json`),
      now: () => h.clock.now - 60_000, // a minute before the comment
      audit: (record) => {
        written.push(record);
      },
      apply: () => undefined,
      write: (path, text) =>
        failWrites ? Promise.reject(new Error("ENOSPC: disk full")) : writeFileAtomic(path, text),
    });
    failWrites = true;
    await expect(
      killSwitch.set("read_only", "change-reviewer", {
        by: "secadmin@zyxbank.example",
        reason: "INC-43",
      }),
    ).rejects.toThrow();
    expect(killSwitch.state().state.kill_switch.read_only_agents).toEqual([]);
    expect(written.map((r) => r.outcome?.code ?? "change")).toEqual([
      "change",
      "kill_switch_unavailable",
    ]);

    // The gateway's log with those two records before the comment (replay reads, not verifies).
    const log = await readFile(h.auditPath, "utf8");
    const file = `${h.auditPath}.with-failed-change.jsonl`;
    await writeFile(file, written.map((r) => `${JSON.stringify(r)}\n`).join("") + log);

    const report = await replayDecisions(BUNDLE_PATH, [file]);
    expect(report.decisions).toBe(1);
    expect(report).toMatchObject({ replayed: 1, unchanged: 1, changed: 0 });
  });
});
