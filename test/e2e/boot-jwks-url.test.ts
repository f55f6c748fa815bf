// The key-set URLs at boot: a plain-http IDP_JWKS_URL or POSTURE_JWKS_URL to a host other than
// loopback stops the gateway, and the message names the variable without printing the URL: one
// may carry a password or a signed query (…/jwks?token=…), and boot errors go to the log.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../gateway/src/config.ts";
import { bootGateway as boot } from "../support/processes.ts";

describe("key-set URLs", () => {
  it("refuses a plain-http IDP_JWKS_URL to another host, naming it and printing no secret", async () => {
    const { outcome, output } = await boot({
      IDP_JWKS_URL: "http://jwks-reader:s3cret-pw@idp.zyxbank.example/jwks?token=t0ken-in-query",
    });
    expect(outcome, output).toBe(1);
    expect(output).toContain("bad configuration: IDP_JWKS_URL");
    expect(output).not.toContain("s3cret-pw");
    expect(output).not.toContain("t0ken-in-query");
  });

  it.each([
    ["IDP_JWKS_URL", "http://idp.zyxbank.example/jwks"],
    ["POSTURE_JWKS_URL", "http://device-trust.zyxbank.example/jwks"],
    ["IDP_JWKS_URL", "ftp://idp.zyxbank.example/jwks"],
    ["POSTURE_JWKS_URL", "https://reader:s3cret-pw@device-trust.zyxbank.example/jwks"],
  ])("refuses %s=%s, naming it and printing no secret", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
    try {
      loadConfig({ [name]: value });
    } catch (error) {
      expect(String(error)).not.toContain("s3cret-pw");
    }
  });

  it("accepts https, and plain http on a loopback host", () => {
    expect(() => loadConfig({ IDP_JWKS_URL: "https://idp.zyxbank.example/jwks" })).not.toThrow();
    expect(() => loadConfig({ POSTURE_JWKS_URL: "http://127.0.0.1:8090/jwks" })).not.toThrow();
    expect(() => loadConfig({ IDP_JWKS_URL: "http://localhost:8090/jwks" })).not.toThrow();
  });
});
