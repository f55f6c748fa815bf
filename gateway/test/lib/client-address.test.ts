// The client behind the socket: X-Forwarded-For only from a trusted peer, right to left.
import { describe, expect, it } from "vitest";
import { createAddressSet } from "../../../common/net-address.ts";
import { callSource } from "../../src/lib/client-address.ts";

const NONE = createAddressSet([]);
const PROXIES = createAddressSet(["10.0.0.0/29"]);

describe("callSource", () => {
  it("no readable peer: no source, whatever the header says", () => {
    expect(callSource(undefined, "10.42.16.5", PROXIES)).toBeUndefined();
    expect(callSource("not-an-ip", "10.42.16.5", PROXIES)).toBeUndefined();
  });

  it("an untrusted peer is the source; its header is only noted as ignored", () => {
    expect(callSource("203.0.113.9", undefined, NONE)).toEqual({
      ip: "203.0.113.9",
      peer: "203.0.113.9",
    });
    expect(callSource("203.0.113.9", "10.42.16.5", NONE)).toEqual({
      ip: "203.0.113.9",
      peer: "203.0.113.9",
      forwarded: "ignored",
    });
    expect(callSource("203.0.113.9", "10.42.16.5", PROXIES)?.ip).toBe("203.0.113.9");
  });

  it("from a trusted peer: the right-most entry that is not a trusted proxy", () => {
    expect(callSource("10.0.0.2", "1.1.1.1, 198.51.100.23, 10.0.0.5, 10.0.0.3", PROXIES)).toEqual({
      ip: "198.51.100.23",
      peer: "10.0.0.2",
      forwarded: "used",
    });
    // Several X-Forwarded-For headers arrive joined by ", ", in order: the same walk.
    expect(callSource("10.0.0.2", "::ffff:198.51.100.23", PROXIES)?.ip).toBe("198.51.100.23");
    // Only trusted hops: the left-most of them called (a proxy's own health check).
    expect(callSource("10.0.0.2", "10.0.0.4, 10.0.0.3", PROXIES)?.ip).toBe("10.0.0.4");
  });

  it("missing, malformed or endless chains name the last trusted hop, not a guess", () => {
    expect(callSource("10.0.0.2", "  ", PROXIES)).toEqual({
      ip: "10.0.0.2",
      peer: "10.0.0.2",
      forwarded: "missing",
    });
    expect(callSource("10.0.0.2", "198.51.100.23, 10.0.0.3, unknown", PROXIES)).toEqual({
      ip: "10.0.0.2",
      peer: "10.0.0.2",
      forwarded: "malformed",
    });
    expect(callSource("10.0.0.2", "198.51.100.23, _hidden, 10.0.0.3", PROXIES)).toEqual({
      ip: "10.0.0.3",
      peer: "10.0.0.2",
      forwarded: "malformed",
    });
    const endless = Array.from({ length: 40 }, () => "10.0.0.3").join(", ");
    expect(callSource("10.0.0.2", endless, PROXIES)?.forwarded).toBe("malformed");
  });
});
