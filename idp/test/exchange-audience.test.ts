// The token exchange accepts the engineer's token for the change-review service (aud
// zyx-change-review) only from that service's client: otherwise the change-remediator client
// could exchange it for a gateway token in which the remediator acts for the engineer (its
// catalog entry holds aws_modify_security_group), though the engineer never gave it a token.
import { hashClientSecret } from "../src/clients.ts";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import {
  CHANGE_REVIEW_AUDIENCE,
  DEV_ISSUER,
  GATEWAY_AUDIENCE,
  generateDevKey,
} from "../../common/keys.ts";
import { mintAccessToken } from "../src/mint.ts";
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT_TYPE, createDevIdpApp } from "../src/server.ts";

const T0 = 1_779_242_400;
const idpKey = await generateDevKey();
const REVIEWER_SECRET = "reviewer-secret-0123456789abcdefghijklmnopqrstuv";
const REMEDIATOR_SECRET = "remediator-secret-0123456789abcdefghijklmnopqrst";

const app = createDevIdpApp({
  keys: idpKey,
  issuer: DEV_ISSUER,
  clients: [
    {
      client_id: "change-reviewer",
      agent: "change-reviewer",
      secret: await hashClientSecret(REVIEWER_SECRET),
    },
    {
      client_id: "change-remediator",
      agent: "change-remediator",
      secret: await hashClientSecret(REMEDIATOR_SECRET),
    },
  ],
  // The catalog's agents (the default), as make run starts it.
  engineerAudience: CHANGE_REVIEW_AUDIENCE,
  gatewayAudience: GATEWAY_AUDIENCE,
  maxTtlSec: 300,
  now: () => T0,
});

async function exchange(clientId: string, secret: string) {
  const subject = await mintAccessToken({
    privateJwk: idpKey,
    issuer: DEV_ISSUER,
    audience: CHANGE_REVIEW_AUDIENCE,
    user: "cloud@zyxbank.example",
    groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers"],
    ttlSec: 900,
    now: T0,
  });
  const response = await app.request("/oauth/token", {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({
      grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience: GATEWAY_AUDIENCE,
    }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("who may exchange a token issued for the change-review service", () => {
  it("the change-review runtime's client may", async () => {
    const { status, body } = await exchange("change-reviewer", REVIEWER_SECRET);
    expect(status).toBe(200);
    expect(decodeJwt(String(body["access_token"]))["act"]).toEqual({ sub: "change-reviewer" });
  });

  it("another agent's client may not", async () => {
    const { status, body } = await exchange("change-remediator", REMEDIATOR_SECRET);
    expect({ status, error: body["error"] }).toEqual({ status: 400, error: "invalid_grant" });
  });
});
