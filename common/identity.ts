// The one form in which an identity is compared, everywhere one is matched (the kill switch's
// user scope, approvals' requester and approver checks, the policy's input).
//
// An e-mail address is compared case-insensitively (its domain always is; mail systems treat
// the local part so in practice): its normal form is NFC, trimmed, lower case. A token subject
// (`sub`) is an opaque, case-sensitive string (OpenID Connect Core §2) and is kept exactly.
export function normalizeEmail(email: string): string {
  return email.normalize("NFC").trim().toLowerCase();
}

/**
 * How long the identity a token carries may be: the gateway refuses a token beyond them
 * (token_invalid), so everything downstream (approval requests, audit records, the policy, the
 * worker's call token) can rely on them.
 */
export const IDENTITY_LIMITS = {
  subject: 512,
  email: 512,
  /** Groups per token, and characters per group. */
  groups: 512,
  group: 256,
  agent: 200,
} as const;
