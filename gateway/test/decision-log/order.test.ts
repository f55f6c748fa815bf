// A decision-log entry leaves only once the decision's audit record is durable: a call answered
// 503 because its record could not be written ships nothing (the SIEM saw allows the audit lacks).
import { describe, expect, it } from "vitest";
import { createGatewayApp, type GatewayPorts } from "../../src/app.ts";
import { createDecisionLogObserver } from "../../src/decision-log/observer.ts";
import { GatewayError } from "../../src/lib/errors.ts";
import { createHarness, ENGINEER } from "../support/harness.ts";

describe("decision-log entries and the audit record", () => {
  it("ships no decision whose audit record could not be written (the call was answered 503, nothing ran)", async () => {
    let ports: GatewayPorts | undefined;
    const h = await createHarness({
      ports: (defaults) => {
        ports = defaults;
        return {};
      },
    });
    if (ports === undefined) throw new Error("no ports");
    const failing = {
      ...ports,
      audit: {
        ...ports.audit,
        append: () => Promise.reject(new GatewayError("audit_unavailable", "disk full")),
      },
    } as GatewayPorts;
    const shipped: Record<string, unknown>[] = [];
    const observer = createDecisionLogObserver({
      enqueue: (entry) => shipped.push(entry as Record<string, unknown>),
      labels: { id: "gw", version: "test" },
      log: () => undefined,
    });
    const app = createGatewayApp(failing, {
      bodyLimitBytes: 65_536,
      now: () => h.clock.now,
      observers: [observer],
    });
    const answered = await app.request("/v1/tools/jira_read", {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken({ user: ENGINEER.user, groups: ENGINEER.groups })}`,
        "x-device-posture": await h.postureToken({ user: ENGINEER.user }),
        "content-type": "application/json",
      },
      body: JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "order-1" }),
    });
    expect(answered.status).toBe(503);
    // observer.ts: "the entry is built and queued synchronously after the decision's audit record exists"
    expect(shipped.map((e) => (e["result"] as { allow?: boolean } | undefined)?.allow)).toEqual([]);
  });
});
