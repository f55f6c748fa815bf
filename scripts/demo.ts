// `make demo`: the seed's story, replayed against real processes started for the occasion (the
// identity provider, the gateway, the worker and the change-review agent runtime, on free
// loopback ports with a temporary state folder), with readable output:
//   1. the happy-path review of CHG-18422 / platform-infra#991
//   2. the same review through the gateway's MCP door (the runtime's MCP mode, the official SDK)
//   3. the intern refused (user_not_in_group)
//   4. the unmanaged device refused (device_not_compliant)
//   5. a security-group change waiting for two approvers, approved, then executed once
//   6. the kill switch putting the reviewer agent into read-only mode
//   7. post-hoc review at night (its own stack, a policy with no business hours): a Slack message
//      runs at once, the reviewer rejects it and the gateway deletes it; another is approved
//   8. the audit chain verified, and a summary of the audit log
// The policy is the real one with one change: business hours never end, so that the story is
// the same whatever the hour (outside business hours, the review's writes would rightly wait for
// approval too).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { summarizeAuditFile, verifyAuditFile } from "../gateway/src/audit/verify.ts";
import { freePort } from "../gateway/test/support/opa-server.ts";
import { connectMcp } from "../gateway/test/mcp/support.ts";
import {
  startNode,
  startStack,
  waitFor,
  type Stack,
  type Started,
} from "../test/support/processes.ts";
import { alwaysBusinessHours, buildPolicyVariant } from "./lib/policy-variant.ts";

const bold = (text: string) => (process.stdout.isTTY ? `\u001b[1m${text}\u001b[0m` : text);
const step = (n: number, title: string) => {
  console.log(`\n${bold(`${String(n)}. ${title}`)}`);
};
const line = (label: string, value: unknown) => {
  console.log(
    `   ${label.padEnd(22)} ${typeof value === "string" ? value : JSON.stringify(value)}`,
  );
};

type Json = Record<string, unknown>;

/** Step 2: the tool lists the MCP door gives two callers, then the review in MCP mode. */
async function mcpStep(stack: Stack, engineerHeaders: Record<string, string>): Promise<void> {
  step(2, "The same review through the MCP door (GATEWAY_PROTOCOL=mcp, official SDK client)");
  const listFor = async (user: string, groups: string) => {
    const mcp = await connectMcp({
      url: `${stack.gatewayUrl}/mcp`,
      authorization: `Bearer ${stack.token("access", "--user", user, "--groups", groups, "--agent", "change-reviewer")}`,
      posture: stack.token("posture", "--user", user, "--compliant", "true"),
      clientName: "zyx-demo",
    });
    const { tools } = await mcp.client.listTools();
    const version = mcp.transport.protocolVersion ?? "?";
    await mcp.close();
    return { names: tools.map((t) => t.name), version };
  };
  const engineerList = await listFor(
    "engineer@zyxbank.example",
    "grp-ai-users,grp-ai-devops-readonly",
  );
  line("protocol version", engineerList.version);
  line("engineer's tools/list", engineerList.names.join(", "));
  line("intern's tools/list", (await listFor("intern@zyxbank.example", "grp-ai-users")).names);
  const port = await freePort();
  const runtime = startNode("examples/change-review/src/main.ts", {
    ZYX_STATE_DIR: stack.stateDir,
    AGENT_PORT: String(port),
    GATEWAY_URL: stack.gatewayUrl,
    GATEWAY_PROTOCOL: "mcp",
    IDP_URL: stack.idpUrl ?? "",
  });
  try {
    await waitFor(`http://127.0.0.1:${String(port)}/healthz`, runtime);
    const response = await fetch(`http://127.0.0.1:${String(port)}/review-change`, {
      method: "POST",
      headers: engineerHeaders,
      body: JSON.stringify({
        ticket: "CHG-18422",
        repository: "platform-infra",
        pull_request: "991",
      }),
    });
    const body = (await response.json()) as Json;
    line("review over MCP", response.status);
    line("risk rating", body["risk_rating"]);
    line("tools used", ((body["tools_used"] as string[] | undefined) ?? []).join(", "));
    line("audit trace id", body["audit_trace_id"]);
  } finally {
    await runtime.stop();
  }
}

/** Step 7: post-hoc review, on a stack whose policy has no business hours (always night). */
async function postHocStep(): Promise<void> {
  step(7, "Night shift: a Slack message runs at once under post-hoc review, then is rejected");
  const night = buildPolicyVariant((config) => {
    config["business_hours"] = { ...(config["business_hours"] as Json), weekdays: [] };
  });
  const stack = await startStack({ policyBundle: night.bundle });
  try {
    const as = (who: string[]) => ({
      authorization: `Bearer ${stack.token("access", ...who)}`,
      "x-device-posture": stack.token("posture", who[0] ?? "", who[1] ?? ""),
      "content-type": "application/json",
    });
    const engineer = as([
      "--user",
      "engineer@zyxbank.example",
      "--groups",
      "grp-ai-users,grp-ai-devops-readonly",
      "--agent",
      "change-reviewer",
    ]);
    const reviewer = as([
      "--user",
      "change.approver@zyxbank.example",
      "--groups",
      "grp-ai-change-approvers",
      "--agent",
      "approvals-console",
    ]);
    const post = async (text: string) => {
      const response = await fetch(`${stack.gatewayUrl}/v1/tools/slack_post_message`, {
        method: "POST",
        headers: engineer,
        body: JSON.stringify({
          arguments: { channel: "devsecops-change-review", text },
          session_id: "night",
        }),
      });
      return { status: response.status, body: (await response.json()) as Json };
    };
    const decide = async (id: string, verb: "approve" | "deny", body: Json = {}) => {
      const response = await fetch(`${stack.gatewayUrl}/v1/approvals/${id}/${verb}`, {
        method: "POST",
        headers: reviewer,
        body: JSON.stringify(body),
      });
      return (await response.json()) as Json;
    };
    const first = await post("CHG-18422: AI review summary (posted at night)");
    const firstReview = first.body["review"] as Json;
    line(
      "posted",
      `${String(first.status)} at once, ts ${String((first.body["result"] as Json)["ts"])}`,
    );
    line("review", `${String(firstReview["status_url"])} (mode ${String(firstReview["mode"])})`);
    const denied = await decide(String(firstReview["approval_id"]), "deny", {
      reason: "demo: wrong time",
    });
    line("reviewer rejects", denied["status"]);
    line("compensation", denied["compensation"]);
    line("its result", denied["compensation_result"]);
    const second = await post("CHG-18422: second summary");
    const approved = await decide(
      String((second.body["review"] as Json)["approval_id"]),
      "approve",
    );
    line("another, approved", `${String(approved["status"])}: nothing undone`);
    const writes = (await readFile(join(stack.stateDir, "fixture-writes.jsonl"), "utf8"))
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Json)
      .filter(
        (w) =>
          w["connector"] === "slack" &&
          !(typeof w["text"] === "string" && w["text"].startsWith("Approval needed")),
      );
    for (const w of writes) line("fixture Slack", `${String(w["action"])} ts ${String(w["ts"])}`);
    await stack.gateway.stop();
    const verified = await verifyAuditFile(join(stack.stateDir, "audit/audit.jsonl"));
    line(
      "its audit chain",
      verified.ok ? `intact, ${String(verified.records)} records` : verified.message,
    );
  } finally {
    await stack.stop();
    night.remove();
  }
}

async function main(): Promise<void> {
  const policy = buildPolicyVariant(alwaysBusinessHours);
  const stack = await startStack({ idp: true, policyBundle: policy.bundle });
  let runtime: Started | undefined;
  try {
    const port = await freePort();
    runtime = startNode("examples/change-review/src/main.ts", {
      ZYX_STATE_DIR: stack.stateDir,
      AGENT_PORT: String(port),
      GATEWAY_URL: stack.gatewayUrl,
      IDP_URL: stack.idpUrl ?? "",
    });
    const runtimeUrl = `http://127.0.0.1:${String(port)}`;
    await waitFor(`${runtimeUrl}/healthz`, runtime);
    console.log(bold("ZYX agent gateway: the change-review story"));
    line("identity provider", stack.idpUrl ?? "");
    line("gateway", stack.gatewayUrl);
    line("agent runtime", runtimeUrl);

    const engineer = (groups: string, user = "engineer@zyxbank.example", compliant = "true") => ({
      authorization: `Bearer ${stack.token("access", "--user", user, "--groups", groups, "--no-agent", "--aud", "zyx-change-review")}`,
      "x-device-posture": stack.token("posture", "--user", user, "--compliant", compliant),
      "content-type": "application/json",
    });
    const review = async (headers: Record<string, string>, ticket = "CHG-18422", pr = "991") => {
      const response = await fetch(`${runtimeUrl}/review-change`, {
        method: "POST",
        headers,
        body: JSON.stringify({ ticket, repository: "platform-infra", pull_request: pr }),
      });
      return { status: response.status, body: (await response.json()) as Json };
    };
    const ENGINEER_GROUPS = "grp-ai-users,grp-ai-devops-readonly";

    step(1, "The engineer asks for a review of CHG-18422 / platform-infra#991");
    const happy = await review(engineer(ENGINEER_GROUPS));
    line("status", happy.status);
    line("risk rating", happy.body["risk_rating"]);
    for (const finding of (happy.body["findings"] as string[] | undefined) ?? [])
      line("finding", finding);
    for (const approval of (happy.body["required_approvals"] as string[] | undefined) ?? [])
      line("required approval", approval);
    line("tools used", ((happy.body["tools_used"] as string[] | undefined) ?? []).join(", "));
    line("audit trace id", happy.body["audit_trace_id"]);

    // Before the refusals below: the policy adds risk to an agent's writes after recent denials.
    await mcpStep(stack, engineer(ENGINEER_GROUPS));

    step(3, "The intern, only in grp-ai-users, asks the same");
    const intern = await review(engineer("grp-ai-users", "intern@zyxbank.example"));
    line("status", intern.status);
    line("code", intern.body["code"]);
    line("reasons", intern.body["reasons"]);

    step(4, "The engineer asks from an unmanaged device");
    const unmanaged = await review(engineer(ENGINEER_GROUPS, "engineer@zyxbank.example", "false"));
    line("status", unmanaged.status);
    line("code", unmanaged.body["code"]);
    line("reasons", unmanaged.body["reasons"]);

    step(5, "A security-group change: it waits for two approvers, then runs once");
    const remediator = [
      "--user",
      "cloud@zyxbank.example",
      "--groups",
      "grp-ai-users,grp-ai-cloud-change-reviewers,grp-ai-devops-readonly",
    ];
    const as = (who: string[], agent: string) => ({
      authorization: `Bearer ${stack.token("access", ...who, "--agent", agent)}`,
      "x-device-posture": stack.token("posture", who[0] ?? "", who[1] ?? ""),
      "content-type": "application/json",
    });
    const tool = (name: string, headers: Record<string, string>, body: Json) =>
      fetch(`${stack.gatewayUrl}/v1/tools/${name}`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
    const remediation = as(remediator, "change-remediator");
    const read = await tool("jira_read", remediation, {
      arguments: { ticket: "CHG-18433" },
      session_id: "sg-demo",
    });
    const readBody = (await read.json()) as {
      evidence?: { injection?: { indicators?: string[] } };
    };
    line(
      "read CHG-18433",
      `${String(read.status)}, injection indicators: ${(readBody.evidence?.injection?.indicators ?? []).join(", ")}`,
    );
    const change = {
      account: "111122223333",
      region: "ap-southeast-1",
      group_id: "sg-0a1b2c3d4e5f60718",
      change: { action: "revoke_ingress", protocol: "tcp", port_range: "22", cidr: "0.0.0.0/0" },
      change_ticket: "CHG-18422",
      rollback_plan: "Re-authorize the rule from the compensation handle.",
    };
    const asked = await tool("aws_modify_security_group", remediation, {
      arguments: change,
      session_id: "sg-demo",
    });
    const pending = (await asked.json()) as Json;
    line(
      "asked",
      `${String(asked.status)} ${String(pending["status"])}, ${String(pending["approvers_required"])} approvers, risk ${JSON.stringify((pending["risk"] as Json | undefined)?.["score"])}`,
    );
    const id = String(pending["approval_id"]);
    // Approvers decide in the console (sign in as approver.one with <state>/users/<email>.password);
    // the demo approves through the same REST routes so that it runs unattended.
    line("console", `${stack.gatewayUrl}/console/requests/${id}`);
    for (const who of ["approver.one@zyxbank.example", "approver.two@zyxbank.example"]) {
      const approver = as(
        ["--user", who, "--groups", "grp-ai-prod-approvers"],
        "approvals-console",
      );
      const approved = await fetch(`${stack.gatewayUrl}/v1/approvals/${id}/approve`, {
        method: "POST",
        headers: approver,
      });
      line(
        `approved by ${who.split("@")[0] ?? who}`,
        `${String(approved.status)} ${String(((await approved.json()) as Json)["status"])}`,
      );
    }
    const executed = await tool("aws_modify_security_group", remediation, {
      arguments: change,
      session_id: "sg-demo",
      approval_id: id,
    });
    const executedBody = (await executed.json()) as Json;
    line(
      "executed",
      `${String(executed.status)}, rules before: ${JSON.stringify((executedBody["result"] as Json | undefined)?.["rules_before"])}`,
    );
    const replay = await tool("aws_modify_security_group", remediation, {
      arguments: change,
      session_id: "sg-demo",
      approval_id: id,
    });
    line("replayed", `${String(replay.status)} ${String(((await replay.json()) as Json)["code"])}`);

    step(6, "Security puts the reviewer agent into read-only mode");
    const admin = as(
      ["--user", "secadmin@zyxbank.example", "--groups", "grp-ai-security-admins"],
      "admin-console",
    );
    const set = await fetch(`${stack.gatewayUrl}/v1/admin/kill-switch/read-only`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ value: "change-reviewer", reason: "demo: incident INC-42" }),
    });
    line(
      "kill switch",
      `${String(set.status)}, version ${String(((await set.json()) as Json)["version"])}`,
    );
    const readOnly = await review(engineer(ENGINEER_GROUPS));
    line("review status", readOnly.status);
    line("code", readOnly.body["code"]);
    line("reasons", readOnly.body["reasons"]);
    const cleared = await fetch(`${stack.gatewayUrl}/v1/admin/kill-switch/read-only`, {
      method: "DELETE",
      headers: admin,
      body: JSON.stringify({ value: "change-reviewer", reason: "demo: incident closed" }),
    });
    line("cleared", cleared.status);

    await postHocStep();

    step(8, "The audit log");
    await stack.gateway.stop();
    const auditPath = join(stack.stateDir, "audit/audit.jsonl");
    const verified = await verifyAuditFile(auditPath);
    line("chain", verified.ok ? `intact, ${String(verified.records)} records` : verified.message);
    const summary = await summarizeAuditFile(auditPath);
    line("records", summary.records);
    line("events", Object.fromEntries(summary.events));
    line("outcomes", Object.fromEntries(summary.outcomes));
    line("denials by reason", Object.fromEntries(summary.denialsByReason));
    console.log("");
  } finally {
    await Promise.all([runtime?.stop(), stack.stop()]);
    policy.remove();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
