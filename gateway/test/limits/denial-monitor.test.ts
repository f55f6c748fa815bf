// Automatic suspension with a frozen clock: once at the threshold, never below it, never twice,
// re-armed by cleared(); the alert record's content (and that the audit log accepts it); the
// failure paths of suspend and alert; bounded memory; option and key errors.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openAuditLog } from "../../src/audit/log.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";
import { denialMonitorSettings, readLimits } from "../../src/limits/config.ts";
import type {
  DenialMonitor,
  DenialMonitorOptions,
  SuspendRequest,
  SuspensionAlert,
} from "../../src/limits/denial-monitor.ts";
import {
  AUTO_SUSPENSION_ACTOR,
  createDenialMonitor,
  DEFAULT_MAX_AGENTS,
} from "../../src/limits/denial-monitor.ts";
import { LimitsError } from "../../src/limits/errors.ts";
import { createMemoryDenials, type SharedDenials } from "../../src/limits/shared-denials.ts";
import type { FrozenClock } from "./support.ts";
import { frozenClock, isoAt } from "./support.ts";

interface Harness {
  clock: FrozenClock;
  monitor: DenialMonitor;
  suspended: { agent: string; request: SuspendRequest }[];
  alerts: SuspensionAlert[];
  /** A policy denial of `agent` at `seconds`, decision id `d-<n>`. */
  deny: (seconds: number, agent: string, n: number) => ReturnType<DenialMonitor["recordDenial"]>;
}

function harness(
  options: Partial<DenialMonitorOptions> & { threshold?: number; windowSeconds?: number } = {},
): Harness {
  const clock = frozenClock();
  const suspended: Harness["suspended"] = [];
  const alerts: SuspensionAlert[] = [];
  const monitor = createDenialMonitor({
    threshold: 3,
    windowSeconds: 60,
    now: clock.now,
    suspend: (agent, request) => {
      suspended.push({ agent, request });
    },
    alert: (record) => {
      alerts.push(record);
    },
    ...options,
  });
  return {
    clock,
    monitor,
    suspended,
    alerts,
    deny: (seconds, agent, n) => {
      clock.at(seconds);
      return monitor.recordDenial(agent, { code: "policy_denied", decisionId: `d-${n}` });
    },
  };
}

const REASON_3_IN_60 =
  "3 policy denials within 60 s (threshold 3): suspended automatically as a runaway agent";

function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LimitsError);
    const { code, message } = error as LimitsError;
    return { code, message };
  }
  throw new Error("did not throw");
}

describe("suspension at the threshold", () => {
  it("suspends once when the 3rd denial within 60 s arrives, with the alert record", async () => {
    const { deny, suspended, alerts, monitor } = harness();
    expect(await deny(0, "agent-a", 1)).toEqual({ action: "counted", count: 1 });
    expect(await deny(10, "agent-a", 2)).toEqual({ action: "counted", count: 2 });
    expect(suspended).toEqual([]);
    expect(alerts).toEqual([]);
    expect(monitor.state("agent-a")).toBe("armed");

    expect(await deny(20, "agent-a", 3)).toEqual({
      action: "suspended",
      count: 3,
      alerted: true,
    });
    expect(suspended).toEqual([
      {
        agent: "agent-a",
        request: { by: "system:auto-suspension", reason: REASON_3_IN_60 },
      },
    ]);
    expect(alerts).toEqual([
      {
        timestamp: isoAt(20),
        event: "alert",
        kind: "agent_suspended",
        agent: "agent-a",
        count: 3,
        threshold: 3,
        window_seconds: 60,
        decision_ids: ["d-1", "d-2", "d-3"],
        outcome: { status: "suspended" },
        details: {
          suspended_by: "system:auto-suspension",
          reason: REASON_3_IN_60,
          first_denial_at: isoAt(0),
          last_denial_at: isoAt(20),
        },
      },
    ]);
    expect(monitor.state("agent-a")).toBe("suspended");
    expect(AUTO_SUSPENSION_ACTOR).toBe("system:auto-suspension");
  });

  it("does not suspend below the threshold: denials leave the window at exactly t + 60 s", async () => {
    const { deny, suspended, alerts } = harness();
    expect(await deny(0, "agent-a", 1)).toEqual({ action: "counted", count: 1 });
    expect(await deny(10, "agent-a", 2)).toEqual({ action: "counted", count: 2 });
    expect(await deny(60, "agent-a", 3)).toEqual({ action: "counted", count: 2 }); // d-1 left
    expect(await deny(70, "agent-a", 4)).toEqual({ action: "counted", count: 2 }); // d-2 left
    expect(await deny(119.999, "agent-a", 5)).toEqual({
      action: "suspended",
      count: 3,
      alerted: true,
    });
    expect(suspended).toHaveLength(1);
    expect(alerts[0]?.decision_ids).toEqual(["d-3", "d-4", "d-5"]);
    expect(alerts[0]?.details.first_denial_at).toBe(isoAt(60));
  });

  it("does not suspend twice: later denials are recorded and trigger nothing", async () => {
    const { deny, suspended, alerts, monitor } = harness();
    for (const [t, n] of [
      [0, 1],
      [1, 2],
      [2, 3],
    ] as const)
      await deny(t, "agent-a", n);
    expect(await deny(3, "agent-a", 4)).toEqual({ action: "already_suspended", count: 3 });
    for (let n = 5; n < 50; n += 1) {
      expect(await deny(n, "agent-a", n)).toMatchObject({ action: "already_suspended" });
    }
    expect(await deny(500, "agent-a", 50)).toEqual({ action: "already_suspended", count: 1 });
    expect(suspended).toHaveLength(1);
    expect(alerts).toHaveLength(1);
    expect(monitor.state("agent-a")).toBe("suspended");
  });

  it("does not call suspend again while the first call is in flight", async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const { deny, monitor } = harness({
      suspend: () => {
        calls += 1;
        return new Promise<void>((resolve) => (release = resolve));
      },
    });
    await deny(0, "agent-a", 1);
    await deny(1, "agent-a", 2);
    const first = deny(2, "agent-a", 3);
    expect(monitor.state("agent-a")).toBe("suspending");
    expect(await deny(3, "agent-a", 4)).toEqual({ action: "suspension_pending", count: 3 });
    expect(calls).toBe(1);
    release();
    expect(await first).toEqual({ action: "suspended", count: 3, alerted: true });
    expect(monitor.state("agent-a")).toBe("suspended");
    expect(calls).toBe(1);
  });

  it("is re-armed by cleared(), counting from zero", async () => {
    const { deny, suspended, alerts, monitor } = harness();
    for (const [t, n] of [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ] as const)
      await deny(t, "agent-a", n);
    expect(suspended).toHaveLength(1);
    monitor.cleared("agent-a");
    expect(monitor.state("agent-a")).toBe("armed");
    // The denials that led to the first suspension no longer count.
    expect(await deny(10, "agent-a", 5)).toEqual({ action: "counted", count: 1 });
    expect(await deny(11, "agent-a", 6)).toEqual({ action: "counted", count: 2 });
    expect(await deny(12, "agent-a", 7)).toEqual({ action: "suspended", count: 3, alerted: true });
    expect(suspended).toHaveLength(2);
    expect(alerts.map((a) => a.decision_ids)).toEqual([
      ["d-1", "d-2", "d-3"],
      ["d-5", "d-6", "d-7"],
    ]);
  });

  it("a suspension that completes after cleared() leaves the agent armed", async () => {
    let release: () => void = () => undefined;
    const { deny, monitor } = harness({
      suspend: () => new Promise<void>((resolve) => (release = resolve)),
    });
    await deny(0, "agent-a", 1);
    await deny(1, "agent-a", 2);
    const first = deny(2, "agent-a", 3);
    monitor.cleared("agent-a");
    release();
    expect(await first).toEqual({ action: "suspended", count: 3, alerted: true });
    expect(monitor.state("agent-a")).toBe("armed");
    expect(await deny(3, "agent-a", 4)).toEqual({ action: "counted", count: 1 });
  });

  it("cleared() for an agent it does not track does nothing", () => {
    const { monitor } = harness();
    monitor.cleared("agent-z");
    expect(monitor.state("agent-z")).toBeUndefined();
    expect(monitor.stats().agents).toBe(0);
  });

  it("counts each agent on its own", async () => {
    const { deny, suspended } = harness();
    await deny(0, "agent-a", 1);
    await deny(1, "agent-a", 2);
    expect(await deny(2, "agent-b", 3)).toEqual({ action: "counted", count: 1 });
    expect(await deny(3, "agent-b", 4)).toEqual({ action: "counted", count: 2 });
    expect(suspended).toEqual([]);
    expect(await deny(4, "agent-b", 5)).toMatchObject({ action: "suspended" });
    expect(suspended.map((s) => s.agent)).toEqual(["agent-b"]);
  });

  it("counts policy denials only: approval_required and rate_limited are ignored", async () => {
    const { deny, clock, monitor, suspended } = harness();
    clock.at(0);
    for (let n = 0; n < 5; n += 1) {
      expect(
        await monitor.recordDenial("agent-a", { code: "rate_limited", decisionId: `r-${n}` }),
      ).toEqual({ action: "ignored", code: "rate_limited" });
      expect(
        await monitor.recordDenial("agent-a", { code: "approval_required", decisionId: `p-${n}` }),
      ).toEqual({ action: "ignored", code: "approval_required" });
    }
    expect(monitor.state("agent-a")).toBeUndefined();
    expect(await deny(1, "agent-a", 1)).toEqual({ action: "counted", count: 1 });
    expect(await deny(2, "agent-a", 2)).toEqual({ action: "counted", count: 2 });
    expect(suspended).toEqual([]);
  });

  it("works from the catalog's settings: the 10th denial within 300 s suspends", async () => {
    const { deny, suspended } = harness(denialMonitorSettings(readLimits()));
    for (let n = 1; n <= 9; n += 1) {
      expect(await deny(n * 30, "change-reviewer", n)).toEqual({ action: "counted", count: n });
    }
    // d-1 at 30 s leaves at 330 s: at 329 s it still counts.
    expect(await deny(329, "change-reviewer", 10)).toMatchObject({
      action: "suspended",
      count: 10,
    });
    expect(suspended[0]?.request.reason).toBe(
      "10 policy denials within 300 s (threshold 10): suspended automatically as a runaway agent",
    );
  });

  it("an alert carries at most the 50 newest decision ids", async () => {
    const { deny, alerts } = harness({ threshold: 60 });
    for (let n = 1; n <= 60; n += 1) await deny(n / 10, "agent-a", n);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.count).toBe(60);
    expect(alerts[0]?.decision_ids).toEqual(
      Array.from({ length: 50 }, (_, i) => `d-${String(i + 11)}`),
    );
  });

  it("the alert is a record the audit log accepts and chains", async () => {
    const dir = await mkdtemp(join(tmpdir(), "limits-alert-"));
    try {
      const path = join(dir, "audit.jsonl");
      const log = await openAuditLog({ path, fsync: false });
      const { deny } = harness({ threshold: 1, alert: (record) => log.append(record) });
      expect(await deny(0, "agent-a", 1)).toEqual({ action: "suspended", count: 1, alerted: true });
      await log.close();
      const [line] = (await readFile(path, "utf8")).trim().split("\n");
      expect(JSON.parse(line ?? "")).toMatchObject({
        seq: 1,
        event: "alert",
        kind: "agent_suspended",
        agent: "agent-a",
        count: 1,
        window_seconds: 60,
        decision_ids: ["d-1"],
        outcome: { status: "suspended" },
      });
      expect(await verifyAuditFile(path)).toMatchObject({ ok: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("failures", () => {
  it("alerts when suspend throws, stays armed, and tries again at the next denial", async () => {
    let fail = true;
    const suspendCalls: string[] = [];
    const { deny, alerts, monitor } = harness({
      suspend: (agent) => {
        suspendCalls.push(agent);
        if (fail) throw new Error("kill switch store unavailable");
      },
    });
    await deny(0, "agent-a", 1);
    await deny(1, "agent-a", 2);
    expect(await deny(2, "agent-a", 3)).toEqual({
      action: "suspend_failed",
      count: 3,
      error: "Error: kill switch store unavailable",
      alerted: true,
    });
    expect(monitor.state("agent-a")).toBe("armed");
    expect(alerts).toEqual([
      {
        timestamp: isoAt(2),
        event: "alert",
        kind: "agent_suspension_failed",
        agent: "agent-a",
        count: 3,
        threshold: 3,
        window_seconds: 60,
        decision_ids: ["d-1", "d-2", "d-3"],
        outcome: { status: "failed", code: "suspend_failed" },
        details: {
          suspended_by: "system:auto-suspension",
          reason: REASON_3_IN_60,
          first_denial_at: isoAt(0),
          last_denial_at: isoAt(2),
          error: "Error: kill switch store unavailable",
        },
      },
    ]);
    fail = false;
    expect(await deny(3, "agent-a", 4)).toEqual({ action: "suspended", count: 3, alerted: true });
    expect(suspendCalls).toEqual(["agent-a", "agent-a"]);
    expect(alerts.map((a) => a.kind)).toEqual(["agent_suspension_failed", "agent_suspended"]);
    expect(alerts[1]?.decision_ids).toEqual(["d-2", "d-3", "d-4"]);
    expect(monitor.state("agent-a")).toBe("suspended");
  });

  it("treats a rejected promise from suspend the same way", async () => {
    const { deny, alerts, monitor } = harness({
      suspend: () => Promise.reject(new Error("timeout")),
    });
    await deny(0, "agent-a", 1);
    await deny(1, "agent-a", 2);
    expect(await deny(2, "agent-a", 3)).toMatchObject({
      action: "suspend_failed",
      error: "Error: timeout",
    });
    expect(alerts[0]?.kind).toBe("agent_suspension_failed");
    expect(monitor.state("agent-a")).toBe("armed");
  });

  it("does not retry a failed suspension once the denials have left the window", async () => {
    let calls = 0;
    const { deny } = harness({
      suspend: () => {
        calls += 1;
        throw new Error("down");
      },
    });
    for (const [t, n] of [
      [0, 1],
      [1, 2],
      [2, 3],
    ] as const)
      await deny(t, "agent-a", n);
    expect(calls).toBe(1);
    expect(await deny(61.5, "agent-a", 4)).toEqual({ action: "counted", count: 2 });
    expect(calls).toBe(1);
  });

  it("reports an alert that could not be written; the suspension stands", async () => {
    const { deny, monitor, suspended } = harness({
      alert: () => Promise.reject(new Error("audit_unavailable")),
    });
    await deny(0, "agent-a", 1);
    await deny(1, "agent-a", 2);
    expect(await deny(2, "agent-a", 3)).toEqual({
      action: "suspended",
      count: 3,
      alerted: false,
      alertError: "Error: audit_unavailable",
    });
    expect(suspended).toHaveLength(1);
    expect(monitor.state("agent-a")).toBe("suspended");
  });
});

describe("bounded memory", () => {
  it("keeps at most `threshold` denials per agent", async () => {
    const { deny, monitor } = harness({ threshold: 4 });
    for (let n = 0; n < 500; n += 1) await deny(n / 100, "agent-a", n);
    expect(monitor.stats()).toEqual({ agents: 1, maxAgents: 10_000, denials: 4, evictions: 0 });
    expect(DEFAULT_MAX_AGENTS).toBe(10_000);
  });

  it("evicts an agent idle for a whole window first", async () => {
    const { deny, monitor } = harness({ maxAgents: 2 });
    await deny(0, "agent-a", 1);
    await deny(10, "agent-b", 2);
    expect(await deny(65, "agent-c", 3)).toEqual({ action: "counted", count: 1 });
    expect(monitor.state("agent-a")).toBeUndefined();
    expect(monitor.stats()).toMatchObject({ agents: 2, evictions: 1 });
    // agent-b kept its denial of t=10.
    expect(await deny(66, "agent-b", 4)).toEqual({ action: "counted", count: 2 });
  });

  it("then a suspended agent, before an armed agent with denials", async () => {
    const { deny, monitor } = harness({ threshold: 2, maxAgents: 2 });
    await deny(0, "agent-b", 1); // armed, one denial, least recently denied
    await deny(1, "agent-a", 2);
    await deny(2, "agent-a", 3); // suspended
    expect(monitor.state("agent-a")).toBe("suspended");
    expect(await deny(3, "agent-c", 4)).toEqual({ action: "counted", count: 1 });
    expect(monitor.state("agent-a")).toBeUndefined();
    expect(monitor.state("agent-b")).toBe("armed");
    expect(await deny(4, "agent-b", 5)).toMatchObject({ action: "suspended", count: 2 });
  });

  it("then an armed agent below the threshold (its count is forgotten)", async () => {
    const { deny, monitor } = harness({ maxAgents: 2 });
    await deny(0, "agent-a", 1);
    await deny(1, "agent-b", 2);
    expect(await deny(2, "agent-c", 3)).toEqual({ action: "counted", count: 1 });
    expect(monitor.state("agent-a")).toBeUndefined();
    expect(monitor.state("agent-b")).toBe("armed");
  });

  it("never evicts an agent being suspended: the newcomer goes untracked", async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const { deny, monitor } = harness({
      threshold: 1,
      maxAgents: 1,
      // The first suspension hangs until released; later ones complete at once.
      suspend: () => {
        calls += 1;
        return calls === 1 ? new Promise<void>((resolve) => (release = resolve)) : undefined;
      },
    });
    const pending = deny(0, "agent-a", 1);
    expect(await deny(1, "agent-b", 2)).toEqual({ action: "untracked" });
    expect(monitor.state("agent-a")).toBe("suspending");
    release();
    await pending;
    expect(monitor.state("agent-a")).toBe("suspended");
    expect(await deny(2, "agent-b", 3)).toMatchObject({ action: "suspended" });
    expect(monitor.state("agent-a")).toBeUndefined();
  });

  it("never evicts an agent at the threshold whose suspension failed (retry pending)", async () => {
    const { deny, monitor } = harness({
      threshold: 1,
      maxAgents: 1,
      suspend: () => {
        throw new Error("down");
      },
    });
    expect(await deny(0, "agent-a", 1)).toMatchObject({ action: "suspend_failed" });
    expect(await deny(1, "agent-b", 2)).toEqual({ action: "untracked" });
    expect(monitor.state("agent-a")).toBe("armed");
    expect(monitor.stats()).toMatchObject({ agents: 1, evictions: 0 });
  });
});

describe("errors", () => {
  const base: DenialMonitorOptions = {
    threshold: 3,
    windowSeconds: 60,
    suspend: () => undefined,
    alert: () => undefined,
  };

  it.each([
    ["a zero threshold", { threshold: 0 }, "threshold must be an integer from 1 to 10000"],
    ["a fractional threshold", { threshold: 2.5 }, "threshold must be an integer from 1 to 10000"],
    ["a huge threshold", { threshold: 10_001 }, "threshold must be an integer from 1 to 10000"],
    ["no window", { windowSeconds: undefined }, "windowSeconds must be an integer from 1 to 86400"],
    [
      "a window over a day",
      { windowSeconds: 86_401 },
      "windowSeconds must be an integer from 1 to 86400",
    ],
    ["a clock that is not a function", { now: "now" }, "now must be a function"],
    ["no suspend", { suspend: undefined }, "suspend must be a function"],
    ["no alert", { alert: undefined }, "alert must be a function"],
    ["a zero maxAgents", { maxAgents: 0 }, "maxAgents must be an integer from 1 to 1000000"],
  ])("construction refuses %s", (_what, override, message) => {
    expect(thrown(() => createDenialMonitor({ ...base, ...override } as never))).toEqual({
      code: "limits_option_invalid",
      message,
    });
  });

  it("recordDenial refuses an empty agent or decision id, recording nothing", async () => {
    const monitor = createDenialMonitor(base);
    await expect(
      monitor.recordDenial("", { code: "policy_denied", decisionId: "d-1" }),
    ).rejects.toThrow(
      expect.objectContaining({
        code: "limits_key_invalid",
        message: "agent must be a string of 1 to 1024 characters",
      }),
    );
    await expect(
      monitor.recordDenial("agent-a", { code: "policy_denied", decisionId: "" }),
    ).rejects.toThrow(
      expect.objectContaining({
        code: "limits_key_invalid",
        message: "decisionId must be a string of 1 to 1024 characters",
      }),
    );
    expect(monitor.stats().agents).toBe(0);
  });

  it("recordDenial refuses a clock that returns no finite time", async () => {
    const monitor = createDenialMonitor({ ...base, now: () => Number.POSITIVE_INFINITY });
    await expect(
      monitor.recordDenial("agent-a", { code: "policy_denied", decisionId: "d-1" }),
    ).rejects.toThrow(
      expect.objectContaining({
        code: "limits_clock_invalid",
        message: "the clock must return finite epoch milliseconds",
      }),
    );
  });
});

describe("replicas sharing one denial log", () => {
  /** Two monitors (two replicas) on one log and one kill switch, on one frozen clock. */
  function replicas(log: SharedDenials) {
    const clock = frozenClock();
    const killSwitch = new Set<string>();
    const suspensions: string[] = [];
    const alerts: SuspensionAlert[] = [];
    const sharedErrors: unknown[] = [];
    const make = () =>
      createDenialMonitor({
        threshold: 3,
        windowSeconds: 60,
        now: clock.now,
        shared: log,
        onSharedError: (error) => sharedErrors.push(error),
        // The kill switch answers as the real one: nothing changes for an agent already set.
        suspend: (agent) => {
          suspensions.push(agent);
          const changed = !killSwitch.has(agent);
          killSwitch.add(agent);
          return { changed };
        },
        alert: (record) => {
          alerts.push(record);
        },
      });
    const one = make();
    const two = make();
    const deny = (monitor: DenialMonitor, seconds: number, n: number) => {
      clock.at(seconds);
      return monitor.recordDenial("agent-a", { code: "policy_denied", decisionId: `d-${n}` });
    };
    return { one, two, deny, killSwitch, suspensions, alerts, sharedErrors };
  }

  it("the threshold counts both replicas' denials: the 3rd in all suspends", async () => {
    const r = replicas(createMemoryDenials());
    expect(await r.deny(r.one, 0, 1)).toEqual({ action: "counted", count: 1 });
    expect(await r.deny(r.two, 1, 2)).toEqual({ action: "counted", count: 2 });
    expect(await r.deny(r.one, 2, 3)).toEqual({ action: "suspended", count: 3, alerted: true });
    expect(r.killSwitch).toEqual(new Set(["agent-a"]));
    expect(r.alerts).toHaveLength(1);
    expect(r.alerts[0]).toMatchObject({ count: 3, decision_ids: ["d-1", "d-2", "d-3"] });
  });

  it("the other replica reaching the threshold after it finds the agent suspended: no second alert", async () => {
    const r = replicas(createMemoryDenials());
    await r.deny(r.one, 0, 1);
    await r.deny(r.one, 1, 2);
    await r.deny(r.one, 2, 3);
    expect(await r.deny(r.two, 3, 4)).toEqual({ action: "already_suspended", count: 3 });
    expect(r.two.state("agent-a")).toBe("suspended");
    expect(r.alerts).toHaveLength(1);
  });

  it("cleared() forgets the shared denials too: the agent starts from zero everywhere", async () => {
    const r = replicas(createMemoryDenials());
    for (const [n, monitor] of [r.one, r.two, r.one].entries()) await r.deny(monitor, n, n + 1);
    r.killSwitch.clear();
    r.one.cleared("agent-a");
    r.two.cleared("agent-a");
    await Promise.resolve();
    expect(await r.deny(r.two, 10, 4)).toEqual({ action: "counted", count: 1 });
  });

  it("a lift that lands while the shared count is read: that count does not suspend again", async () => {
    let answer: (rows: { at: number; decisionId: string }[]) => void = () => undefined;
    const slow: SharedDenials = {
      record: () => new Promise((resolve) => (answer = resolve)),
      forget: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const r = replicas(slow);
    const pending = r.deny(r.one, 5, 9);
    r.one.cleared("agent-a");
    // The rows read before the lift: the threshold and more.
    answer([1, 2, 3].map((n) => ({ at: n * 1000, decisionId: `d-${n}` })));
    expect(await pending).toMatchObject({ action: "counted" });
    expect(r.suspensions).toEqual([]);
  });

  it("a shared log that fails: each replica counts its own, and says so", async () => {
    const failing: SharedDenials = {
      record: () => Promise.reject(new Error("connection refused")),
      forget: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const r = replicas(failing);
    expect(await r.deny(r.one, 0, 1)).toEqual({ action: "counted", count: 1 });
    expect(await r.deny(r.two, 1, 2)).toEqual({ action: "counted", count: 1 });
    expect(await r.deny(r.one, 2, 3)).toEqual({ action: "counted", count: 2 });
    expect(await r.deny(r.one, 3, 4)).toEqual({ action: "suspended", count: 3, alerted: true });
    expect(r.sharedErrors).toHaveLength(4);
  });
});
