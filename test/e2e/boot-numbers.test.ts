// Numeric settings at boot: a blank or oddly written number must stop the gateway and name the
// variable. Number(" ") is 0, and IDP_MAX_TOKEN_AGE_SEC=0 turns the token age check off: a
// setting mangled by a template (a space left where the value was) must not weaken the gateway.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../gateway/src/config.ts";
import { freePort } from "../../gateway/test/support/opa-server.ts";
import { startNode } from "../support/processes.ts";

/** Starts the gateway; resolves with its exit code, or "listening" (then stopped). */
async function boot(
  env: Record<string, string>,
): Promise<{ outcome: number | string | null; output: string }> {
  const gateway = startNode("gateway/src/main.ts", {
    ZYX_STATE_DIR: mkdtempSync(join(tmpdir(), "zyx-boot-")),
    GATEWAY_PORT: String(await freePort()),
    ...env,
  });
  const deadline = Date.now() + 15_000;
  while (gateway.child.exitCode === null && Date.now() < deadline) {
    if (gateway.output().includes('"message":"listening"')) {
      await gateway.stop("SIGKILL");
      return { outcome: "listening", output: gateway.output() };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { outcome: await gateway.stop("SIGKILL"), output: gateway.output() };
}

describe("numeric settings", () => {
  it("refuses a blank IDP_MAX_TOKEN_AGE_SEC at boot instead of turning the age check off", async () => {
    const { outcome, output } = await boot({ IDP_MAX_TOKEN_AGE_SEC: " " });
    expect(outcome, output).toBe(1);
    expect(output).toContain("bad configuration: IDP_MAX_TOKEN_AGE_SEC");
  });

  it.each([
    ["IDP_MAX_TOKEN_AGE_SEC", "\t"],
    ["IDP_CLOCK_TOLERANCE_SEC", " "],
    ["IDP_TOKEN_CACHE_MAX", " "],
    ["WORKER_TIMEOUT_MS", "1e4"],
    ["WORKER_TIMEOUT_MS", "0x2710"],
    ["BODY_LIMIT_BYTES", "64k"],
    ["GATEWAY_PORT", "+8080"],
    ["DENIAL_WINDOW_SEC", "900.0"],
  ])("refuses %s=%j, naming it", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
  });

  it("still reads plain digits", () => {
    expect(loadConfig({ IDP_MAX_TOKEN_AGE_SEC: "0" }).accessTokens.maxTokenAgeSec).toBe(0);
    expect(loadConfig({ WORKER_TIMEOUT_MS: "2500" }).worker.timeoutMs).toBe(2_500);
    expect(loadConfig({}).port).toBe(8080);
  });
});
