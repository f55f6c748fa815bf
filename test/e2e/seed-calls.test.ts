// The README's curl examples, as real processes: the gateway and the worker started as
// `make run` starts them, tokens minted with `npm run token`, calls over real sockets.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, startNode, startStack, type Stack } from "../support/processes.ts";

const ENGINEER = ["--user", "engineer@zyxbank.example"];
const ENGINEER_GROUPS = [
  "--groups",
  "grp-ai-users,grp-ai-devops-readonly",
  "--agent",
  "change-reviewer",
];

describe("gateway and worker, as processes", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.stop();
  });

  const jiraRead = (access: string, posture: string, extra: Record<string, string> = {}) =>
    fetch(`${stack.gatewayUrl}/v1/tools/jira_read`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${access}`,
        "x-device-posture": posture,
        "content-type": "application/json",
        ...extra,
      },
      body: JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "readme-1" }),
    });

  it("allows the engineer (seed step 11)", async () => {
    const response = await jiraRead(
      stack.token("access", ...ENGINEER, ...ENGINEER_GROUPS),
      stack.token("posture", ...ENGINEER, "--compliant", "true"),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      result: { key: "CHG-18422", summary: expect.stringContaining("S3 bucket") as unknown },
      evidence: { untrusted: true },
    });
  });

  it("refuses the intern with user_not_in_group (seed step 12)", async () => {
    const response = await jiraRead(
      stack.token(
        "access",
        "--user",
        "intern@zyxbank.example",
        "--groups",
        "grp-ai-users",
        "--agent",
        "change-reviewer",
      ),
      stack.token("posture", "--user", "intern@zyxbank.example", "--compliant", "true"),
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: "policy_denied",
      reasons: [{ code: "user_not_in_group" }],
    });
  });

  it("refuses the unmanaged device with device_not_compliant, whatever the plain header says (seed step 13)", async () => {
    const response = await jiraRead(
      stack.token("access", ...ENGINEER, ...ENGINEER_GROUPS),
      stack.token("posture", ...ENGINEER, "--compliant", "false"),
      { "x-device-compliant": "true" },
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: "policy_denied",
      reasons: [{ code: "device_not_compliant" }],
    });
  });

  it("serves its OpenAPI document", async () => {
    const response = await fetch(`${stack.gatewayUrl}/openapi.json`);
    expect(await response.json()).toMatchObject({ openapi: "3.1.0" });
  });

  it("drains on SIGTERM, exits 0, and leaves an audit chain that verifies", async () => {
    expect(await stack.gateway.stop("SIGTERM")).toBe(0);
    const verify = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, "gateway/src/cli/audit.ts"),
        "verify",
        join(stack.stateDir, "audit/audit.jsonl"),
      ],
      {
        encoding: "utf8",
      },
    );
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/^ok: 6 records, chain intact/);
    // The witness: the closing checkpoint's head, as the gateway logged it (off this host in
    // production), is the head the file must reach.
    const heads = stack.gateway
      .output()
      .split("\n")
      .filter((line) => line.includes('"audit checkpoint"'))
      .map((line) => JSON.parse(line) as { seq: number; hash: string; reason: string });
    const last = heads.at(-1);
    expect(last).toMatchObject({ seq: 7, reason: "close" });
    const witnessed = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, "gateway/src/cli/audit.ts"),
        "verify",
        "--keys",
        join(stack.stateDir, "keys/checkpoint.jwks.json"),
        "--expect-head",
        `${String(last?.seq)}:${String(last?.hash)}`,
        join(stack.stateDir, "audit/audit.jsonl"),
      ],
      { encoding: "utf8" },
    );
    expect(witnessed.status, witnessed.stdout + witnessed.stderr).toBe(0);
  });
});

describe("configuration is validated at boot", () => {
  it("refuses to start on a bad value and names the variable", async () => {
    const gateway = startNode("gateway/src/main.ts", { GATEWAY_PORT: "eighty" });
    const code = await new Promise((done) => gateway.child.once("exit", done));
    expect(code).toBe(1);
    expect(gateway.output()).toContain("bad configuration: GATEWAY_PORT");
  });
});
