// The one form in which an identity is compared, everywhere one is matched (the kill switch's
// user scope, approvals' requester and approver checks, the policy's input).
//
// An e-mail address is compared case-insensitively (its domain always is; mail systems treat
// the local part so in practice): its normal form is NFC, trimmed, lower case. A token subject
// (`sub`) is an opaque, case-sensitive string (OpenID Connect Core §2) and is kept exactly.
export function normalizeEmail(email: string): string {
  return email.normalize("NFC").trim().toLowerCase();
}
