// The gateway's deadline on real processes: a gateway that waits 1.5 s for its worker, the worker
// with the real Jira adapter against a fake Jira site on a real socket, and a policy whose
// business hours never come (every comment runs at once under a post-hoc review, whatever the
// hour of the run). What is proven: the worker sends nothing to Jira after the gateway has
// stopped waiting (before the deadline, a Jira that asked to be retried in 1 s was retried up to
// 30 s later, a comment nobody recorded), and a write the worker had to abandon is recorded as of
// unknown outcome, its review left open.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  startFakeAtlassianSite,
  type FakeAtlassianSite,
} from "../../agent/test/support/fake-atlassian.ts";
import { buildPolicyVariant, type PolicyVariant } from "../../scripts/lib/policy-variant.ts";
import { ENGINEER as ENGINEER_PERSON, tokenArgs } from "../support/fixtures.ts";
import { startStack, type Stack } from "../support/processes.ts";

const EMAIL = "jira-bot@zyxbank.example";
const API_TOKEN = "deadline-e2e-token-0123456789";
const WAIT_MS = 1_500;
const ENGINEER = tokenArgs(ENGINEER_PERSON);
const REVIEWER = tokenArgs({
  user: "change.approver@zyxbank.example",
  groups: ["grp-ai-change-approvers"],
  agent: "approvals-console",
});

type Line = Record<string, unknown>;

/** The worker's key check before a comment: CHG-18422 is still CHG-18422 (not a moved issue). */
const STILL_CHG_18422 = { status: 200, body: { id: "10422", key: "CHG-18422", fields: {} } };

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the gateway's deadline reaches the worker's connectors, as processes", () => {
  let jira: FakeAtlassianSite;
  let variant: PolicyVariant;
  let stack: Stack;

  beforeAll(async () => {
    jira = await startFakeAtlassianSite({ email: EMAIL, apiToken: API_TOKEN });
    variant = buildPolicyVariant((config) => {
      config["business_hours"] = { ...(config["business_hours"] as Line), weekdays: [] };
    });
    stack = await startStack({
      policyBundle: variant.bundle,
      gatewayEnv: { WORKER_TIMEOUT_MS: String(WAIT_MS) },
      workerEnv: {
        JIRA_BASE_URL: jira.baseUrl,
        JIRA_EMAIL: EMAIL,
        JIRA_API_TOKEN: API_TOKEN,
      },
    });
  }, 120_000);
  afterAll(async () => {
    await stack.stop();
    await jira.close();
    variant.remove();
  });
  beforeEach(() => {
    jira.reset();
  });

  const as = (who: string[]) => ({
    authorization: `Bearer ${stack.token("access", ...who)}`,
    "x-device-posture": stack.token("posture", who[0] ?? "", who[1] ?? ""),
    "content-type": "application/json",
  });
  const comment = (body: string) =>
    fetch(`${stack.gatewayUrl}/v1/tools/jira_add_comment`, {
      method: "POST",
      headers: as(ENGINEER),
      body: JSON.stringify({
        arguments: { ticket: "CHG-18422", body },
        session_id: "deadline-e2e",
      }),
    });
  const commentPosts = () =>
    jira.requests.filter((r) => r.method === "POST" && r.path.endsWith("/comment"));

  it("a Jira asking to be retried later than the deadline allows is not retried after it", async () => {
    // Every answer: 503, retry in 1 s. The worker may retry once (1 s fits in its 1.35 s), not
    // twice; without the deadline it would keep posting for 3 more tries after the gateway left.
    // (The first answer is the worker's check that the key still names CHG-18422.)
    jira.script(
      STILL_CHG_18422,
      ...Array.from({ length: 5 }, () => ({ status: 503, headers: { "retry-after": "1" } })),
    );
    const response = await comment("AI review: shedding load");
    const answeredAt = performance.now();
    // The worker answered (502 with its own code), not the gateway's timer (504).
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({
      code: "worker_failed",
      worker_code: "tool_failed",
    });
    const sent = commentPosts();
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThanOrEqual(2);
    // Nothing reached Jira after the answer, nor in the 2.5 s after it (the fake site runs in
    // this process: its clock is this test's).
    await settle(2_500);
    expect(commentPosts()).toEqual(sent);
    expect(sent.every((r) => r.at < answeredAt)).toBe(true);
  });

  it("a Jira that does not answer: the worker abandons the POST at its deadline; the outcome is unknown and the review stays open", async () => {
    jira.script(STILL_CHG_18422, { status: 201, body: { id: "10001" }, delayMs: 10_000 });
    const response = await comment("AI review: Jira hangs");
    const problem = (await response.json()) as Line;
    expect(problem).toMatchObject({ outcome: "unknown" });
    expect(
      response.status === 502
        ? problem["worker_code"] === "tool_outcome_unknown"
        : problem["code"] === "worker_timeout",
    ).toBe(true);
    expect(commentPosts()).toHaveLength(1);

    const review = await fetch(
      `${stack.gatewayUrl}/v1/approvals/${String(problem["approval_id"])}`,
      {
        headers: as(REVIEWER),
      },
    );
    expect(await review.json()).toMatchObject({
      status: "pending",
      mode: "post_hoc",
      result: { status: "unknown" },
    });
    const audit = (await readFile(join(stack.stateDir, "audit/audit.jsonl"), "utf8"))
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Line)
      .filter((r) => r["decision_id"] === problem["decision_id"]);
    expect(audit.map((r) => [r["event"], (r["outcome"] as Line | undefined)?.["status"]])).toEqual(
      expect.arrayContaining([
        ["outcome", "unknown"],
        ["alert", "error"],
      ]),
    );
    expect(stack.worker.output()).toContain("tool_outcome_unknown");
  });
});
