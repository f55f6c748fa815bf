// RFC 6750 challenges (WWW-Authenticate: Bearer …), shared by the gateway and the example runtime.
//
// Invariant: what this returns can always be set as an HTTP header value. A refusal's message may
// quote a forged token's own header (jose names an unrecognised `crit` member before it checks
// any signature): a character a header cannot hold made setting the header throw, and the 401 a
// 500, on every authenticated route.

/**
 * A refusal's message as an `error_description`: RFC 6750's characters only (%x20-21 / %x23-5B /
 * %x5D-7E: a double quote becomes ', a backslash /, anything else ?), at most 256 of them.
 */
export function challengeDescription(message: string): string {
  return message
    .replaceAll('"', "'")
    .replaceAll("\\", "/")
    .replaceAll(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, "?")
    .slice(0, 256);
}
