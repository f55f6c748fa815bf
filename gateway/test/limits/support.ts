// Shared by the limits tests: a frozen clock in seconds, and limits derived from the real
// "limits" section of the policy data with chosen overrides.
import type { Limits } from "../../src/limits/config.ts";
import { readLimits } from "../../src/limits/config.ts";

/** 2026-11-21T09:00:00Z: a fixed origin so the clock never reads the machine's time. */
export const ORIGIN_MS = Date.UTC(2026, 10, 21, 9, 0, 0);

export interface FrozenClock {
  now: () => number;
  /** Sets the clock to ORIGIN + `seconds` (fractions allowed). */
  at: (seconds: number) => void;
}

export function frozenClock(): FrozenClock {
  let ms = ORIGIN_MS;
  return {
    now: () => ms,
    at: (seconds) => {
      ms = ORIGIN_MS + Math.round(seconds * 1000);
    },
  };
}

export function isoAt(seconds: number): string {
  return new Date(ORIGIN_MS + Math.round(seconds * 1000)).toISOString();
}

/** The real section, each limit raised out of the way unless overridden. */
export function limitsWith(
  overrides: Partial<Omit<Limits, "per_tool">> & { per_tool?: Partial<Limits["per_tool"]> },
): Limits {
  const real = readLimits();
  const perTool = Object.fromEntries(
    Object.keys(real.per_tool).map((tool) => [tool, 1_000]),
  ) as Limits["per_tool"];
  return {
    ...real,
    per_agent: 1_000,
    per_user: 1_000,
    ...overrides,
    per_tool: { ...perTool, ...overrides.per_tool } as Limits["per_tool"],
  };
}
