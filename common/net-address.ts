// Network addresses as the audit records and the detections see them: one canonical text form
// per address, and CIDR sets to test them against.
//
// Invariants. `normalizeAddress` accepts only a literal IPv4 or IPv6 address (never a host name:
// nothing here resolves DNS), strips square brackets and an IPv6 zone id (`fe80::1%eth0`), and
// returns one canonical text: IPv4 dotted quad, IPv6 compressed lower case (RFC 5952), and an
// IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket reports an IPv4 peer) as
// the IPv4 address it maps. Two spellings of one address therefore compare equal as strings.
// A CIDR set holds IPv4 and IPv6 ranges; an IPv4 address is inside an IPv6 range only when the
// range holds its IPv4-mapped form (::ffff:0:0/96, or ::/0), and an IPv4-mapped range
// (::ffff:10.0.0.0/104) is the IPv4 range it maps (10.0.0.0/8).
//
// Failure modes. Anything else (a name, a port, garbage, an empty string) normalises to
// undefined: callers decide what an unreadable address means. A CIDR that does not parse, or
// whose prefix is out of range, throws NetAddressError `cidr_invalid` when the set is built, so a
// misconfigured range stops the boot or the rule load instead of silently matching nothing.
import { BlockList, isIP } from "node:net";

export class NetAddressError extends Error {
  readonly code = "cidr_invalid";
  constructor(message: string) {
    super(message);
    this.name = "NetAddressError";
  }
}

const MAPPED_V4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;
/** Longest literal worth parsing: a full IPv6 with an embedded IPv4 and a zone id fits. */
const MAX_LITERAL = 100;

function canonicalV6(address: string): string | undefined {
  // WHATWG URL serialises IPv6 hosts in RFC 5952 form (compressed, lower case, mapped IPv4 as
  // hex); a literal, so no resolution happens.
  let host: string;
  try {
    host = new URL(`http://[${address}]/`).hostname;
  } catch {
    return undefined;
  }
  const v6 = host.slice(1, -1);
  const mapped = MAPPED_V4.exec(v6);
  if (mapped === null) return v6;
  const high = Number.parseInt(mapped[1] ?? "0", 16);
  const low = Number.parseInt(mapped[2] ?? "0", 16);
  return `${String(high >> 8)}.${String(high & 255)}.${String(low >> 8)}.${String(low & 255)}`;
}

/** The canonical text of a literal IPv4/IPv6 address, or undefined when it is not one. */
export function normalizeAddress(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length === 0 || raw.length > MAX_LITERAL) return undefined;
  let text = raw.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const family = isIP(text);
  if (family === 4) return text;
  if (family === 6) return canonicalV6(text);
  return undefined;
}

/** A set of CIDR ranges; `has` takes a canonical address (normalizeAddress's output). */
export interface AddressSet {
  has(address: string): boolean;
  readonly size: number;
}

/** Parses `a.b.c.d/n` or `x::y/n` (a bare address is its /32 or /128). Throws cidr_invalid. */
export function parseCidr(text: string): { network: string; prefix: number; family: 4 | 6 } {
  const [rawNetwork = "", rawPrefix, ...rest] = text.trim().split("/");
  const network = normalizeAddress(rawNetwork);
  if (network === undefined || rest.length > 0 || rawNetwork.includes("%"))
    throw new NetAddressError(`${text}: not an IPv4 or IPv6 CIDR`);
  const family = isIP(network) === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  if (rawPrefix !== undefined && !/^[0-9]{1,3}$/.test(rawPrefix))
    throw new NetAddressError(`${text}: the prefix length must be a number`);
  const prefix = rawPrefix === undefined ? max : Number(rawPrefix);
  // A mapped IPv6 range (::ffff:10.0.0.0/104) became IPv4: its prefix counts 96 bits fewer.
  const mappedShift = family === 4 && isIP(rawNetwork.replace(/^\[|\]$/g, "")) === 6 ? 96 : 0;
  const bits = prefix - mappedShift;
  if (bits < 0 || bits > max)
    throw new NetAddressError(`${text}: the prefix length must be 0 to ${String(max)}`);
  return { network, prefix: bits, family };
}

/** The set of `cidrs` (each as parseCidr takes it). Throws cidr_invalid on the first bad one. */
export function createAddressSet(cidrs: readonly string[]): AddressSet {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const { network, prefix, family } = parseCidr(cidr);
    list.addSubnet(network, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  const size = cidrs.length;
  return {
    size,
    has(address) {
      if (size === 0) return false;
      const family = isIP(address);
      if (family === 0) return false;
      return list.check(address, family === 4 ? "ipv4" : "ipv6");
    },
  };
}
