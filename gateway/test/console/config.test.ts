// The console's settings from the environment (console/config.ts): the browser is sent to the
// identity provider's public URL, while the gateway's own calls (token, device posture) go to
// the URL it reaches the provider at; behind a container network the two differ.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { consoleOptions } from "../../src/console/config.ts";

const { publicKey } = await generateKeyPair("ES256");
const jwksFile = join(mkdtempSync(join(tmpdir(), "zyx-console-config-")), "idp.jwks.json");
writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1" }] }));
const secretFile = join(jwksFile, "..", "approvals-console.secret");
writeFileSync(secretFile, "s3cret-for-tests");
const GATEWAY = loadConfig({ GATEWAY_PORT: "8080", IDP_JWKS_FILE: jwksFile });

describe("console configuration", () => {
  it("sends the browser to CONSOLE_IDP_PUBLIC_URL and calls CONSOLE_IDP_URL itself", async () => {
    const options = consoleOptions(
      {
        CONSOLE_URL: "http://127.0.0.1:8080/console",
        // Nothing listens on port 1: the gateway's own call fails at once and names its URL.
        CONSOLE_IDP_URL: "http://127.0.0.1:1",
        CONSOLE_IDP_PUBLIC_URL: "https://sso.zyxbank.example/",
        CONSOLE_CLIENT_SECRET_FILE: secretFile,
      },
      GATEWAY,
    );
    const start = options?.identity.start();
    const url = new URL(start?.url ?? "");
    expect(`${url.origin}${url.pathname}`).toBe("https://sso.zyxbank.example/oauth/authorize");
    expect(url.searchParams.get("redirect_uri")).toBe("http://127.0.0.1:8080/console/callback");
    await expect(options?.identity.finish("code", "verifier", "nonce")).rejects.toMatchObject({
      code: "identity_provider_unavailable",
      message: "http://127.0.0.1:1/oauth/token did not answer as expected",
    });
    await expect(options?.identity.posture("access-token")).rejects.toMatchObject({
      code: "identity_provider_unavailable",
      message: "http://127.0.0.1:1/device-trust/posture did not answer as expected",
    });
  });

  it("sends the browser to CONSOLE_IDP_URL when no public URL is set", () => {
    const options = consoleOptions({ CONSOLE_IDP_URL: "http://idp.internal:8090" }, GATEWAY);
    expect(options?.identity.start().url).toMatch(
      /^http:\/\/idp\.internal:8090\/oauth\/authorize\?/,
    );
  });

  it("names CONSOLE_IDP_PUBLIC_URL when it is not an absolute http(s) URL", () => {
    expect(() =>
      consoleOptions({ CONSOLE_IDP_PUBLIC_URL: "sso.zyxbank.example" }, GATEWAY),
    ).toThrow(/^CONSOLE_IDP_PUBLIC_URL: /);
  });
});
