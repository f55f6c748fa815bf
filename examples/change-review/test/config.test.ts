// The runtime's configuration: the embedded defaults, overrides, and a bad value naming its
// variable.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

describe("loadConfig", () => {
  it("defaults to the embedded development set-up", () => {
    expect(loadConfig({})).toEqual({
      host: "127.0.0.1",
      port: 8070,
      gateway: { url: "http://127.0.0.1:8080", timeoutMs: 15_000 },
      idp: {
        issuer: "zyx-dev-idp",
        jwksUrl: "http://127.0.0.1:8090/.well-known/jwks.json",
        allowHttp: false,
        tokenUrl: "http://127.0.0.1:8090/oauth/token",
        timeoutMs: 5_000,
      },
      audience: "zyx-change-review",
      gatewayAudience: "zyx-agent-gateway",
      client: { id: "change-reviewer", secretFile: ".state/clients/change-reviewer.secret" },
      defaultOwner: "zyx-bank",
      review: {
        awsAccount: "111122223333",
        awsRegion: "ap-southeast-1",
        standardsSpace: "SEC",
        slackChannel: "devsecops-change-review",
      },
      model: undefined,
    });
  });

  it("derives the identity provider's endpoints and the secret file from their parts", () => {
    const config = loadConfig({
      IDP_URL: "http://idp:8090/",
      ZYX_STATE_DIR: "/var/lib/zyx",
      AGENT_CLIENT_ID: "change-reviewer",
      GATEWAY_URL: "http://gateway:8080",
      AGENT_PORT: "0",
      MODEL_URL: "http://model:11434/v1/chat/completions",
      MODEL_NAME: "small",
      // docker-compose writes an empty value for "unset"
      IDP_JWKS_URL: "",
    });
    expect(config.idp.jwksUrl).toBe("http://idp:8090/.well-known/jwks.json");
    expect(config.idp.tokenUrl).toBe("http://idp:8090/oauth/token");
    expect(config.client.secretFile).toBe("/var/lib/zyx/clients/change-reviewer.secret");
    expect(config.gateway.url).toBe("http://gateway:8080");
    expect(config.port).toBe(0);
    expect(config.model).toEqual({
      url: "http://model:11434/v1/chat/completions",
      name: "small",
      apiKeyFile: undefined,
    });
  });

  it.each([
    [{ AGENT_PORT: "eighty" }, "AGENT_PORT: "],
    [{ GATEWAY_URL: "gateway:8080" }, "GATEWAY_URL: must be an http or https URL"],
    [{ IDP_URL: "not a url" }, "IDP_URL: must be an absolute URL"],
    [{ REVIEW_AWS_ACCOUNT: "1234" }, "REVIEW_AWS_ACCOUNT: must be a 12-digit AWS account id"],
    [{ AGENT_CLIENT_ID: "../x" }, "AGENT_CLIENT_ID: must be an agent id"],
    [{ MODEL_URL: "http://model" }, "MODEL_NAME: required when MODEL_URL is set"],
  ])("refuses %j, naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
