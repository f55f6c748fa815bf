// The bounded ring under the limiter and the monitor: order, capacity, growth, overwrite.
import { describe, expect, it } from "vitest";
import { Ring } from "../../src/limits/ring.ts";

describe("Ring", () => {
  it("keeps insertion order across wrap-around and growth, never allocating past capacity", () => {
    const ring = new Ring<number>(6);
    for (const v of [1, 2, 3]) ring.push(v);
    ring.dropWhile((v) => v < 3);
    for (const v of [4, 5, 6, 7, 8]) ring.push(v);
    expect(ring.values()).toEqual([3, 4, 5, 6, 7, 8]);
    expect([ring.size, ring.oldest(), ring.newest()]).toEqual([6, 3, 8]);
    expect(ring.allocated).toBe(6);
    expect(() => {
      ring.push(9);
    }).toThrow(new RangeError("ring is full"));
  });

  it("allocates little for a key that is called rarely", () => {
    const ring = new Ring<number>(100_000);
    ring.push(1);
    expect(ring.allocated).toBe(4);
  });

  it("pushOverwrite drops the oldest value when full", () => {
    const ring = new Ring<string>(3);
    for (const v of ["a", "b", "c", "d", "e"]) ring.pushOverwrite(v);
    expect(ring.values()).toEqual(["c", "d", "e"]);
    expect([ring.oldest(), ring.newest()]).toEqual(["c", "e"]);
  });

  it("dropWhile stops at the first value to keep; clear empties", () => {
    const ring = new Ring<number>(4);
    for (const v of [5, 1, 9]) ring.push(v);
    ring.dropWhile((v) => v < 6);
    expect(ring.values()).toEqual([9]);
    ring.clear();
    expect([ring.size, ring.oldest(), ring.newest()]).toEqual([0, undefined, undefined]);
  });

  it("refuses a capacity that is not a positive integer", () => {
    expect(() => new Ring(0)).toThrow(
      new RangeError("a ring's capacity must be a positive integer"),
    );
    expect(() => new Ring(1.5)).toThrow(
      new RangeError("a ring's capacity must be a positive integer"),
    );
  });
});
