// A review found registry credentials passing the output guard: Docker's config.json and npm's
// .npmrc keep a user name and password as base64("user:password") under "auth" / "_auth", a key
// that names no secret, in a value that looks like nothing in particular. Both get committed (a
// CI image's config, a project's .npmrc) and so turn up in pull-request diffs.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const BASIC = Buffer.from("svc-deploy:Vq7tLm2xRb9wKp4e").toString("base64");

describe("registry credentials as base64 user:password", () => {
  it.each([
    [
      "a Docker config.json added in a diff",
      `+{\n+  "auths": {\n+    "registry.zyxbank.example": {\n+      "auth": "${BASIC}"\n+    }\n+  }\n+}`,
    ],
    [
      "a Docker config.json on one line",
      `{"auths":{"https://index.docker.io/v1/":{"auth":"${BASIC}"}}}`,
    ],
    ["an .npmrc _auth line", `//npm.zyxbank.example/:_auth=${BASIC}\nalways-auth=true`],
    ["an .npmrc _auth line, quoted and spaced", `_auth = "${BASIC}"`],
    ["a Docker auth in single quotes", `auth: '${BASIC}'`],
  ])("masks %s", (_name, text) => {
    const result = guardOutput({ patch: text });
    expect(JSON.stringify(result.value)).not.toContain(BASIC);
    expect(result.redactions).toBeGreaterThan(0);
  });

  it("keeps the file readable", () => {
    expect(guardOutput(`{"auths":{"registry.zyxbank.example":{"auth":"${BASIC}"}}}`).value).toBe(
      '{"auths":{"registry.zyxbank.example":{"auth":"[REDACTED:http_auth]"}}}',
    );
  });

  it.each([
    ["an auth type", '"auth": "oauth2"'],
    ["an auth method in YAML", "auth: kubernetesAuthMethod"],
    [
      "a base64 value that is no user:password",
      `"auth": "${Buffer.from("just-some-config-value").toString("base64")}"`,
    ],
    ["always-auth", "always-auth=true"],
    ["a credential helper", '{"credsStore": "desktop", "auths": {"registry.zyxbank.example": {}}}'],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });

  it("1 MB of auth look-alikes takes linear time", () => {
    const text = '"auth": "aaaaaaaa'.repeat(60_000);
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
