// Why a limits module refused to start or to answer. These codes are the module's own (not the
// gateway's problem codes): each one is a bug or a bad configuration, never a call refused for
// being over a limit (that is a result, `{ allowed: false, ... }`, not an error).
export const LIMITS_ERROR_CODES = [
  /** The "limits" section of the policy data is missing, ill-formed or out of range. */
  "limits_config_invalid",
  /** A factory option is missing or out of range (maxKeys, threshold, now, suspend, alert...). */
  "limits_option_invalid",
  /** A call key or agent id handed to check/recordDenial is not usable (empty, too long, unknown tool). */
  "limits_key_invalid",
  /** The injected clock returned something that is not a finite number of epoch milliseconds. */
  "limits_clock_invalid",
] as const;

export type LimitsErrorCode = (typeof LIMITS_ERROR_CODES)[number];

export class LimitsError extends Error {
  readonly code: LimitsErrorCode;

  constructor(code: LimitsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LimitsError";
    this.code = code;
  }
}

/** Longest agent, user or tool id a limits key accepts (verified ids are far shorter). */
export const MAX_ID_LENGTH = 1_024;

export function checkId(what: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new LimitsError(
      "limits_key_invalid",
      `${what} must be a string of 1 to ${MAX_ID_LENGTH} characters`,
    );
  }
  return value;
}

/** Reads the injected clock once, refusing a value that cannot order calls. */
export function readClock(now: () => number): number {
  const t = now();
  if (typeof t !== "number" || !Number.isFinite(t)) {
    throw new LimitsError(
      "limits_clock_invalid",
      "the clock must return finite epoch milliseconds",
    );
  }
  return t;
}

export function checkPositiveInteger(name: string, value: unknown, max: number, min = 1): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new LimitsError(
      "limits_option_invalid",
      `${name} must be an integer from ${min} to ${max}`,
    );
  }
  return value;
}

export function checkFunction<F>(name: string, value: F | undefined): F {
  if (typeof value !== "function") {
    throw new LimitsError("limits_option_invalid", `${name} must be a function`);
  }
  return value;
}
