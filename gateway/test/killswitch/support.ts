// Shared fixtures of the kill-switch tests: a temporary state file, a frozen clock, and audit and
// apply fakes that record what they were given and in which order.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditRecordInput } from "../../src/audit/record.ts";
import type { KillSwitchOptions } from "../../src/killswitch/service.ts";
import { createKillSwitch } from "../../src/killswitch/service.ts";
import type { AtomicWriter } from "../../src/killswitch/store.ts";
import { writeFileAtomic } from "../../src/killswitch/store.ts";
import type { PolicyState } from "../../src/policy/decision.ts";

export const T0 = Date.parse("2026-11-21T03:00:00.000Z");

export const CATALOG_CONNECTORS = ["aws", "confluence", "github", "jira", "slack"];

export interface Fixture {
  dir: string;
  path: string;
  /** Epoch ms; tests move it by hand. */
  clock: { now: number };
  /** Every call to audit, apply and the file writer, in order. */
  events: string[];
  audits: AuditRecordInput[];
  applied: PolicyState[];
  /** Switches: make the next calls fail. */
  fail: { audit: boolean; apply: boolean; write: boolean; auditFollowUp: boolean };
  options(overrides?: Partial<KillSwitchOptions>): KillSwitchOptions;
  open(overrides?: Partial<KillSwitchOptions>): ReturnType<typeof createKillSwitch>;
  cleanup(): Promise<void>;
}

export async function fixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), "kill-switch-"));
  const path = join(dir, "state", "kill-switch.json");
  const clock = { now: T0 };
  const events: string[] = [];
  const audits: AuditRecordInput[] = [];
  const applied: PolicyState[] = [];
  const fail = { audit: false, apply: false, write: false, auditFollowUp: false };

  const audit = async (record: AuditRecordInput): Promise<{ seq: number }> => {
    await Promise.resolve();
    const followUp = record.outcome !== undefined;
    events.push(followUp ? "audit-failed" : "audit");
    if (followUp ? fail.auditFollowUp : fail.audit) {
      throw new Error("EIO: i/o error, fdatasync");
    }
    audits.push(structuredClone(record));
    return { seq: audits.length };
  };
  const apply = async (state: PolicyState): Promise<void> => {
    await Promise.resolve();
    events.push("apply");
    if (fail.apply) throw new Error("policy server answered 500");
    applied.push(structuredClone(state));
  };
  const write: AtomicWriter = async (target, text) => {
    events.push("write");
    if (fail.write)
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    await writeFileAtomic(target, text);
  };

  const options = (overrides: Partial<KillSwitchOptions> = {}): KillSwitchOptions => ({
    path,
    now: () => clock.now,
    audit,
    apply,
    write,
    connectors: CATALOG_CONNECTORS,
    ...overrides,
  });

  return {
    dir,
    path,
    clock,
    events,
    audits,
    applied,
    fail,
    options,
    open: (overrides) => createKillSwitch(options(overrides)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export function clearState(): PolicyState {
  return {
    kill_switch: {
      all_writes: false,
      read_only_agents: [],
      connectors: [],
      users: [],
      agents: [],
      workflows: [],
    },
  };
}
