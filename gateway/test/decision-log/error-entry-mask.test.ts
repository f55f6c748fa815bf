// The entry of a call the policy could not decide carries the engine's error message, and the
// message is masked as the audit masks it: an OPA server URL with a password in its user info
// (POLICY_OPA_URL), quoted by the engine's error, reaches neither the audit log nor the SIEM.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { createGatewayApp, type GatewayPorts } from "../../src/app.ts";
import { createDecisionLogObserver } from "../../src/decision-log/observer.ts";
import { createDecisionLogShipper } from "../../src/decision-log/shipper.ts";
import { defaultPolicyState } from "../../src/killswitch/scopes.ts";
import { connectOpaServer } from "../../src/policy/opa-http.ts";
import { createHarness } from "../support/harness.ts";
import { startLogSink, type LogSink } from "../support/log-sink.ts";

const PASSWORD = "OpaS1decarPassw0rd";
const sinks: LogSink[] = [];
afterAll(async () => {
  await Promise.all(sinks.map((s) => s.close()));
});

describe("the decision-log entry of an undecided call", () => {
  it("masks the engine's error message as the audit record of the same call does", async () => {
    const target = await startLogSink();
    sinks.push(target);
    const opa = await connectOpaServer({
      url: new URL(`http://opa-reader:${PASSWORD}@127.0.0.1:9/`),
      state: defaultPolicyState(),
    });
    let ports: GatewayPorts | undefined;
    const h = await createHarness({
      ports: (defaults) => {
        ports = { ...defaults, policy: opa };
        return { policy: opa };
      },
    });
    if (ports === undefined) throw new Error("the harness gave no ports");
    const shipper = createDecisionLogShipper({
      url: target.url,
      flushIntervalMs: 50,
      log: () => undefined,
    });
    const observer = createDecisionLogObserver({
      enqueue: (entry) => {
        shipper.enqueue(entry);
      },
      labels: { id: "gateway-test-1", version: "test" },
      revision: () => null,
      log: () => undefined,
    });
    const app = createGatewayApp(ports, {
      bodyLimitBytes: 65_536,
      now: () => h.clock.now,
      observers: [observer],
    });
    const refused = await app.request("/v1/tools/jira_read", {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken()}`,
        "x-device-posture": await h.postureToken(),
        "content-type": "application/json",
      },
      body: JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "undecided-1" }),
    });
    expect(refused.status, await refused.clone().text()).toBe(503);
    await shipper.flush();
    shipper.close();
    const audit = readFileSync(h.auditPath, "utf8");
    expect(audit).toContain("policy_bundle_missing");
    expect(audit).not.toContain(PASSWORD);
    const [entry] = target.entries();
    expect(entry).toMatchObject({ error: { code: "policy_bundle_missing" } });
    expect(JSON.stringify(entry)).not.toContain(PASSWORD);
    expect(entry?.["masked"]).toEqual(["/error/message"]);
  });
});
