// The call limiter with a frozen clock: the exact sliding-window semantics, each scope limiting
// exactly its own calls, Retry-After, refused calls not counted, bounded memory and the
// fail-closed rule, and every construction and call error with its code and message.
import { describe, expect, it } from "vitest";
import { readLimits } from "../../src/limits/config.ts";
import { LimitsError } from "../../src/limits/errors.ts";
import type { CallKey, LimitVerdict, RateLimiter } from "../../src/limits/rate-limiter.ts";
import { createRateLimiter, DEFAULT_MAX_KEYS } from "../../src/limits/rate-limiter.ts";
import type { FrozenClock } from "./support.ts";
import { frozenClock, limitsWith } from "./support.ts";

const ALLOWED: LimitVerdict = { allowed: true };

function refused(
  scope: "agent" | "user" | "tool",
  limit: number,
  retryAfterSeconds: number,
  cause: "limit" | "capacity" = "limit",
  windowSeconds = 60,
): LimitVerdict {
  return { allowed: false, scope, limit, windowSeconds, retryAfterSeconds, cause };
}

function call(agent: string, user: string, tool: CallKey["tool"] = "jira_read"): CallKey {
  return { agent, user, tool };
}

function setup(
  overrides: Parameters<typeof limitsWith>[0],
  maxKeys?: number,
): { clock: FrozenClock; limiter: RateLimiter; at: (s: number, key: CallKey) => LimitVerdict } {
  const clock = frozenClock();
  const limiter = createRateLimiter({ limits: limitsWith(overrides), now: clock.now, maxKeys });
  return {
    clock,
    limiter,
    at: (seconds, key) => {
      clock.at(seconds);
      return limiter.check(key);
    },
  };
}

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

describe("the sliding window (exact log, limit 3 in 60 s)", () => {
  const a = call("change-reviewer", "engineer@zyxbank.example");

  it("admits 3, refuses until the oldest call leaves at exactly t + 60 s, then slides", () => {
    const { at } = setup({ per_agent: 3 });
    expect(at(0, a)).toEqual(ALLOWED);
    expect(at(10, a)).toEqual(ALLOWED);
    expect(at(20, a)).toEqual(ALLOWED);
    expect(at(30, a)).toEqual(refused("agent", 3, 30));
    expect(at(45.5, a)).toEqual(refused("agent", 3, 15)); // 14.5 s, rounded up
    expect(at(59.999, a)).toEqual(refused("agent", 3, 1)); // 1 ms, rounded up to 1 s
    expect(at(60, a)).toEqual(ALLOWED); // the call of t=0 has left: window is (0, 60]
    expect(at(60.001, a)).toEqual(refused("agent", 3, 10)); // 10, 20, 60 in the window
    expect(at(69.999, a)).toEqual(refused("agent", 3, 1));
    expect(at(70, a)).toEqual(ALLOWED);
  });

  it("admits at 60.001 s after refusals at 30 s: refused calls are not counted", () => {
    const { at } = setup({ per_agent: 3 });
    for (const t of [0, 10, 20]) expect(at(t, a)).toEqual(ALLOWED);
    for (let t = 30; t < 60; t += 1) expect(at(t, a)).toMatchObject({ allowed: false });
    expect(at(60.001, a)).toEqual(ALLOWED);
  });

  it("a caller that waits exactly Retry-After is admitted", () => {
    const { at } = setup({ per_agent: 3 });
    for (const t of [0, 10, 20]) at(t, a);
    const verdict = at(30.75, a);
    expect(verdict).toEqual(refused("agent", 3, 30)); // 29.25 s, rounded up, never down
    if (verdict.allowed) throw new Error("unreachable");
    expect(at(30.75 + verdict.retryAfterSeconds, a)).toEqual(ALLOWED);
  });

  it("reports the window in force", () => {
    const { at } = setup({ per_agent: 1, window_seconds: 3_600 });
    expect(at(0, a)).toEqual(ALLOWED);
    expect(at(1, a)).toEqual(refused("agent", 1, 3_599, "limit", 3_600));
  });

  it("never frees capacity early when the clock steps back", () => {
    const { at } = setup({ per_agent: 3 });
    for (const t of [0, 10, 20]) expect(at(t, a)).toEqual(ALLOWED);
    expect(at(-100, a)).toEqual(refused("agent", 3, 160));
    expect(at(60, a)).toEqual(ALLOWED);
  });
});

describe("each scope limits exactly its own calls", () => {
  it("per agent: a busy agent is refused whatever the user and tool; other agents are not", () => {
    const { at } = setup({ per_agent: 2 });
    expect(at(0, call("agent-a", "u1", "jira_read"))).toEqual(ALLOWED);
    expect(at(1, call("agent-a", "u2", "github_read_pr"))).toEqual(ALLOWED);
    expect(at(2, call("agent-a", "u3", "confluence_read"))).toEqual(refused("agent", 2, 58));
    expect(at(3, call("agent-b", "u1", "jira_read"))).toEqual(ALLOWED);
    expect(at(4, call("agent-b", "u2", "github_read_pr"))).toEqual(ALLOWED);
    expect(at(5, call("agent-b", "u3", "jira_read"))).toEqual(refused("agent", 2, 58));
    expect(at(6, call("agent-c", "u3", "jira_read"))).toEqual(ALLOWED);
  });

  it("per user: a busy user is refused through any agent and tool; other users are not", () => {
    const { at } = setup({ per_user: 2 });
    expect(at(0, call("agent-a", "u1", "jira_read"))).toEqual(ALLOWED);
    expect(at(1, call("agent-b", "u1", "github_read_pr"))).toEqual(ALLOWED);
    expect(at(2, call("agent-c", "u1", "aws_dev_read"))).toEqual(refused("user", 2, 58));
    expect(at(3, call("agent-a", "u2", "jira_read"))).toEqual(ALLOWED);
    expect(at(4, call("agent-c", "u2", "aws_dev_read"))).toEqual(ALLOWED);
  });

  it("per tool: one tool for one agent and user; other tools, agents and users are not", () => {
    const { at } = setup({ per_tool: { slack_post_message: 2 } });
    const slack = call("agent-a", "u1", "slack_post_message");
    expect(at(0, slack)).toEqual(ALLOWED);
    expect(at(1, slack)).toEqual(ALLOWED);
    expect(at(2, slack)).toEqual(refused("tool", 2, 58));
    expect(at(3, call("agent-a", "u1", "jira_add_comment"))).toEqual(ALLOWED);
    expect(at(4, call("agent-a", "u1", "jira_read"))).toEqual(ALLOWED);
    expect(at(5, call("agent-b", "u1", "slack_post_message"))).toEqual(ALLOWED);
    expect(at(6, call("agent-a", "u2", "slack_post_message"))).toEqual(ALLOWED);
    expect(at(7, slack)).toEqual(refused("tool", 2, 53));
  });

  it("the catalog's own limits: 3 security-group changes a minute, the 4th refused", () => {
    const clock = frozenClock();
    const limiter = createRateLimiter({ limits: readLimits(), now: clock.now });
    const sg = call("change-reviewer", "engineer@zyxbank.example", "aws_modify_security_group");
    for (const t of [0, 1, 2]) {
      clock.at(t);
      expect(limiter.check(sg)).toEqual(ALLOWED);
    }
    clock.at(3);
    expect(limiter.check(sg)).toEqual(refused("tool", 3, 57));
    expect(limiter.check({ ...sg, tool: "jira_read" })).toEqual(ALLOWED);
  });

  it("a call refused by one scope is counted in none", () => {
    const { at } = setup({ per_agent: 2, per_user: 3, per_tool: { slack_post_message: 1 } });
    expect(at(0, call("agent-a", "u1", "slack_post_message"))).toEqual(ALLOWED);
    for (let t = 1; t <= 5; t += 1) {
      expect(at(t, call("agent-a", "u1", "slack_post_message"))).toEqual(
        refused("tool", 1, 60 - t),
      );
    }
    // Five refusals later the agent has one call counted, the user one.
    expect(at(6, call("agent-a", "u1", "jira_read"))).toEqual(ALLOWED);
    expect(at(7, call("agent-a", "u1", "jira_read"))).toEqual(refused("agent", 2, 53));
    expect(at(8, call("agent-b", "u1", "jira_read"))).toEqual(ALLOWED);
    expect(at(9, call("agent-b", "u1", "jira_read"))).toEqual(refused("user", 3, 51));
  });
});

describe("Retry-After when several scopes are full", () => {
  it("names the scope that frees up last, and the call is admitted then", () => {
    const { at } = setup({ per_agent: 2, per_user: 2 });
    expect(at(0, call("agent-a", "v"))).toEqual(ALLOWED);
    expect(at(10, call("agent-a", "w"))).toEqual(ALLOWED); // agent-a full until 60
    expect(at(20, call("agent-b", "u"))).toEqual(ALLOWED);
    expect(at(30, call("agent-c", "u"))).toEqual(ALLOWED); // u full until 80
    expect(at(40, call("agent-a", "u"))).toEqual(refused("user", 2, 40));
    expect(at(60, call("agent-a", "u"))).toEqual(refused("user", 2, 20));
    expect(at(80, call("agent-a", "u"))).toEqual(ALLOWED);
  });

  it("names the agent when the agent frees up last", () => {
    const { at } = setup({ per_agent: 2, per_user: 2 });
    expect(at(0, call("agent-b", "u"))).toEqual(ALLOWED);
    expect(at(10, call("agent-c", "u"))).toEqual(ALLOWED); // u full until 60
    expect(at(20, call("agent-a", "v"))).toEqual(ALLOWED);
    expect(at(30, call("agent-a", "w"))).toEqual(ALLOWED); // agent-a full until 80
    expect(at(40, call("agent-a", "u"))).toEqual(refused("agent", 2, 40));
  });
});

describe("bounded memory", () => {
  it("keeps at most `limit` timestamps per key however many calls it sees", () => {
    const { at, limiter } = setup({ per_agent: 7, per_user: 5, per_tool: { jira_read: 3 } });
    let admitted = 0;
    for (let t = 0; t < 2_000; t += 1) {
      if (at(t / 4, call("agent-a", "u1")).allowed) admitted += 1;
    }
    // 500 s at 3 calls per 60 s window: 3 per window, exactly.
    expect(admitted).toBe(27);
    const stats = limiter.stats();
    expect(stats.keys).toBe(3);
    expect(stats.timestamps).toBe(9);
    expect(stats.allocated).toBeLessThanOrEqual(7 + 5 + 3);
  });

  it("defaults to a cap of 100,000 keys", () => {
    const { limiter } = setup({});
    expect(DEFAULT_MAX_KEYS).toBe(100_000);
    expect(limiter.stats().maxKeys).toBe(100_000);
  });

  it("evicts idle keys first, keeping the counts of active ones", () => {
    const { at, limiter } = setup({ per_user: 1 }, 6);
    expect(at(0, call("agent-a", "u"))).toEqual(ALLOWED);
    expect(at(10, call("agent-b", "v"))).toEqual(ALLOWED);
    expect(limiter.stats().keys).toBe(6);
    expect(at(65, call("agent-c", "w"))).toEqual(ALLOWED); // agent-a's three keys are idle
    expect(limiter.stats()).toMatchObject({ keys: 6, evictions: 3, capacityRefusals: 0 });
    // v is still counted: its only call (t=10) is in the window.
    expect(at(66, call("agent-d", "v"))).toEqual(refused("user", 1, 4));
  });

  it("then keys below their limit, least recently called first, never a key at its limit", () => {
    const { at, limiter } = setup({ per_agent: 10, per_user: 1 }, 6);
    expect(at(0, call("agent-a", "u"))).toEqual(ALLOWED); // u at its limit
    expect(at(1, call("agent-b", "v"))).toEqual(ALLOWED); // v at its limit
    expect(at(2, call("agent-c", "w"))).toEqual(ALLOWED); // evicts agent-a, tool a/u, agent-b
    expect(limiter.stats()).toMatchObject({ keys: 6, evictions: 3 });
    // u and v kept their counts: over their limit, still refused.
    expect(at(3, call("agent-d", "u"))).toEqual(refused("user", 1, 57));
    expect(at(4, call("agent-e", "v"))).toEqual(refused("user", 1, 57));
  });

  it("never evicts the keys of the call being checked", () => {
    const { at, limiter } = setup({ per_agent: 2 }, 3);
    expect(at(0, call("agent-a", "u", "jira_read"))).toEqual(ALLOWED);
    // Needs one new key (tool agent-a/u/slack); the least recently called key is agent-a's own,
    // which stays: the tool key agent-a/u/jira_read goes instead.
    expect(at(1, call("agent-a", "u", "slack_post_message"))).toEqual(ALLOWED);
    expect(limiter.stats()).toMatchObject({ keys: 3, evictions: 1 });
    expect(at(2, call("agent-a", "u", "slack_post_message"))).toEqual(refused("agent", 2, 58));
  });

  it("fails closed when every key is at its limit: refused, then admitted once one frees", () => {
    const { at, limiter } = setup({ per_agent: 1, per_user: 1, per_tool: { jira_read: 1 } }, 3);
    expect(at(0, call("agent-a", "u"))).toEqual(ALLOWED);
    expect(at(10, call("agent-b", "v"))).toEqual(refused("agent", 1, 50, "capacity"));
    expect(at(59.5, call("agent-b", "v"))).toEqual(refused("agent", 1, 1, "capacity"));
    expect(limiter.stats()).toMatchObject({ keys: 3, evictions: 0, capacityRefusals: 2 });
    expect(at(60, call("agent-b", "v"))).toEqual(ALLOWED);
    expect(limiter.stats()).toMatchObject({ keys: 3, evictions: 3, capacityRefusals: 2 });
    // agent-a's keys were idle and are gone; agent-b is now the one at its limit.
    expect(at(61, call("agent-b", "v"))).toEqual(refused("agent", 1, 59));
  });

  it("names the first scope that needed a new key when it cannot track the call", () => {
    const { at } = setup({ per_agent: 1, per_user: 5, per_tool: { jira_read: 1 } }, 3);
    expect(at(0, call("agent-a", "u"))).toEqual(ALLOWED);
    // agent-a is at its limit (refused by limit, not capacity).
    expect(at(1, call("agent-a", "v"))).toEqual(refused("agent", 1, 59));
    // agent-b/u needs two new keys (agent-b, tool b/u/jira); user u is the call's own key, and
    // agent-a and tool a/u/jira are at their limits: nothing can go, the agent scope is named.
    expect(at(2, call("agent-b", "u"))).toEqual(refused("agent", 1, 58, "capacity"));
  });
});

describe("errors", () => {
  const good = readLimits();

  it.each([
    [
      "bad limits",
      { limits: { ...good, per_agent: 0 } },
      "limits_config_invalid",
      "limits are invalid: limits.per_agent: must be an integer from 1 to 100000",
    ],
    ["no limits", {}, "limits_config_invalid", "limits are invalid: limits: must be an object"],
    [
      "a clock that is not a function",
      { limits: good, now: 5 },
      "limits_option_invalid",
      "now must be a function",
    ],
    [
      "maxKeys below one call's three keys",
      { limits: good, maxKeys: 2 },
      "limits_option_invalid",
      "maxKeys must be an integer from 3 to 10000000",
    ],
    [
      "a fractional maxKeys",
      { limits: good, maxKeys: 3.5 },
      "limits_option_invalid",
      "maxKeys must be an integer from 3 to 10000000",
    ],
  ])("construction refuses %s", (_what, options, code, message) => {
    expect(thrown(() => createRateLimiter(options as never))).toEqual({ code, message });
  });

  it.each([
    ["an empty agent", call("", "u"), "agent must be a string of 1 to 1024 characters"],
    [
      "a user that is not a string",
      { agent: "a", user: 7, tool: "jira_read" },
      "user must be a string of 1 to 1024 characters",
    ],
    [
      "an overlong user",
      call("a", "u".repeat(1_025)),
      "user must be a string of 1 to 1024 characters",
    ],
    [
      "an unknown tool",
      call("a", "u", "jira_delete"),
      "tool jira_delete has no limit (not in the catalog)",
    ],
  ])("check refuses %s, counting nothing", (_what, key, message) => {
    const { limiter, clock } = setup({});
    clock.at(0);
    expect(thrown(() => limiter.check(key as CallKey))).toEqual({
      code: "limits_key_invalid",
      message,
    });
    expect(limiter.stats().keys).toBe(0);
  });

  it("check refuses a clock that returns no finite time", () => {
    const limiter = createRateLimiter({ limits: good, now: () => Number.NaN });
    expect(thrown(() => limiter.check(call("a", "u")))).toEqual({
      code: "limits_clock_invalid",
      message: "the clock must return finite epoch milliseconds",
    });
    expect(limiter.stats().keys).toBe(0);
  });
});
