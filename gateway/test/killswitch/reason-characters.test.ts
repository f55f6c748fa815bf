// A kill-switch reason the shared store cannot hold is the administrator's bad input: a 400
// kill_switch_reason_invalid, never a 503 that reads as "PostgreSQL is down" in an incident.
// PostgreSQL's jsonb refuses a NUL (\u0000) and a lone surrogate; the state file took both, so
// only a replica set showed it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createControls } from "../../src/controls.ts";
import { ERROR_CODES } from "../../src/lib/errors.ts";
import { loadPolicyEngine } from "../../src/policy/engine.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";
import { ADMIN } from "../../../test/support/fixtures.ts";
import { createHarness } from "../support/harness.ts";
import { BUNDLE_PATH } from "../support/paths.ts";

let postgres: PrivatePostgres;
beforeAll(async () => {
  postgres = await startPostgres({ database: "ks_reason" });
}, 60_000);
afterAll(async () => {
  await postgres.stop();
});

describe("a kill-switch reason PostgreSQL's jsonb cannot hold", () => {
  it.each([
    ["a NUL", "INC-42\u0000"],
    ["a lone surrogate", "INC-42 \ud800"],
  ])("%s: 400 kill_switch_reason_invalid, nothing saved", async (_label, reason) => {
    const policy = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const dir = mkdtempSync(join(tmpdir(), "ks-reason-"));
    const controls = await createControls({
      policy,
      audit: { append: () => Promise.resolve() },
      killSwitchPath: join(dir, "unused.json"),
      killSwitchStore: {
        kind: "postgres",
        connectionString: postgres.connectionString,
        syncMs: 500,
        staleAfterMs: 3_000,
      },
      approvalStore: { kind: "sqlite", path: join(dir, "approvals.db") },
    });
    const h = await createHarness({ ports: () => ({ policy, ...controls }) });
    const headers = {
      authorization: `Bearer ${await h.accessToken(ADMIN)}`,
      "x-device-posture": await h.postureToken({ user: ADMIN.user }),
      "content-type": "application/json",
    };
    const before = controls.killSwitch.state().version;
    const response = await h.app.request("/v1/admin/kill-switch/all-writes", {
      method: "PUT",
      headers,
      body: JSON.stringify({ reason }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const problem = (await response.json()) as { code: string };
    expect(ERROR_CODES).toContain(problem.code);
    expect(problem.code).toBe("kill_switch_reason_invalid");
    expect(controls.killSwitch.state().version).toBe(before);
    // The store still works: a plain reason sets it.
    const ok = await h.app.request("/v1/admin/kill-switch/all-writes", {
      method: "PUT",
      headers,
      body: JSON.stringify({ reason: "INC-42" }),
    });
    expect(ok.status).toBe(200);
    await controls.close();
  });
});
