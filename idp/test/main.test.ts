// The identity provider as a process (npm run idp): it creates its keys and clients, serves on a
// free port, exchanges the engineer's token for the agent over a real socket, and stops cleanly
// on SIGTERM. The issued token passes the gateway's verifier with the key set fetched remotely.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { devClientPaths } from "../src/clients.ts";
import {
  CHANGE_REVIEW_AUDIENCE,
  DEV_ISSUER,
  GATEWAY_AUDIENCE,
  devKeyPaths,
  readPrivateJwk,
} from "../../common/keys.ts";
import { mintAccessToken } from "../src/mint.ts";
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT_TYPE } from "../src/server.ts";
import { createAccessTokenVerifier } from "../../gateway/src/identity/access-token.ts";
import { startNode, type Started } from "../../test/support/processes.ts";

const SCRIPT = "idp/src/main.ts";
const running: Started[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((started) => started.stop("SIGKILL")));
});

function start(env: Record<string, string>): Started {
  const started = startNode(SCRIPT, env);
  running.push(started);
  return started;
}

async function logLine(started: Started, message: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    for (const line of started.output().split("\n")) {
      if (!line.startsWith("{")) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry["message"] === message) return entry;
    }
    if (started.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no "${message}" log line:\n${started.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function exited(started: Started): Promise<number | null> {
  if (started.child.exitCode !== null) return started.child.exitCode;
  return new Promise((resolve) => started.child.once("exit", resolve));
}

describe("the identity provider process", () => {
  it("exchanges the engineer's token for the agent over a real socket, then stops on SIGTERM", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "zyx-idp-process-"));
    const idp = start({ ZYX_STATE_DIR: stateDir, IDP_PORT: "0", IDP_TOKEN_TTL_SEC: "120" });
    const listening = await logLine(idp, "listening");
    expect(listening).toMatchObject({
      service: "idp",
      level: "info",
      address: "127.0.0.1",
      issuer: DEV_ISSUER,
      clients: ["change-reviewer", "change-remediator", "approvals-console"],
      registered: ["change-reviewer", "change-remediator", "approvals-console"],
    });
    const base = `http://127.0.0.1:${String(listening["port"])}`;
    expect(listening["url"]).toBe(base);

    const discovery = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as {
      jwks_uri: string;
      token_endpoint: string;
    };
    expect(discovery.token_endpoint).toBe(`${base}/oauth/token`);

    const subjectToken = await mintAccessToken({
      privateJwk: await readPrivateJwk(devKeyPaths(stateDir).signers.idp.privateJwk),
      issuer: DEV_ISSUER,
      audience: CHANGE_REVIEW_AUDIENCE,
      user: "engineer@zyxbank.example",
      groups: ["grp-ai-users", "grp-ai-devops-readonly"],
      ttlSec: 900,
    });
    const secret = readFileSync(devClientPaths(stateDir).secret("change-reviewer"), "utf8").trim();
    const response = await fetch(discovery.token_endpoint, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`change-reviewer:${secret}`).toString("base64")}`,
      },
      body: new URLSearchParams({
        grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
        subject_token: subjectToken,
        subject_token_type: ACCESS_TOKEN_TYPE,
        audience: GATEWAY_AUDIENCE,
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { access_token: string; expires_in: number };
    expect(body.expires_in).toBeGreaterThan(115);
    expect(body.expires_in).toBeLessThanOrEqual(120);

    const verifier = createAccessTokenVerifier({
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      keys: { kind: "remote", url: new URL(discovery.jwks_uri) },
    });
    expect(await verifier.verify(body.access_token)).toMatchObject({
      subject: "engineer@zyxbank.example",
      groups: ["grp-ai-users", "grp-ai-devops-readonly"],
      agent: "change-reviewer",
    });
    expect(await logLine(idp, "token_exchanged")).toMatchObject({
      client_id: "change-reviewer",
      sub: "engineer@zyxbank.example",
    });
    expect(idp.output()).not.toContain(secret);
    expect(idp.output()).not.toContain(body.access_token);

    idp.child.kill("SIGTERM");
    expect(await exited(idp)).toBe(0);
    expect(await logLine(idp, "stopped")).toMatchObject({ service: "idp" });

    // A restart keeps the clients and their secrets.
    const again = start({ ZYX_STATE_DIR: stateDir, IDP_PORT: "0" });
    expect(await logLine(again, "listening")).toMatchObject({ registered: [] });
    expect(readFileSync(devClientPaths(stateDir).secret("change-reviewer"), "utf8").trim()).toBe(
      secret,
    );
  });

  it.each<[string, string, Record<string, string>]>([
    [
      "IDP_PORT",
      "http",
      { message: "bad configuration: IDP_PORT must be an integer from 0 to 65535" },
    ],
    [
      "IDP_PORT",
      "70000",
      { message: "bad configuration: IDP_PORT must be an integer from 0 to 65535" },
    ],
    [
      "IDP_TOKEN_TTL_SEC",
      "0",
      { message: "bad configuration: IDP_TOKEN_TTL_SEC must be an integer from 1 to 86400" },
    ],
    [
      "IDP_SUBJECT_AUDIENCE",
      GATEWAY_AUDIENCE,
      {
        message: "cannot start",
        error: '"engineerAudience" and "gatewayAudience" must differ',
      },
    ],
  ])("refuses %s=%s and exits 1", async (name, value, expected) => {
    const stateDir = mkdtempSync(join(tmpdir(), "zyx-idp-process-"));
    const idp = start({ ZYX_STATE_DIR: stateDir, IDP_PORT: "0", [name]: value });
    expect(await exited(idp)).toBe(1);
    expect(await logLine(idp, expected["message"] ?? "")).toMatchObject({
      service: "idp",
      level: "error",
      ...expected,
    });
  });
});
