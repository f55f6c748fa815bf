// CONSOLE switches the approver console off with "off"; any other spelling of "off" ("false",
// "0", "no", "OFF", " off") used to leave the console served, which is the opposite of what the
// operator asked. A value other than "on" or "off" must stop the gateway and name CONSOLE.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../gateway/src/config.ts";
import { consoleOptions } from "../../gateway/src/console/config.ts";
import { bootGateway as boot } from "../support/processes.ts";

const { publicKey } = await generateKeyPair("ES256");
const jwksFile = join(mkdtempSync(join(tmpdir(), "zyx-console-switch-")), "idp.jwks.json");
writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1" }] }));
const gateway = loadConfig({ IDP_JWKS_FILE: jwksFile });

describe("CONSOLE", () => {
  it("refuses CONSOLE=false at boot instead of serving the console", async () => {
    const { outcome, output } = await boot({ CONSOLE: "false" });
    expect(outcome, output).toBe(1);
    expect(output).toContain("bad configuration: CONSOLE");
  });

  it.each(["0", "no", "OFF", " off", "disabled"])("refuses CONSOLE=%j, naming it", (value) => {
    expect(() => consoleOptions({ CONSOLE: value }, gateway)).toThrow(/^CONSOLE: /);
  });

  it("serves the console unset, empty or on, and none with off", () => {
    expect(consoleOptions({}, gateway)).toBeDefined();
    expect(consoleOptions({ CONSOLE: "" }, gateway)).toBeDefined();
    expect(consoleOptions({ CONSOLE: "on" }, gateway)).toBeDefined();
    expect(consoleOptions({ CONSOLE: "off" }, gateway)).toBeUndefined();
  });
});
