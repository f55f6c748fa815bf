// The system error codes under a failure (ECONNREFUSED, UND_ERR_SOCKET...), for deciding whether
// a request ever left this process: on the error itself, down its `cause` chain, and under a
// client's wrapped `original` (as Slack's WebClient keeps the fetch error). Shared by the worker's
// connectors (a write that never left was not applied) and the gateway's hand-off (a worker
// that could not be connected to never ran the call).
//
// Bounded: at most a few levels deep, so a cyclic cause cannot loop.
const MAX_DEPTH = 4;

function member(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** Every string `code` found on the error, its causes and wrapped originals, outermost first. */
export function causeCodes(error: unknown, depth = 0): string[] {
  if (depth > MAX_DEPTH || typeof error !== "object" || error === null) return [];
  const code = member(error, "code");
  return [
    ...(typeof code === "string" ? [code] : []),
    ...causeCodes(member(error, "cause"), depth + 1),
    ...causeCodes(member(error, "original"), depth + 1),
  ];
}

/**
 * What to log of an error whose message may quote a credential (fetch quotes the URL and any
 * header it refused): its code, its cause's code, or its name; never its message.
 */
export function errorKind(error: unknown): string {
  const code = member(error, "code");
  if (typeof code === "string") return code;
  const causeCode = member(member(error, "cause"), "code");
  if (typeof causeCode === "string") return causeCode;
  return error instanceof Error ? error.name : "error";
}
