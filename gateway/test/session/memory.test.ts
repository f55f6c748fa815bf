// The in-memory session signals at their bounds: a session taint may be forgotten only while its
// actor's taint holds; an actor taint is never forgotten, and past the cap every key reads as
// tainted (fail closed); stale agents make room before an agent with denials in the window.
import { describe, expect, it, vi } from "vitest";
import { actorKey, createSessionSignals } from "../../src/session.ts";

const WINDOW_MS = 60_000;
const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);

describe("in-memory session signals at their bounds", () => {
  it("keys an actor by user and agent, apart from every session id", () => {
    const signals = createSessionSignals({ denialWindowMs: WINDOW_MS });
    signals.taint(actorKey("u-engineer", "change-reviewer"));
    expect(signals.isTainted(actorKey("u-engineer", "change-reviewer"))).toBe(true);
    expect(signals.isTainted(actorKey("u-engineer", "other-agent"))).toBe(false);
    // A session id may look like an actor key's text but cannot hold its NUL.
    expect(signals.isTainted("actor:u-engineerchange-reviewer")).toBe(false);
  });

  it("forgets the least recently tainted session at the cap, never the actor", () => {
    const signals = createSessionSignals({ denialWindowMs: WINDOW_MS, maxSessions: 3 });
    const actor = actorKey("u-attacker", "change-reviewer");
    signals.taint("s-first");
    signals.taint(actor);
    signals.taint("s-kept");
    signals.taint("s-3");
    signals.taint("s-kept"); // tainted again: now the most recent
    for (const sessionId of ["s-4", "s-5"]) {
      signals.taint(sessionId);
      signals.taint(actor);
    }
    expect(signals.isTainted("s-first")).toBe(false);
    expect(signals.isTainted("s-3")).toBe(false);
    expect(signals.isTainted("s-kept")).toBe(true);
    expect(signals.isTainted("s-5")).toBe(true);
    expect(signals.isTainted(actor)).toBe(true);
    expect(signals.stats().saturated).toBe(false);
  });

  it("past the actor cap, reads every key as tainted and says so once", () => {
    const onSaturated = vi.fn();
    const signals = createSessionSignals({
      denialWindowMs: WINDOW_MS,
      maxActors: 2,
      onSaturated,
    });
    signals.taint(actorKey("u-1", "agent"));
    signals.taint(actorKey("u-2", "agent"));
    signals.taint(actorKey("u-1", "agent")); // already held: no room needed
    expect(signals.stats().saturated).toBe(false);
    expect(signals.isTainted("s-clean")).toBe(false);
    expect(signals.isTainted(actorKey("u-3", "agent"))).toBe(false);

    signals.taint(actorKey("u-3", "agent"));
    signals.taint(actorKey("u-4", "agent"));
    expect(signals.stats().saturated).toBe(true);
    expect(onSaturated).toHaveBeenCalledTimes(1);
    for (const key of ["s-clean", actorKey("u-1", "agent"), actorKey("u-3", "agent")]) {
      expect(signals.isTainted(key)).toBe(true);
    }
  });

  it("makes room for a new agent with agents whose denials left the window first", () => {
    const signals = createSessionSignals({ denialWindowMs: WINDOW_MS, maxAgents: 2 });
    signals.recordDenial("agent-active", T0); // the oldest tracked agent...
    signals.recordDenial("agent-stale", T0 + 5_000);
    signals.recordDenial("agent-active", T0 + 50_000); // ...still denied inside the window
    signals.recordDenial("agent-new", T0 + 70_000);
    expect(signals.recentDenials("agent-active", T0 + 70_000)).toBe(1);
    expect(signals.recentDenials("agent-new", T0 + 70_000)).toBe(1);
    // With every tracked agent inside the window, the oldest tracked one goes.
    signals.recordDenial("agent-third", T0 + 71_000);
    expect(signals.recentDenials("agent-active", T0 + 71_000)).toBe(0);
    expect(signals.recentDenials("agent-new", T0 + 71_000)).toBe(1);
    expect(signals.recentDenials("agent-third", T0 + 71_000)).toBe(1);
  });
});

describe("clearing a taint, as it stood at a time", () => {
  it("clears a taint set up to the mark, not one set after it", async () => {
    const signals = createSessionSignals({ denialWindowMs: WINDOW_MS });
    const actor = actorKey("u-engineer", "change-reviewer");
    const before = await signals.clock();
    signals.taint(actor);
    expect(await signals.clearTaint(actor, before)).toEqual({ cleared: false });
    expect(signals.isTainted(actor)).toBe(true);
    const mark = await signals.clock();
    signals.taint("s-after"); // set after the mark: another key, untouched either way
    expect(await signals.clearTaint(actor, mark)).toEqual({ cleared: true });
    expect(signals.isTainted(actor)).toBe(false);
    // Tainted again right after a mark, with no time passing: that mark leaves it.
    const again = await signals.clock();
    signals.taint(actor);
    expect(await signals.clearTaint(actor, again)).toEqual({ cleared: false });
    expect(signals.isTainted(actor)).toBe(true);
  });

  it("counts the session taints forgotten at the bound", () => {
    const signals = createSessionSignals({ denialWindowMs: WINDOW_MS, maxSessions: 2 });
    for (const id of ["s-1", "s-2", "s-3", "s-2"]) signals.taint(id);
    expect(signals.stats()).toMatchObject({ sessions: 2, sessionsEvicted: 1 });
  });
});
