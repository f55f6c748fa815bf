// The console's client of the identity provider and the device-trust service: an answer that is
// not a JSON object is the provider being unavailable (503), never a crash (500).
import { exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { createConsoleIdentity } from "../../src/console/identity.ts";

const { publicKey } = await generateKeyPair("ES256");
const publicJwk = { ...(await exportJWK(publicKey)), kid: "idp-test", alg: "ES256", use: "sig" };

function identityAnswering(answer: () => Response) {
  return createConsoleIdentity({
    authorizationEndpoint: "http://idp.test/oauth/authorize",
    tokenEndpoint: "http://idp.test/oauth/token",
    postureEndpoint: "http://idp.test/device-trust/posture",
    issuer: "http://idp.test",
    keys: { kind: "jwks", jwks: { keys: [publicJwk] } },
    clientId: "approvals-console",
    clientSecret: () => Promise.resolve("s3cret-for-tests"),
    redirectUri: "http://gateway.test/console/callback",
    fetch: () => Promise.resolve(answer()),
  });
}

describe("the console's identity client", () => {
  it.each([
    ["an HTML page behind a 200", () => new Response("<html>maintenance</html>", { status: 200 })],
    ["JSON null", () => Response.json(null)],
    ["a JSON string", () => Response.json("ok")],
  ])(
    "%s: identity_provider_unavailable, from sign-in and posture alike",
    async (_label, answer) => {
      const identity = identityAnswering(answer);
      const expected = {
        code: "identity_provider_unavailable",
        status: 503,
        message: "http://idp.test/oauth/token did not answer as expected",
      };
      await expect(identity.finish("code", "verifier", "nonce")).rejects.toMatchObject(expected);
      await expect(identity.posture("access-token")).rejects.toMatchObject({
        ...expected,
        message: "http://idp.test/device-trust/posture did not answer as expected",
      });
    },
  );
});
