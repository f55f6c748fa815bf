// Replay and session timelines over logs made by real traffic through the real gateway: a policy
// variant (built like `make policy`) flips exactly the decisions it should, the kill switch is
// rebuilt from the log so its denials replay unchanged, and a session reads back in order.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPolicyVariant, type PolicyVariant } from "../../../scripts/lib/policy-variant.ts";
import { openAuditLog } from "../../src/audit/log.ts";
import { replayDecisions } from "../../src/audit/replay.ts";
import { sessionTimeline } from "../../src/audit/session.ts";
import { createHarness, type Harness, REMEDIATOR, APPROVER, ADMIN } from "../support/harness.ts";
import { BUNDLE_PATH } from "../support/paths.ts";
import { SG_CHANGE } from "../../../test/support/fixtures.ts";
import { runCli } from "../support/cli.ts";

const REPO = resolve(import.meta.dirname, "../../..");
const CLI = join(REPO, "gateway/src/cli/audit.ts");
const INTERN = { user: "intern@zyxbank.example", groups: ["grp-ai-users"] };
const COMMENT = { ticket: "CHG-18422", body: "AI security review: see findings." };

let h: Harness;
let variant: PolicyVariant;
let dir: string;

/** The audit CLI, a process of its own. */
const run = (...args: string[]) => runCli(CLI, args);

async function expectStatus(
  response: Response | Promise<Response>,
  status: number,
): Promise<Record<string, unknown>> {
  const r = await response;
  expect(r.status).toBe(status);
  return (await r.json()) as Record<string, unknown>;
}

async function asAdmin(method: "PUT" | "DELETE", reason: string): Promise<void> {
  await expectStatus(
    h.app.request("/v1/admin/kill-switch/read-only", {
      method,
      headers: {
        authorization: `Bearer ${await h.accessToken(ADMIN)}`,
        "x-device-posture": await h.postureToken({ user: ADMIN.user }),
        "content-type": "application/json",
      },
      body: JSON.stringify({ value: "change-reviewer", reason }),
    }),
    200,
  );
}

/** The remediator's security-group change, approved, then run: the demo's sg-demo session. */
async function approvedChange(): Promise<void> {
  const auth = async () => ({
    authorization: `Bearer ${await h.accessToken(REMEDIATOR)}`,
    "x-device-posture": await h.postureToken({ user: REMEDIATOR.user }),
  });
  const context = { model: "claude-test", decision_trace: "ticket CHG-18422 asks to close SSH" };
  const pending = await expectStatus(
    h.call(
      "aws_modify_security_group",
      { arguments: SG_CHANGE, session_id: "sg-demo", context },
      await auth(),
    ),
    202,
  );
  const id = pending["approval_id"] as string;
  await expectStatus(
    h.app.request(`/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await h.accessToken(APPROVER)}`,
        "x-device-posture": await h.postureToken({ user: APPROVER.user }),
      },
    }),
    200,
  );
  h.clock.now += 1_000;
  await expectStatus(
    h.call(
      "aws_modify_security_group",
      { arguments: SG_CHANGE, session_id: "sg-demo", approval_id: id },
      await auth(),
    ),
    200,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-forensics-"));
  // The variant: interns may read Jira, and every Jira comment needs an approver.
  variant = buildPolicyVariant((config) => {
    const tools = config["tools"] as Record<string, Record<string, unknown>>;
    tools["jira_read"] = { ...tools["jira_read"], allowed_groups: ["grp-ai-users"] };
    tools["jira_add_comment"] = {
      ...tools["jira_add_comment"],
      approval_required: true,
      approval_groups: ["grp-ai-prod-approvers"],
    };
  });
  h = await createHarness();
  await expectStatus(h.callAs("jira_read", { ticket: "CHG-18422" }), 200);
  await expectStatus(h.callAs("jira_read", { ticket: "CHG-18422" }, { as: INTERN }), 403);
  await asAdmin("PUT", "INC-42");
  await expectStatus(h.callAs("jira_add_comment", COMMENT), 403); // read_only_mode
  await asAdmin("DELETE", "INC-42 closed");
  await expectStatus(h.callAs("jira_add_comment", COMMENT), 200);
  await approvedChange();
  await h.audit.close();
}, 120_000);

afterAll(async () => {
  variant.remove();
  await rm(dir, { recursive: true, force: true });
});

describe("replay", () => {
  it("with the bundle that decided: every decision replays unchanged, the kill switch included", async () => {
    const report = await replayDecisions(BUNDLE_PATH, [h.auditPath]);
    expect(report).toMatchObject({
      decisions: 6,
      replayed: 6,
      unchanged: 6,
      changed: 0,
      errors: [],
      skipped: { no_input: 0, recorded_error: 0 },
    });
  });

  it("with a policy that widens who may approve: names those decisions, though none flips", async () => {
    const anyone = buildPolicyVariant((config) => {
      const tools = config["tools"] as Record<string, Record<string, unknown>>;
      tools["aws_modify_security_group"] = {
        ...tools["aws_modify_security_group"],
        approval_groups: ["grp-ai-users"],
        fallback_groups: ["grp-ai-users"],
      };
    });
    try {
      const report = await replayDecisions(anyone.bundle, [h.auditPath]);
      // The security-group change as asked: the same denial, the same count, other approvers.
      // As run: its approver (not in grp-ai-users) no longer counts, so it flips as well.
      expect(report).toMatchObject({ decisions: 6, replayed: 6, changed: 2, unchanged: 4 });
      expect(report.changes.map((c) => [c.tool, c.kinds])).toEqual([
        ["aws_modify_security_group", ["approver_groups"]],
        ["aws_modify_security_group", ["allow_to_deny", "reasons", "approver_groups"]],
      ]);
    } finally {
      anyone.remove();
    }
  }, 60_000);

  it("with a changed policy: names exactly the decisions it flips, grouped and counted", async () => {
    const report = await replayDecisions(variant.bundle, [h.auditPath]);
    expect(report).toMatchObject({ decisions: 6, replayed: 6, changed: 3, unchanged: 3 });
    expect(report.groups).toEqual([
      {
        // Refused by the read-only kill switch then, and still: now for one reason more.
        tool: "jira_add_comment",
        from: "deny [read_only_mode]",
        to: "deny [approval_required, read_only_mode], 1 approver(s) (grp-ai-prod-approvers | grp-ai-security-oncall | before)",
        count: 1,
        decision_ids: [expect.any(String)],
      },
      {
        tool: "jira_add_comment",
        from: "allow",
        to: "deny [approval_required], 1 approver(s) (grp-ai-prod-approvers | grp-ai-security-oncall | before)",
        count: 1,
        decision_ids: [expect.any(String)],
      },
      {
        tool: "jira_read",
        from: "deny [user_not_in_group]",
        to: "allow",
        count: 1,
        decision_ids: [expect.any(String)],
      },
    ]);
    expect(report.changes.map((c) => [c.tool, c.user, c.kinds])).toEqual([
      ["jira_read", "intern@zyxbank.example", ["deny_to_allow", "reasons"]],
      ["jira_add_comment", "engineer@zyxbank.example", ["reasons", "approvers"]],
      ["jira_add_comment", "engineer@zyxbank.example", ["allow_to_deny", "reasons", "approvers"]],
    ]);
  });

  it("counts decisions it cannot rebuild, and refuses a bundle that does not load", async () => {
    const old = join(dir, "old.jsonl");
    const log = await openAuditLog({ path: old, fsync: false });
    await log.append({
      event: "decision",
      tool: "jira_read",
      decision: { allow: true, reasons: [] },
    });
    await log.close();
    expect(await replayDecisions(BUNDLE_PATH, [old])).toMatchObject({
      decisions: 1,
      replayed: 0,
      skipped: { no_input: 1 },
    });
    await expect(replayDecisions(join(dir, "missing.tar.gz"), [old])).rejects.toMatchObject({
      code: "replay_bundle_unavailable",
    });
  });

  it("npm run audit -- replay: text, --json and --fail-on-change", async () => {
    const same = await run("replay", "--bundle", BUNDLE_PATH, "--fail-on-change", h.auditPath);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(
      /6 decisions: 6 replayed, 6 unchanged, 0 changed, 0 error\(s\), 0 skipped/,
    );
    const changed = await run(
      "replay",
      "--bundle",
      variant.bundle,
      "--fail-on-change",
      h.auditPath,
    );
    expect(changed.code).toBe(1);
    expect(changed.stdout).toContain("1 × jira_read: deny [user_not_in_group] → allow");
    const json = await run("replay", "--bundle", variant.bundle, "--json", h.auditPath);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ changed: 3 });
    expect((await run("replay", h.auditPath)).code).toBe(2);
    const broken = await run("replay", "--bundle", join(dir, "missing.tar.gz"), h.auditPath);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/cannot load the policy bundle/);
  });

  it("replay, session and detect over a log whose chain is broken: named, and exit 1", async () => {
    const lines = (await readFile(h.auditPath, "utf8")).split("\n");
    // One decision record edited in place: it no longer hashes to itself.
    const index = lines.findIndex((l) => l.includes('"event":"decision"'));
    lines[index] = (lines[index] ?? "").replace(
      '"event":"decision"',
      '"event":"decision","edited":true',
    );
    const forged = join(dir, "forged.jsonl");
    await writeFile(forged, lines.join("\n"));
    for (const args of [
      ["replay", "--bundle", BUNDLE_PATH, forged],
      ["session", "sg-demo", forged],
      ["detect", forged],
    ]) {
      const result = await run(...args);
      expect(result.code, args[0]).toBe(1);
      expect(result.stderr).toContain(`${forged}: chain broken: `);
      expect(result.stderr).toContain("the results rest on records that may have been altered");
      // The investigator still gets the results.
      expect(result.stdout).not.toBe("");
    }
  });

  it("replay, session and detect over a live log: a half-written last line is left out with a note", async () => {
    const text = await readFile(h.auditPath, "utf8");
    const lines = text.split("\n").slice(0, -1);
    // The gateway is writing a record of the same session: the reader sees its first half.
    const next = lines.findLast((l) => l.includes('"session_id":"sg-demo"')) ?? "";
    const live = join(dir, "live.jsonl");
    await writeFile(live, text + next.slice(0, Math.floor(next.length / 2)));
    for (const args of [
      ["replay", "--bundle", BUNDLE_PATH, live],
      ["session", "sg-demo", live],
      ["detect", live],
    ]) {
      const result = await run(...args);
      expect(result.code, `${args[0] ?? ""}: ${result.stderr}`).toBe(0);
      expect(result.stderr).toBe(
        `${live}: note: line ${String(lines.length + 1)} has no newline yet (a write in progress, or cut short): not read\n`,
      );
    }
    const session = await run("session", "sg-demo", live, "--json");
    expect((JSON.parse(session.stdout) as { calls: unknown[] }).calls).toHaveLength(2);
    // `verify` still names it: a log at rest must end with a whole line.
    const verify = await run("verify", live);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(/incomplete last line/);
  });
});

describe("session timeline", () => {
  it("reads back the approved change in order: request, approval, execution", async () => {
    const timeline = await sessionTimeline("sg-demo", [h.auditPath]);
    expect(timeline.calls).toHaveLength(2);
    const [request, execution] = timeline.calls;
    expect(request).toMatchObject({
      tool: "aws_modify_security_group",
      user: "cloud@zyxbank.example",
      agent: "change-remediator",
      arguments: SG_CHANGE,
      decision: { allow: false, reasons: [{ code: "approval_required" }] },
      approval: { required: true, approvers_required: 1, state: "pending" },
      outcomes: [{ status: "pending_approval", http_status: 202 }],
      model: "claude-test",
      decision_trace: "ticket CHG-18422 asks to close SSH",
    });
    expect(request?.approvals.map((a) => [a.action, a.actor, a.result, a.status])).toEqual([
      ["request", "cloud@zyxbank.example", "applied", "pending"],
      ["approve", "approver.one@zyxbank.example", "applied", "approved"],
      ["claim", "system", "applied", "executing"],
      ["mark_executed", "system", "applied", "executed"],
    ]);
    expect(typeof request?.risk_score).toBe("number");
    expect(execution).toMatchObject({
      tool: "aws_modify_security_group",
      decision: { allow: true, reasons: [] },
      outcomes: [{ status: "executed", http_status: 200 }],
    });
  });

  it("an unknown session is empty; npm run audit -- session prints it, and --json", async () => {
    expect((await sessionTimeline("nope", [h.auditPath])).calls).toEqual([]);
    const text = await run("session", "sg-demo", h.auditPath);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^session sg-demo: 2 call\(s\)/);
    expect(text.stdout).toMatch(
      /1\. \S+ {2}aws_modify_security_group {2}deny \[approval_required\] {2}risk \d+ {2}pending_approval 202/,
    );
    expect(text.stdout).toMatch(
      /2\. \S+ {2}aws_modify_security_group {2}allow {2}risk \d+ {2}executed 200/,
    );
    const json = await run("session", "sg-demo", h.auditPath, "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({ session_id: "sg-demo", calls: [{}, {}] });
    expect((await run("session", "sg-demo")).code).toBe(2);
  });
});
