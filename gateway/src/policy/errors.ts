// Why the policy engine could not give a decision. Each one is a deny.
export const POLICY_ERROR_CODES = [
  "policy_bundle_missing",
  "policy_bundle_corrupt",
  "policy_bundle_unsigned",
  "policy_bundle_signature_invalid",
  "policy_key_missing",
  // Anti-rollback (rollback.ts): a bundle without a build serial, a serial below the highest
  // accepted (or equal to it with other content), or a high-water mark that cannot be read.
  "policy_bundle_serial_missing",
  "policy_bundle_rollback",
  "policy_rollback_state_unavailable",
  "policy_evaluation_failed",
  "policy_result_empty",
  "policy_result_malformed",
] as const;

export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number];

export class PolicyError extends Error {
  readonly code: PolicyErrorCode;

  constructor(code: PolicyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PolicyError";
    this.code = code;
  }
}

/** Describes anything thrown, including the strings that the opa-wasm SDK throws. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return `${thrown.name}: ${thrown.message}`;
  if (typeof thrown === "string") return thrown;
  try {
    // JSON.stringify gives undefined (typed as string) for undefined and functions.
    const text = JSON.stringify(thrown) as string | undefined;
    return text ?? typeof thrown;
  } catch {
    return "unprintable value";
  }
}
