// Where a call came from, for its audit records: the socket's peer, and the client behind it when
// that peer is one of the configured trusted proxies (TRUSTED_PROXIES, default none).
//
// Invariants.
// - The network, like the identity, is never taken from a plain header of an untrusted peer:
//   with no trusted proxies configured, or from a peer that is not one, X-Forwarded-For is
//   ignored (recorded as `forwarded: "ignored"`, its content never copied into the record).
// - From a trusted peer, X-Forwarded-For is read right to left (every proxy appends the address
//   it saw), skipping trusted proxies: the first address that is not one is the client. Never
//   the left-most blindly: a client writes whatever it likes there.
// - Every address is a validated literal in canonical form (common/net-address.ts: zone ids
//   stripped, IPv4-mapped IPv6 as IPv4); nothing resolves DNS. Read once per request, by the
//   door, and carried in the CallRequest.
//
// Failure modes. No readable socket address (app.request() in tests, a socket already gone):
// no source at all, never a guessed one. A trusted peer without the header, or whose header
// holds something that is not an address before a client was found: the client is the last
// trusted hop reached (`forwarded: "missing"` / `"malformed"`), so the record names the proxy
// rather than an address nobody vouched for.
import type { Context } from "hono";
import { normalizeAddress, type AddressSet } from "../../../common/net-address.ts";

/** How X-Forwarded-For was used: only when the peer is trusted, or "ignored" when it is not. */
export type ForwardedUse = "used" | "missing" | "malformed" | "ignored";

/** The `source` member of every audit record of a call. */
export interface CallSource {
  /** The client: the peer, or the client a trusted proxy forwarded for. */
  ip: string;
  /** The socket's remote address. */
  peer: string;
  /** Absent: the peer is not a proxy we trust and sent no X-Forwarded-For. */
  forwarded?: ForwardedUse;
}

/** Most X-Forwarded-For entries examined (right to left): a longer chain is malformed. */
const MAX_HOPS = 32;

/** The client behind a trusted peer, from the X-Forwarded-For value (right to left). */
export function forwardedClient(
  peer: string,
  header: string | undefined,
  trusted: AddressSet,
): CallSource {
  if (header === undefined || header.trim() === "") return { ip: peer, peer, forwarded: "missing" };
  const hops = header.split(",");
  let last = peer;
  for (let i = hops.length - 1, seen = 0; i >= 0 && seen < MAX_HOPS; i--, seen++) {
    const address = normalizeAddress(hops[i]);
    if (address === undefined) return { ip: last, peer, forwarded: "malformed" };
    if (!trusted.has(address)) return { ip: address, peer, forwarded: "used" };
    last = address;
  }
  // Every hop is a trusted proxy (a proxy's own health check): the left-most of them called.
  // Past MAX_HOPS without a client: the chain is not one we can vouch for.
  return hops.length > MAX_HOPS
    ? { ip: last, peer, forwarded: "malformed" }
    : { ip: last, peer, forwarded: "used" };
}

/** Where a call came from, given its socket peer and X-Forwarded-For; undefined: no peer. */
export function callSource(
  rawPeer: string | undefined,
  header: string | undefined,
  trusted: AddressSet,
): CallSource | undefined {
  const peer = normalizeAddress(rawPeer);
  if (peer === undefined) return undefined;
  if (trusted.has(peer)) return forwardedClient(peer, header, trusted);
  return header === undefined ? { ip: peer, peer } : { ip: peer, peer, forwarded: "ignored" };
}

interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: unknown } };
}

/**
 * The socket's remote address under @hono/node-server (`c.env.incoming`, or `c.env.server`
 * when wrapped, as its getConnInfo reads it); undefined elsewhere (app.request() without env).
 */
export function peerAddress(c: Context): string | undefined {
  const env = c.env as (NodeBindings & { server?: NodeBindings }) | undefined;
  const bindings = env?.server ?? env;
  const address = bindings?.incoming?.socket?.remoteAddress;
  return typeof address === "string" ? address : undefined;
}

/** The request's source, read once by the door that hands the call to the pipeline. */
export function sourceOf(c: Context, trusted: AddressSet): CallSource | undefined {
  return callSource(peerAddress(c), c.req.header("x-forwarded-for"), trusted);
}

/**
 * A route factory's option: where a request came from (sourceOf bound to the gateway's trusted
 * proxies), for the audit records of what an administrator or approver did.
 */
export type SourceOf = (c: Context) => CallSource | undefined;

/** Checks the option at construction (absent is allowed: no source recorded). */
export function checkSourceOf(sourceOf: unknown): void {
  if (sourceOf !== undefined && typeof sourceOf !== "function") {
    throw new TypeError("sourceOf must be a function");
  }
}
