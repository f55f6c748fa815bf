// A review found .netrc's fallback entry passing the output guard: `default login x password y`
// (the entry curl, git and ftp use for every host no `machine` line names) has the same shape as
// a `machine` entry without the host, and only the `machine` form was matched.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const PASSWORD = "Hq7vN2xLp9";

describe(".netrc default entries", () => {
  it.each([
    ["on one line", `default login deploy password ${PASSWORD}`],
    [
      "on several lines",
      `machine git.zyxbank.example\n  login ci\n  password p1x\ndefault\n  login deploy\n  password ${PASSWORD}\n`,
    ],
    ["in a diff", `+default login deploy password ${PASSWORD}`],
    ["quoted", `default login "deploy" password "${PASSWORD}"`],
    ["with tabs", `default\tlogin deploy\tpassword ${PASSWORD}`],
  ])("masks one %s", (_name, text) => {
    const result = guardOutput({ text });
    expect(JSON.stringify(result.value)).not.toContain(PASSWORD);
    expect(result.redactions).toBeGreaterThan(0);
  });

  it("keeps the entry readable", () => {
    expect(guardOutput(`default login deploy password ${PASSWORD}`).value).toBe(
      "default login deploy password [REDACTED:password]",
    );
  });

  it.each([
    ["prose about the default login", "The default login page asks for a password reset."],
    ["a default login setting", "default login shell is /bin/bash; password aging is off"],
    ["a sentence naming the form", "default login is admin, the password is on the sticker"],
    ["a login form's defaults", "default login form, no password manager prompt"],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });

  it("1 MB of default-entry look-alikes takes linear time", () => {
    const text = "default login a password\ndefault ".repeat(35_000);
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
