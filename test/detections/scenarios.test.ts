// Every Sigma rule of detections/ against logs made by real traffic through the real gateway
// (tokens, policy.wasm, worker, fixture connectors, audit log): each fires on the scenario that
// does the bad thing, and none fires on a clean log (the change review and an approved change).
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConnectorError } from "../../agent/src/connectors/port.ts";
import { createHarness, NOW_SEC, type Harness } from "../../gateway/test/support/harness.ts";
import { loadRuleSet, runDetections } from "../../gateway/src/audit/sigma-rules.ts";
import { SG_CHANGE } from "../support/fixtures.ts";

const RULES = {
  blocked: "2f0c7a4e-5b1d-4c2e-9a57-0d3f6b1e8a01",
  deniedByUser: "0b7e3c61-9a2d-4f58-b6e1-2c3d4e5f6a03",
  deniedByAgent: "9c1d2e3f-4a5b-4c6d-8e7f-3a4b5c6d7e04",
  injection: "4d5e6f70-8192-4a3b-9c4d-5e6f7a8b9c05",
  afterHoursWrite: "7e8f9a0b-1c2d-4e3f-8a4b-6c7d8e9f0a06",
  badApprover: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c07",
  production: "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e08",
  redaction: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a09",
  connector: "8a9b0c1d-2e3f-4a4b-9c5d-6e7f8a9b0c10",
  runaway: "0c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e11",
  approvalSpike: "4a5b6c7d-8e9f-4a0b-8c1d-2e3f4a5b6c13",
  unusualNetwork: "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d14",
} as const;
type Rule = keyof typeof RULES;

const INTERN = { user: "intern@zyxbank.example", groups: ["grp-ai-users"] };
const REMEDIATOR = {
  user: "cloud@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers", "grp-ai-devops-readonly"],
  agent: "change-remediator",
};
const APPROVER = {
  user: "approver.one@zyxbank.example",
  groups: ["grp-ai-prod-approvers"],
  agent: "approvals-console",
};
const OUTSIDER = {
  user: "dev@zyxbank.example",
  groups: ["grp-ai-devops-readonly"],
  agent: "approvals-console",
};
const SLACK = { channel: "devsecops-change-review", text: "CHG-18422 review posted" };

/** The rules that fired on the harness's log, by their names above. */
async function fired(h: Harness): Promise<Rule[]> {
  await h.audit.close();
  const matches = await runDetections(await loadRuleSet(), [h.auditPath]);
  const byId = new Map<string, Rule>(Object.entries(RULES).map(([name, id]) => [id, name as Rule]));
  return matches.map((m) => byId.get(m.id) ?? (m.id as Rule)).sort();
}

async function expectStatus(
  response: Response | Promise<Response>,
  status: number,
): Promise<unknown> {
  const r = await response;
  expect(r.status).toBe(status);
  return r.json();
}

async function act(h: Harness, id: string, who: typeof APPROVER): Promise<Response> {
  return h.app.request(`/v1/approvals/${id}/approve`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await h.accessToken(who)}`,
      "x-device-posture": await h.postureToken({ user: who.user }),
    },
  });
}

async function requestChange(h: Harness, port = "22"): Promise<string> {
  const args = { ...SG_CHANGE, change: { ...SG_CHANGE.change, port_range: port } };
  const body = (await expectStatus(
    h.callAs("aws_modify_security_group", args, { as: REMEDIATOR, sessionId: "sg" }),
    202,
  )) as { approval_id: string };
  return body.approval_id;
}

/** The demo's clean story: the change review of CHG-18422 / #991, and an approved change. */
async function cleanTraffic(h: Harness): Promise<void> {
  const review: [string, Record<string, unknown>][] = [
    ["jira_read", { ticket: "CHG-18422" }],
    ["github_read_pr", { repository: "zyx-bank/platform-infra", pull_request: 991 }],
    ["confluence_read", { space: "SEC" }],
    ["aws_dev_read", { account: "111122223333", region: "ap-southeast-1" }],
    ["jira_add_comment", { ticket: "CHG-18422", body: "AI security review: see findings." }],
    ["slack_post_message", SLACK],
  ];
  for (const [tool, args] of review)
    await expectStatus(h.callAs(tool, args, { sessionId: "review" }), 200);
  const id = await requestChange(h);
  await expectStatus(act(h, id, APPROVER), 200);
  await expectStatus(
    h.call(
      "aws_modify_security_group",
      { arguments: SG_CHANGE, session_id: "sg", approval_id: id },
      {
        authorization: `Bearer ${await h.accessToken(REMEDIATOR)}`,
        "x-device-posture": await h.postureToken({ user: REMEDIATOR.user }),
      },
    ),
    200,
  );
}

describe("the detections on real traffic", () => {
  it("stay silent on the clean log", async () => {
    const h = await createHarness();
    await cleanTraffic(h);
    expect(await fired(h)).toEqual([]);
  });

  it("blocked tool call: the intern's read is refused", async () => {
    const h = await createHarness();
    await expectStatus(h.callAs("jira_read", { ticket: "CHG-18422" }, { as: INTERN }), 403);
    expect(await fired(h)).toEqual(["blocked"]);
  });

  it("repeated denied access: five refusals for one user and agent within five minutes", async () => {
    const h = await createHarness();
    for (let i = 0; i < 5; i++) {
      await expectStatus(h.callAs("jira_read", { ticket: "CHG-18422" }, { as: INTERN }), 403);
      h.clock.now += 30_000;
    }
    expect(await fired(h)).toEqual(["blocked", "deniedByAgent", "deniedByUser"]);
  });

  it("repeated denied access: not when the refusals are spread over more than five minutes", async () => {
    const h = await createHarness();
    for (let i = 0; i < 5; i++) {
      await expectStatus(h.callAs("jira_read", { ticket: "CHG-18422" }, { as: INTERN }), 403);
      h.clock.now += 80_000;
    }
    expect(await fired(h)).toEqual(["blocked"]);
  });

  it("prompt injection: the agent reads the injection ticket", async () => {
    const h = await createHarness();
    await expectStatus(h.callAs("jira_read", { ticket: "CHG-18433" }), 200);
    expect(await fired(h)).toEqual(["injection"]);
  });

  it("write outside business hours: a Slack post at 03:00 on a Saturday in Singapore", async () => {
    const h = await createHarness();
    h.clock.now = (NOW_SEC + (2 * 24 + 17) * 3600) * 1000; // Wednesday 10:00 → Saturday 03:00
    await h.callAs("slack_post_message", SLACK);
    expect(await fired(h)).toEqual(["afterHoursWrite"]);
  });

  it("approval attempts by people who may not approve: an outsider and the requester", async () => {
    const h = await createHarness();
    const id = await requestChange(h);
    await expectStatus(act(h, id, OUTSIDER), 403);
    await expectStatus(act(h, id, { ...REMEDIATOR, agent: "approvals-console" }), 403);
    expect(await fired(h)).toEqual(["badApprover"]);
  });

  it("unexpected production access: a read of the production account", async () => {
    const h = await createHarness();
    await expectStatus(
      h.callAs("aws_dev_read", { account: "777788889999", region: "ap-southeast-1" }),
      403,
    );
    expect(await fired(h)).toEqual(["blocked", "production"]);
  });

  it("redaction: a ticket whose description holds an AWS access key", async () => {
    // The connector returns what the source system holds; the worker's real guard redacts it.
    const h = await createHarness({
      workerExecute: () => ({
        key: "CHG-18422",
        description: "deploy with aws_access_key_id=AKIAIOSFODNN7EXAMPLE and go",
      }),
    });
    await expectStatus(h.callAs("jira_read", { ticket: "CHG-18422" }), 200);
    expect(await fired(h)).toEqual(["redaction"]);
  });

  it("connector errors: the worker's connector rejects its token", async () => {
    const h = await createHarness({
      workerExecute: () => {
        throw new ConnectorError("jira", "connector_unauthorized", "401 from Jira");
      },
    });
    await h.callAs("jira_read", { ticket: "CHG-18422" });
    expect(await fired(h)).toEqual(["connector"]);
    // The token branch on its own: the connector's code, whatever the outcome's.
    const records = (await readFile(h.auditPath, "utf8")).split("\n").filter((l) => l !== "");
    const outcome = records.find((l) => l.includes('"worker_connector_code"')) ?? "";
    const alone = join(tmpdir(), `token-branch-${String(process.pid)}.jsonl`);
    await writeFile(alone, outcome.replace('"code":"worker_failed"', '"code":"other"') + "\n");
    const matches = await runDetections(await loadRuleSet(), [alone]);
    expect(matches.map((m) => m.id)).toEqual([RULES.connector]);
    await rm(alone);
  });

  it("runaway loop: over the call limit", async () => {
    const h = await createHarness();
    for (let i = 0; i < 10; i++) await expectStatus(h.callAs("slack_post_message", SLACK), 200);
    await expectStatus(h.callAs("slack_post_message", SLACK), 429);
    expect(await fired(h)).toEqual(["runaway"]);
  });

  it("runaway loop: the agent suspended after ten denials", async () => {
    const h = await createHarness();
    // Denials about the agent (a production account), not about one user's rights.
    const production = { account: "777788889999", region: "ap-southeast-1" };
    for (let i = 0; i < 10; i++) await expectStatus(h.callAs("aws_dev_read", production), 403);
    for (
      let i = 0;
      i < 100 && !h.controls.killSwitch.state().state.kill_switch.agents.length;
      i++
    ) {
      await new Promise((done) => setTimeout(done, 10));
    }
    expect(await fired(h)).toEqual([
      "blocked",
      "deniedByAgent",
      "deniedByUser",
      "production",
      "runaway",
    ]);
  });

  it("approval-request spike: five requests from one agent within ten minutes", async () => {
    const h = await createHarness();
    for (let i = 0; i < 5; i++) {
      // Five different changes: the same change again reuses its waiting request.
      await requestChange(h, String(8000 + i));
      h.clock.now += 61_000; // under the tool's call limit
    }
    expect(await fired(h)).toEqual(["approvalSpike"]);
  });
});

// The change reviewer's runtime calls from 10.42.16.0/24 (rego/zyx/config/data.json); the load
// balancer is 10.0.0.2 when the gateway trusts it (TRUSTED_PROXIES).
describe("agent service account used from an unusual network", () => {
  const READ = ["jira_read", { ticket: "CHG-18422" }] as const;

  it("fires on a call from outside the agent's networks; a spoofed X-Forwarded-For changes nothing", async () => {
    const h = await createHarness();
    await expectStatus(
      h.callAs(...READ, { peer: "203.0.113.9", headers: { "x-forwarded-for": "10.42.16.5" } }),
      200,
    );
    expect(await fired(h)).toEqual(["unusualNetwork"]);
  });

  it("stays silent on a call from the agent's own network (IPv4-mapped on a dual-stack socket)", async () => {
    const h = await createHarness();
    await expectStatus(h.callAs(...READ, { peer: "::ffff:10.42.16.5" }), 200);
    await cleanTraffic(h);
    expect(await fired(h)).toEqual([]);
  });

  it("judges the client a trusted proxy forwards for, never the proxy or the left-most entry", async () => {
    const outside = await createHarness({ trustedProxies: ["10.0.0.2/32"] });
    await expectStatus(
      outside.callAs(...READ, {
        peer: "10.0.0.2",
        headers: { "x-forwarded-for": "10.42.16.5, 203.0.113.9" },
      }),
      200,
    );
    expect(await fired(outside)).toEqual(["unusualNetwork"]);
    const inside = await createHarness({ trustedProxies: ["10.0.0.2/32"] });
    await expectStatus(
      inside.callAs(...READ, {
        peer: "10.0.0.2",
        headers: { "x-forwarded-for": "203.0.113.9, 10.42.16.5" },
      }),
      200,
    );
    expect(await fired(inside)).toEqual([]);
  });

  it("one hit per call, on its decision (the outcome carries the same source)", async () => {
    const h = await createHarness();
    await expectStatus(h.callAs(...READ, { peer: "198.51.100.7" }), 200);
    await h.audit.close();
    const [match] = await runDetections(await loadRuleSet(), [h.auditPath]);
    expect(match?.id).toBe(RULES.unusualNetwork);
    expect(match?.hits).toHaveLength(1);
    expect(match?.hits[0]?.summary).toContain("decision jira_read");
  });
});
