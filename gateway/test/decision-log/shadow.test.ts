// The shadow policy through the real app: a candidate bundle (built from changed data, as
// `make policy` builds) is evaluated beside the live one on every call and never decides; where
// it differs, the difference is counted in /metrics and written to the decision log.
import { afterAll, describe, expect, it, vi } from "vitest";
import { buildPolicyVariant, type PolicyVariant } from "../../../scripts/lib/policy-variant.ts";
import { createGatewayApp, type GatewayPorts } from "../../src/app.ts";
import { createDecisionLogObserver } from "../../src/decision-log/observer.ts";
import { createShadowPolicy, differenceOf, mirrorState } from "../../src/decision-log/shadow.ts";
import { createGatewayMetrics } from "../../src/metrics/gateway-metrics.ts";
import { loadPolicyEngine, type PolicyEngine } from "../../src/policy/engine.ts";
import { PolicyError } from "../../src/policy/errors.ts";
import { failedEngine } from "../../src/policy/engine.ts";
import { ENGINEER_READS, SG_CHANGE } from "../../../test/support/fixtures.ts";
import { createHarness, ENGINEER } from "../support/harness.ts";
import { BUNDLE_PATH } from "../support/paths.ts";

const TOKEN = "scraper-token-0123456789";
const INTERN = { ...ENGINEER, user: "intern@zyxbank.example", groups: ["grp-ai-users"] };

const variants: PolicyVariant[] = [];
afterAll(() => {
  for (const variant of variants) variant.remove();
});

/** The candidate: jira_read for the security readers only (the engineer loses it). */
function securityOnlyJiraRead(config: Record<string, unknown>): void {
  const tools = config["tools"] as Record<string, Record<string, unknown>>;
  tools["jira_read"] = { ...tools["jira_read"], allowed_groups: ["grp-ai-security-readonly"] };
}

async function shadowedApp(shadowEngine: PolicyEngine) {
  let ports: GatewayPorts | undefined;
  const h = await createHarness({
    ports: (defaults) => {
      ports = defaults;
      return {};
    },
  });
  if (ports === undefined) throw new Error("the harness gave no ports");
  const metrics = createGatewayMetrics();
  const entries: Record<string, unknown>[] = [];
  const observer = createDecisionLogObserver({
    enqueue: (entry) => entries.push(entry as Record<string, unknown>),
    labels: { id: "gateway-test-1", version: "test" },
    shadow: createShadowPolicy({
      engine: shadowEngine,
      compared: (difference) => {
        metrics.shadowCompared(difference);
      },
    }),
    log: () => undefined,
  });
  const app = createGatewayApp(ports, {
    bodyLimitBytes: 65_536,
    now: () => h.clock.now,
    metrics,
    metricsToken: TOKEN,
    observers: [observer],
  });
  const call = async (as = ENGINEER) =>
    app.request("/v1/tools/jira_read", {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken({ user: as.user, groups: as.groups })}`,
        "x-device-posture": await h.postureToken({ user: as.user }),
        "content-type": "application/json",
      },
      body: JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "shadow-1" }),
    });
  const scrape = async () =>
    (await app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  return { h, call, scrape, entries };
}

describe("shadow policy", () => {
  it("evaluates the candidate beside the live policy, never deciding, and logs the difference", async () => {
    const variant = buildPolicyVariant(securityOnlyJiraRead);
    variants.push(variant);
    const candidate = await loadPolicyEngine({ bundlePath: variant.bundle });
    expect(candidate.loadError).toBeNull();
    const { h, call, scrape, entries } = await shadowedApp(candidate);

    const allowed = await call();
    expect(allowed.status).toBe(200); // the live policy decided; the shadow would have denied
    const liveId = ((await allowed.json()) as { decision_id: string }).decision_id;
    expect((await call(INTERN)).status).toBe(403); // both deny, for the same reason

    await vi.waitFor(() => {
      expect(entries).toHaveLength(3);
    });
    const shadow = entries.find((e) => (e["labels"] as { mode?: string }).mode === "shadow");
    expect(shadow).toMatchObject({
      labels: { mode: "shadow", live_decision_id: liveId, difference: "allow" },
      path: "zyx/gateway/decision",
      bundles: { "zyx-shadow": { revision: candidate.revision } },
      input: { principal: { sub: ENGINEER.user }, tool: "jira_read" },
      result: { allow: false, reasons: [{ code: "user_not_in_group" }] },
    });
    expect(shadow?.["decision_id"]).not.toBe(liveId);
    const live = entries.find((e) => e["decision_id"] === liveId);
    expect(live).toMatchObject({
      result: { allow: true },
      bundles: { zyx: { revision: h.policy.revision } },
    });
    const text = await scrape();
    expect(text).toContain('zyx_gateway_shadow_decisions_total{difference="allow"} 1');
    expect(text).toContain('zyx_gateway_shadow_decisions_total{difference="none"} 1');
  });

  it("counts a shadow that cannot decide as an error, and the live answer stands", async () => {
    const broken = failedEngine(new PolicyError("policy_bundle_missing", "no candidate bundle"));
    const { call, scrape, entries } = await shadowedApp(broken);
    expect((await call()).status).toBe(200);
    await vi.waitFor(async () => {
      expect(await scrape()).toContain('zyx_gateway_shadow_decisions_total{difference="error"} 1');
    });
    const shadow = entries.find((e) => (e["labels"] as { mode?: string }).mode === "shadow");
    expect(shadow).toMatchObject({
      labels: { difference: "error" },
      result: { error: { code: "policy_bundle_missing" } },
    });
  });

  it("a shadow that throws on the kill-switch state never keeps it from the live policy", async () => {
    const live = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const broken = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const throwing = new Proxy(broken, {
      get(target, property) {
        if (property === "setState") {
          return () => {
            throw new Error("candidate bundle cannot take the state");
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function"
          ? (value as (...a: unknown[]) => unknown).bind(target)
          : value;
      },
    });
    const mirrored = mirrorState(live, throwing);
    const state = live.data?.zyx.state as Parameters<PolicyEngine["setState"]>[0];
    mirrored.setState({
      ...state,
      kill_switch: { ...state.kill_switch, users: [ENGINEER.user] },
    });
    expect(mirrored.evaluate(ENGINEER_READS)).toMatchObject({
      ok: true,
      decision: { allow: false, reasons: [{ code: "kill_switch_user" }] },
    });
  });

  it("gives the shadow the same kill-switch state as the live policy", async () => {
    const live = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const shadow = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const mirrored = mirrorState(live, shadow);
    const state = live.data?.zyx.state as Parameters<PolicyEngine["setState"]>[0];
    mirrored.setState({
      ...state,
      kill_switch: { ...state.kill_switch, users: [ENGINEER.user] },
    });
    for (const engine of [mirrored, shadow]) {
      expect(engine.evaluate(ENGINEER_READS)).toMatchObject({
        ok: true,
        decision: { allow: false, reasons: [{ code: "kill_switch_user" }] },
      });
    }
    expect(mirrored.revision).toBe(live.revision);
  });
  it("names a candidate that changes who may approve a difference in approval", async () => {
    const anyone = buildPolicyVariant((config) => {
      const tools = config["tools"] as Record<string, Record<string, unknown>>;
      tools["aws_modify_security_group"] = {
        ...tools["aws_modify_security_group"],
        approval_groups: ["grp-ai-users"],
      };
    });
    variants.push(anyone);
    const live = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    const candidate = await loadPolicyEngine({ bundlePath: anyone.bundle });
    const input = {
      principal: { sub: "cloud@zyxbank.example", groups: ["grp-ai-cloud-change-reviewers"] },
      agent: { id: "change-remediator" },
      device: { compliant: true, checked_at: 1_779_242_340 },
      tool: "aws_modify_security_group",
      arguments: SG_CHANGE,
      context: {
        now: 1_779_242_400,
        workflow: "change-review",
        session_tainted: false,
        recent_denials: 0,
      },
    };
    const decide = (engine: typeof live) => {
      const result = engine.evaluate(input);
      if (!result.ok) {
        throw new Error(`no decision: ${JSON.stringify(result)}`);
      }
      return result.decision;
    };
    const asLive = decide(live);
    const asCandidate = decide(candidate);
    // Same verdict, same reasons, same count and risk: only the approvers differ.
    expect(asCandidate.allow).toBe(asLive.allow);
    expect(asCandidate.approval.approvers_required).toBe(1);
    expect(asLive.approval.approver_groups).toEqual(["grp-ai-prod-approvers"]);
    expect(asCandidate.approval.approver_groups).toEqual(["grp-ai-users"]);
    expect(differenceOf(asLive, asCandidate)).toBe("approval");
    expect(differenceOf(asLive, asLive)).toBeUndefined();
  }, 60_000);
});
