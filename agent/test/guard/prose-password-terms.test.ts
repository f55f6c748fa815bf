// How a password is stored is not a password: "the password is SHA-256-hashed", "AES256-encrypted"
// or "PBKDF2-derived" stays readable (the reviewer needs to see it), while a password stated in
// prose is still masked.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

describe("a password's storage described in prose", () => {
  it.each([
    "the password is SHA-256-hashed before storage",
    "The password will be AES256-encrypted at rest.",
    "The password is PBKDF2-derived, never stored.",
  ])("keeps the storage description readable: %s", (text) => {
    expect(guardOutput(text).value).toBe(text);
  });
});
