// IDP_ALGORITHMS at boot: "none", a symmetric (HS*) or an unknown algorithm stops the gateway,
// and the message names IDP_ALGORITHMS, as every other bad setting's does (it used to be the
// verifier's '"algorithms" must not contain "none"' under "cannot start").
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
