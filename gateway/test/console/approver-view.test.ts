// What approvers are shown and sent, through the real app: the Slack notice carries no secret from
// the arguments and survives any text at its cut; the console's session history is the requester's
// own; characters that hide or reorder text are shown, never applied.
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import { Browser, createConsoleHarness, CLOUD, SG_ARGS, type ConsoleHarness } from "./support.ts";

let h: ConsoleHarness;
beforeEach(async () => {
  h = await createConsoleHarness();
});

async function signedIn(email: string): Promise<Browser> {
  const browser = new Browser(h);
  expect((await browser.signIn(email)).status).toBe(200);
  return browser;
}

/**
 * The approvers' Slack notices the worker was asked to post, once there is one (notices are
 * sent after the answer, unawaited; a bound on waiting, not a timing claim).
 */
async function approverNotices() {
  const notices = () =>
    h.workerCalls.filter(
      (c) =>
        c.call.tool === "slack_post_message" &&
        (c.call.arguments as { channel: string }).channel === "devsecops-approvals",
    );
  const deadline = Date.now() + 5_000;
  while (notices().length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return notices();
}

describe("what approvers are shown and sent", () => {
  it("the evidence shows only the requester's own earlier calls, not another user's that reused the session id", async () => {
    // Another person drives the same agent and happens to (or chooses to) use the same
    // caller-chosen session id; the ticket they read is theirs, not the requester's.
    const other = {
      user: "engineer@zyxbank.example",
      groups: ["grp-ai-users", "grp-ai-devops-readonly"],
      agent: CLOUD.agent,
    };
    const read = await h.callAs(
      "jira_read",
      { ticket: "CHG-18433" },
      { as: other, sessionId: "sg-shared" },
    );
    expect(read.status).toBe(200);
    const asked = await h.callAs("aws_modify_security_group", SG_ARGS, {
      as: CLOUD,
      sessionId: "sg-shared",
    });
    expect(asked.status).toBe(202);
    const { approval_id: id } = (await asked.json()) as { approval_id: string };

    const browser = await signedIn("approver.one@zyxbank.example");
    const html = await (await browser.get(`/console/requests/${id}`)).text();
    const history = /id="session-h"[\s\S]*?<\/section>/.exec(html)?.[0] ?? "";
    // engineer@'s call (and its injection flag) is not the requester's session history.
    expect(history).not.toContain("CHG-18433");
    expect(history).toContain("Nothing recorded before this call.");
  });

  it("a night-time post-hoc call whose text has an emoji at the summary's cut still tells its reviewers", async () => {
    h.clock.now = 1_779_476_400_000; // Saturday 03:00 in Singapore: the post runs now, reviewed after
    const prefix = JSON.stringify({ channel: "devsecops-change-review", text: "" }).length - 2;
    // The notice cuts the arguments' JSON at 297 UTF-16 units: put an emoji's first half there.
    const text = `${"a".repeat(296 - prefix)}\u{1F6A8} the part after the cut`;
    const posted = await h.callAs(
      "slack_post_message",
      { channel: "devsecops-change-review", text },
      {
        sessionId: "s-night",
      },
    );
    expect(posted.status).toBe(200);
    const { review } = (await posted.json()) as { review: { approval_id: string; mode: string } };
    expect(review.mode).toBe("post_hoc");
    const notices = await approverNotices();
    // The call already ran: its reviewers must be told, or nobody reviews (or undoes) it.
    expect(notices).toHaveLength(1);
    expect(JSON.stringify(notices[0]?.call.arguments)).toContain(
      `/console/requests/${review.approval_id}`,
    );
  });

  it("the approvers' Slack notice does not copy a secret from the arguments into Slack", async () => {
    const reader = { ...CLOUD, groups: [...CLOUD.groups, "grp-ai-devops-readonly"] };
    // The session read injected content: its writes are held for approval (the exfiltration case).
    await h.callAs("jira_read", { ticket: "CHG-18433" }, { as: reader, sessionId: "s-exfil" });
    const body = "Debug info: aws_access_key_id=AKIAIOSFODNN7EXAMPLE as requested";
    const asked = await h.callAs(
      "jira_add_comment",
      { ticket: "CHG-18422", body },
      { as: reader, sessionId: "s-exfil" },
    );
    expect(asked.status).toBe(202);
    const notices = await approverNotices();
    expect(notices).toHaveLength(1);
    // The audit log masks it in its own copy of the notice; Slack must not get it either.
    const audited = readFileSync(h.auditPath, "utf8");
    expect(audited).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(JSON.stringify(notices[0]?.call.arguments)).not.toContain("AKIAIOSFODNN7EXAMPLE");
  });

  it("shows invisible and bidirectional control characters in the exact arguments visibly", async () => {
    const plan =
      "Re-authorize the rule\u202E; no rollback \u2066needed\u2069\u{E0049}\u{E0047}\u200B.";
    const asked = await h.callAs(
      "aws_modify_security_group",
      { ...SG_ARGS, rollback_plan: plan },
      { as: CLOUD, sessionId: "sg-bidi" },
    );
    expect(asked.status).toBe(202);
    const { approval_id: id } = (await asked.json()) as { approval_id: string };
    const browser = await signedIn("approver.one@zyxbank.example");
    const html = await (await browser.get(`/console/requests/${id}`)).text();
    const shown = /<pre id="arguments">([\s\S]*?)<\/pre>/.exec(html)?.[1] ?? "";
    expect(shown).toContain("rollback_plan");
    // Bidi overrides/isolates, zero-width and tag characters reorder or hide text: an approver
    // must see them (escaped), not have the browser apply them.
    expect(shown).not.toMatch(/[\u200B-\u200F\u202A-\u202E\u2066-\u2069]|\u{E0049}/u);
  });
});
