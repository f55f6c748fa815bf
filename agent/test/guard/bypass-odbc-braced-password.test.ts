// A review found part of a braced connection-string password passing the output guard: ODBC
// (and the drivers that copy it) let a value hold ";" by bracing it, `Password={a;b}c}`, "}}"
// escaping a "}". The assignment rule stopped the value at the first ";", so everything after it
// inside the braces stayed readable. The braced value is masked whole, up to the "}" that ends
// the attribute (a ";", a quote, a blank or the end follows it).
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const TAIL = "Zq8;wR4}mK2";

describe("braced connection-string passwords", () => {
  it.each([
    [
      "an ODBC Password after a ;",
      `Driver={ODBC Driver 18};Server=db;Password={${TAIL}};Encrypt=yes`,
    ],
    ["a Password first", `Password={${TAIL}};Server=db`],
    ["a Pwd with an escaped }}", `Server=db;Uid=sa;Pwd={x;${TAIL}}}v};`],
    ["a password at the end of the string", `Server=db;Uid=sa;Password={${TAIL}}`],
    ["a connection string inside JSON", `{"conn": "Server=db;PASSWORD={${TAIL}};App=x"}`],
    ["a passwd in a diff line", `+  dsn: Server=db;passwd={${TAIL}} ;Port=1433`],
  ])("masks %s", (_name, text) => {
    const result = guardOutput({ text });
    const out = JSON.stringify(result.value);
    expect(out).not.toContain("wR4");
    expect(out).not.toContain("mK2");
    expect(result.redactions).toBeGreaterThan(0);
  });

  it("keeps the rest of the connection string readable", () => {
    expect(guardOutput(`Server=db;Password={${TAIL}};Encrypt=yes`).value).toBe(
      "Server=db;Password=[REDACTED:password];Encrypt=yes",
    );
  });

  it.each([
    [
      "a driver name in braces",
      "Driver={ODBC Driver 18 for SQL Server};Server=db;Trusted_Connection=yes",
    ],
    ["a template reference", "Server=db;Password={{ .Values.db.password }};"],
    ["a password policy", "PasswordPolicy={minLength;12}"],
    ["prose about braces", "the password field accepts {braced;values} in ODBC"],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });

  it("1 MB of braced look-alikes takes linear time", () => {
    const text = ";Password={a;}b".repeat(70_000);
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
