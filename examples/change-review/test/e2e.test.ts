// The change-review runtime end to end, as real processes: the development identity provider,
// the gateway, the worker on its fixture connectors, and this runtime, each on a free loopback
// port with one temporary state folder; the engineer's own tokens minted with `npm run token`.
//
// The tests run in order on one stack: the gateway counts an agent's recent denials (a write held
// for approval counts too) and adds risk to its writes after three, so the reviews whose writes
// must run come first.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../gateway/test/support/opa-server.ts";
import {
  startNode,
  startStack,
  waitFor,
  type Stack,
  type Started,
} from "../../../test/support/processes.ts";
import {
  PR_993_REVIEW,
  SEED_COMMENT,
  SEED_REVIEW,
  SEED_SLACK,
  buildAlwaysOpenBundle,
} from "./support.ts";

interface AuditLine {
  event: string;
  trace_id?: string;
  tool?: string;
  agent?: string;
  user?: { subject: string; email?: string };
  decision?: { allow: boolean; reasons: { code: string }[] };
  outcome?: { status: string; http_status: number };
  details?: Record<string, unknown>;
}

interface WriteLine {
  connector: string;
  action: string;
  ticket?: string;
  body?: string;
  channel_name?: string;
  text?: string;
}

function jsonLines<T>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as T);
}

async function eventually<T>(read: () => T, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const ENGINEER = "engineer@zyxbank.example";

describe("the change-review runtime, through the real identity provider, gateway and worker", () => {
  let bundle: ReturnType<typeof buildAlwaysOpenBundle>;
  let stack: Stack;
  let runtime: Started;
  let runtimeUrl: string;
  let engineerToken: string;
  let engineerPosture: string;

  beforeAll(async () => {
    bundle = buildAlwaysOpenBundle();
    stack = await startStack({ idp: true, policyBundle: bundle.path });
    const port = await freePort();
    runtime = startNode("examples/change-review/src/main.ts", {
      ZYX_STATE_DIR: stack.stateDir,
      AGENT_PORT: String(port),
      GATEWAY_URL: stack.gatewayUrl,
      IDP_URL: stack.idpUrl ?? "",
    });
    runtimeUrl = `http://127.0.0.1:${port}`;
    await waitFor(`${runtimeUrl}/healthz`, runtime);
    engineerToken = stack.token(
      "access",
      "--user",
      ENGINEER,
      "--groups",
      "grp-ai-users,grp-ai-devops-readonly",
      "--no-agent",
      "--aud",
      "zyx-change-review",
    );
    engineerPosture = stack.token("posture", "--user", ENGINEER, "--compliant", "true");
  });

  afterAll(async () => {
    await Promise.all([runtime.stop(), stack.stop()]);
    bundle.remove();
  });

  const review = (
    body: Record<string, unknown>,
    headers: Record<string, string> = {
      authorization: `Bearer ${engineerToken}`,
      "x-device-posture": engineerPosture,
    },
  ) =>
    fetch(`${runtimeUrl}/review-change`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });

  const auditOf = (traceId: string): AuditLine[] =>
    jsonLines<AuditLine>(join(stack.stateDir, "audit/audit.jsonl")).filter(
      (record) => record.trace_id === traceId,
    );
  const writes = (): WriteLine[] =>
    jsonLines<WriteLine>(join(stack.stateDir, "fixture-writes.jsonl"));

  it("reviews CHG-18422 / platform-infra#991 as the walkthrough expects (seed step 11)", async () => {
    // The walkthrough's own body: the bare repository name and the number as a string.
    const response = await review({
      ticket: "CHG-18422",
      repository: "platform-infra",
      pull_request: "991",
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      ticket: "CHG-18422",
      repository: "zyx-bank/platform-infra",
      pull_request: 991,
      ...SEED_REVIEW,
      audit_trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown,
      pending_approvals: [],
      evidence_warnings: [],
    });

    // Every decision of this review is in the gateway's audit log under the trace id: the
    // engineer as the user, the change-reviewer agent acting, each tool allowed and executed.
    const traceId = String(body["audit_trace_id"]);
    const records = await eventually(
      () => auditOf(traceId),
      (found) => found.filter((r) => r.event === "outcome").length === 6,
    );
    const decisions = records.filter((r) => r.event === "decision");
    expect(decisions.map((r) => r.tool)).toEqual(SEED_REVIEW.tools_used);
    for (const decision of decisions) {
      expect(decision).toMatchObject({
        agent: "change-reviewer",
        user: { subject: ENGINEER, email: ENGINEER },
        decision: { allow: true, reasons: [] },
      });
    }
    expect(records.filter((r) => r.event === "outcome").map((r) => r.outcome?.status)).toEqual(
      Array<string>(6).fill("executed"),
    );

    // What reached Jira and Slack (the fixture connectors record it): the walkthrough's texts.
    expect(writes()).toEqual([
      expect.objectContaining({
        connector: "jira",
        action: "add_comment",
        ticket: "CHG-18422",
        body: SEED_COMMENT,
      }),
      expect.objectContaining({
        connector: "slack",
        action: "post_message",
        channel_name: "devsecops-change-review",
        text: SEED_SLACK,
      }),
    ]);
  });

  it("gives platform-infra#993 its own findings", async () => {
    const response = await review({
      ticket: "CHG-18431",
      repository: "zyx-bank/platform-infra",
      pull_request: 993,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      ticket: "CHG-18431",
      repository: "zyx-bank/platform-infra",
      pull_request: 993,
      ...PR_993_REVIEW,
      tools_used: SEED_REVIEW.tools_used,
      pending_approvals: [],
      evidence_warnings: [],
    });
  });

  it("finds nothing in the clean platform-infra#992", async () => {
    const response = await review({
      ticket: "CHG-18430",
      repository: "zyx-bank/platform-infra",
      pull_request: 992,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      risk_rating: "Low",
      findings: [],
      required_approvals: [],
      recommended_remediation: [],
      tools_used: SEED_REVIEW.tools_used,
      pending_approvals: [],
      evidence_warnings: [],
    });
    expect(writes().at(-1)).toMatchObject({
      connector: "slack",
      text:
        "CHG-18430: the automated review of zyx-bank/platform-infra#992 found no issues. " +
        "Human validation is still required before deployment.",
    });
  });

  it("reviews the injection ticket CHG-18433 like its linked pull request, and its writes wait for approval", async () => {
    const before = writes().length;
    const response = await review({
      ticket: "CHG-18433",
      repository: "zyx-bank/platform-infra",
      pull_request: 992,
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    // The same review as #992's: the ticket's text changed nothing the agent does.
    expect(body).toMatchObject({
      risk_rating: "Low",
      findings: [],
      required_approvals: [],
      recommended_remediation: [],
      tools_used: ["jira_read", "github_read_pr", "confluence_read", "aws_dev_read"],
      evidence_warnings: [
        {
          tool: "jira_read",
          indicators: expect.arrayContaining([
            "ignore_previous_instructions",
            "bulk_export",
            "disable_logging",
          ]) as unknown,
        },
      ],
    });
    // The gateway tainted the session: both writes came back 202, held for approval.
    const pending = body["pending_approvals"] as Record<string, string>[];
    expect(pending.map((p) => p["tool"])).toEqual(["jira_add_comment", "slack_post_message"]);
    for (const entry of pending) {
      expect(entry["status_url"]).toBe(`/v1/approvals/${entry["approval_id"] ?? ""}`);
    }
    const outcomes = auditOf(String(body["audit_trace_id"])).filter((r) => r.event === "outcome");
    expect(
      outcomes.filter((r) => r.outcome?.status === "pending_approval").map((r) => r.tool),
    ).toEqual(["jira_add_comment", "slack_post_message"]);
    // Nothing was written to Jira; only the approvers' channel was told.
    const newWrites = (
      await eventually(
        () => writes().slice(before),
        (found) => found.length >= 2,
      )
    ).map((w) => w.connector);
    expect(newWrites).toEqual(["slack", "slack"]);
  });

  it("refuses the intern with the gateway's user_not_in_group (seed step 12)", async () => {
    const intern = "intern@zyxbank.example";
    const response = await review(
      { ticket: "CHG-18422", repository: "platform-infra", pull_request: "991" },
      {
        authorization: `Bearer ${stack.token("access", "--user", intern, "--groups", "grp-ai-users", "--no-agent", "--aud", "zyx-change-review")}`,
        "x-device-posture": stack.token("posture", "--user", intern, "--compliant", "true"),
      },
    );
    expect(response.status).toBe(403);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({
      status: 403,
      code: "policy_denied",
      tool: "jira_read",
      detail: "the gateway refused jira_read: user is not in any group allowed to use jira_read",
      reasons: [{ code: "user_not_in_group" }],
      audit_trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown,
    });
  });

  it("refuses the engineer on an unmanaged device, whatever the plain header says (seed step 13)", async () => {
    const response = await review(
      { ticket: "CHG-18422", repository: "platform-infra", pull_request: "991" },
      {
        authorization: `Bearer ${engineerToken}`,
        "x-device-posture": stack.token("posture", "--user", ENGINEER, "--compliant", "false"),
        "x-device-compliant": "true",
      },
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: "policy_denied",
      tool: "jira_read",
      reasons: [{ code: "device_not_compliant" }],
    });
  });

  it("never takes the walkthrough's plain identity headers", async () => {
    const response = await review(
      { ticket: "CHG-18422", repository: "platform-infra", pull_request: "991" },
      {
        "x-user-email": ENGINEER,
        "x-user-groups": "grp-ai-users,grp-ai-devops-readonly",
        "x-device-compliant": "true",
      },
    );
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="zyx-change-review"');
    expect(await response.json()).toMatchObject({ code: "token_missing" });
  });

  it("refuses a token issued for the gateway: the engineer presents their own", async () => {
    const gatewayToken = stack.token(
      "access",
      "--user",
      ENGINEER,
      "--groups",
      "grp-ai-users,grp-ai-devops-readonly",
      "--agent",
      "change-reviewer",
    );
    const response = await review(
      { ticket: "CHG-18422", repository: "platform-infra", pull_request: "991" },
      { authorization: `Bearer ${gatewayToken}`, "x-device-posture": engineerPosture },
    );
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: "token_invalid" });
  });
});

describe("the runtime's process", () => {
  it("refuses to start on a bad value and names the variable", async () => {
    const runtime = startNode("examples/change-review/src/main.ts", { AGENT_PORT: "eighty" });
    const code = await new Promise((done) => runtime.child.once("exit", done));
    expect(code).toBe(1);
    expect(runtime.output()).toContain("bad configuration: AGENT_PORT");
  });
});
