// IDP_ALGORITHMS at boot: "none", a symmetric (HS*) or an unknown algorithm stops the gateway,
// and the message names IDP_ALGORITHMS, as every other bad setting's does (it used to be the
// verifier's '"algorithms" must not contain "none"' under "cannot start").
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../gateway/src/config.ts";
import { bootGateway as boot } from "../support/processes.ts";

describe("IDP_ALGORITHMS", () => {
  it("refuses none at boot, naming the variable", async () => {
    const { outcome, output } = await boot({ IDP_ALGORITHMS: "ES256,none" });
    expect(outcome, output).toBe(1);
    expect(output).toContain("bad configuration: IDP_ALGORITHMS");
  });

  it.each(["HS256", "ES256,hs512", "ES256K", "NONE"])("refuses %j, naming it", (value) => {
    expect(() => loadConfig({ IDP_ALGORITHMS: value })).toThrow(/^IDP_ALGORITHMS: /);
  });

  it("accepts asymmetric algorithms", () => {
    expect(loadConfig({ IDP_ALGORITHMS: "ES256, EdDSA" }).accessTokens.algorithms).toEqual([
      "ES256",
      "EdDSA",
    ]);
  });
});
