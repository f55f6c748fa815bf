// What a failed fetch says about whether the request reached the server, for the real adapters'
// retry rules: a write whose outcome is unknown (an error status, a connection lost after the
// request went out) is never sent twice; one that never left this machine may be.
//
// Invariant: only the codes below count as "never sent"; anything unknown counts as "maybe sent".

/** Network failures where the request never reached the server: safe to retry for any method. */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** The system error code under a fetch failure (`TypeError("fetch failed")` with `cause.code`). */
export function networkCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const cause: unknown = error.cause;
  if (typeof cause === "object" && cause !== null) {
    const code = (cause as Record<string, unknown>)["code"];
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Whether a fetch failure shows the request never reached the server. */
export function neverSent(error: unknown): boolean {
  const code = networkCode(error);
  return code !== undefined && NOT_SENT_CODES.has(code);
}
