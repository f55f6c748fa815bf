// The one form in which an identity is compared, everywhere one is matched (the kill switch's
// user scope, approvals' requester and approver checks, the policy's input).
//
// An e-mail address is compared case-insensitively (its domain always is; mail systems treat
// the local part so in practice): its normal form is NFC, trimmed, lower case. A token subject
// (`sub`) is an opaque, case-sensitive string (OpenID Connect Core §2) and is kept exactly.
import { z } from "zod";

export function normalizeEmail(email: string): string {
  return email.normalize("NFC").trim().toLowerCase();
}

const EMAIL = z.email();

/** Whether `value` is a syntactically valid e-mail address (after normalising). */
export function isEmail(value: string): boolean {
  return EMAIL.safeParse(normalizeEmail(value)).success;
}
