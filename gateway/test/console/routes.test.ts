// The approver console through the real app (app.request) and the real development identity
// provider app: sign-in (OIDC code + PKCE), the pages, approve and deny through the
// ApprovalService, and every refusal: the requester, a non-approver, a stale session, a forged
// CSRF token, another origin, an unmanaged device, a replayed or forged sign-in.
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import { fromPeer } from "../support/harness.ts";
import {
  Browser,
  createConsoleHarness,
  csrfOf,
  CLOUD,
  pendingSecurityGroupChange,
  SG_ARGS,
  type ConsoleHarness,
} from "./support.ts";

/** Saturday 2026-05-23 03:00 in Singapore: outside business hours, writes run under review. */
const SATURDAY_NIGHT_MS = 1_779_476_400_000;

let h: ConsoleHarness;
let id: string;

beforeEach(async () => {
  h = await createConsoleHarness();
  id = await pendingSecurityGroupChange(h);
});

function auditRecords(): Record<string, unknown>[] {
  return readFileSync(h.auditPath, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function signedIn(email: string): Promise<Browser> {
  const browser = new Browser(h);
  const callback = await browser.signIn(email);
  expect(callback.status).toBe(200);
  return browser;
}

describe("sign-in", () => {
  it("sends the browser to the identity provider with PKCE S256, state and nonce", async () => {
    const browser = new Browser(h);
    const response = await browser.get("/console/login");
    expect(response.status).toBe(303);
    const target = new URL(response.headers.get("location") ?? "");
    expect(target.origin + target.pathname).toBe("http://idp.test/oauth/authorize");
    expect(target.searchParams.get("code_challenge_method")).toBe("S256");
    expect(target.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(target.searchParams.get("client_id")).toBe("approvals-console");
    expect(target.searchParams.get("scope")).toBe("openid");
    const cookie = response.headers.getSetCookie().join("\n");
    expect(cookie).toMatch(/zyx_console_signin=[^;]+;.*HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
  });

  it("refuses an oversized console form with 413 before reading it: nothing is decided", async () => {
    const browser = await signedIn("approver.one@zyxbank.example");
    const page = await browser.get(`/console/requests/${id}`);
    const response = await browser.post(`/console/requests/${id}/deny`, {
      csrf: csrfOf(await page.text()),
      reason: "x".repeat(20_000),
    });
    expect(response.status).toBe(413);
    expect(await response.text()).toContain("request_body_too_large");
    expect((await h.controls.approvals.get(id))?.status).toBe("pending");
    // Bounded before anything else runs: even without a session the form is not read.
    const anonymous = await new Browser(h).post(`/console/requests/${id}/deny`, {
      reason: "x".repeat(20_000),
    });
    expect(anonymous.status).toBe(413);
  });

  it("the identity provider refuses an oversized sign-in or posture form with 413, unread", async () => {
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const body = `email=x&password=${"x".repeat(20_000)}`;
    const signIn = await h.idp.request("/oauth/authorize", { method: "POST", headers: form, body });
    expect(signIn.status).toBe(413);
    const posture = await h.idp.request("/device-trust/posture", {
      method: "POST",
      headers: form,
      body,
    });
    expect(posture.status).toBe(413);
    expect(await posture.json()).toEqual({
      error: "invalid_request",
      error_description: "request body too large",
    });
  });

  it("sets an HttpOnly, SameSite=Strict session cookie and no token reaches the page", async () => {
    const browser = new Browser(h);
    const callback = await browser.signIn("approver.one@zyxbank.example");
    const cookie = callback.headers.getSetCookie().find((c) => c.startsWith("zyx_console="));
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/console/i);
    expect(cookie).not.toMatch(/Secure/i);
    const list = await browser.get("/console/");
    const html = await list.text();
    expect(list.status).toBe(200);
    expect(html).toContain("approver.one@zyxbank.example");
    expect(html).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/); // no JWT anywhere in the page
    expect(html).not.toContain("<script");
  });

  it("serves every page with a strict Content-Security-Policy", async () => {
    const browser = await signedIn("approver.one@zyxbank.example");
    for (const path of ["/console/", `/console/requests/${id}`, "/console/login"]) {
      const csp = (await browser.get(path)).headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("form-action 'self'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).not.toMatch(/script-src/);
    }
  });

  it("refuses a callback whose state is not this browser's sign-in", async () => {
    const browser = new Browser(h);
    await browser.get("/console/login");
    const response = await browser.get("/console/callback?code=abc&state=forged-state-value");
    expect(response.status).toBe(401);
    expect(await response.text()).toContain("console_sign_in_failed");
  });

  it("refuses a code used twice", async () => {
    const browser = new Browser(h);
    const start = await browser.get("/console/login");
    const authorize = new URL(start.headers.get("location") ?? "");
    const form = Object.fromEntries(authorize.searchParams);
    const login = await h.idp.request("http://idp.test/oauth/authorize", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        ...form,
        username: "approver.one@zyxbank.example",
        password: h.passwords.get("approver.one@zyxbank.example") ?? "",
      }).toString(),
    });
    const callback = new URL(login.headers.get("location") ?? "");
    const signInCookie = browser.cookies.get("zyx_console_signin") ?? "";
    expect((await browser.get(callback.pathname + callback.search)).status).toBe(200);
    // Replayed (same cookie and state): the sign-in was used once.
    browser.cookies.set("zyx_console_signin", signInCookie);
    expect((await browser.get(callback.pathname + callback.search)).status).toBe(401);
  });

  it("asks for sign-in without a session", async () => {
    const response = await new Browser(h).get("/console/");
    expect(response.status).toBe(401);
    const html = await response.text();
    expect(html).toContain("console_session_missing");
    expect(html).toContain('href="/console/login"');
  });
});

describe("the pages", () => {
  it("lists the request for an approver and shows it in full, rules read through the worker", async () => {
    const browser = await signedIn("approver.one@zyxbank.example");
    const list = await (await browser.get("/console/")).text();
    expect(list).toContain(`/console/requests/${id}`);
    expect(list).toContain("cloud@zyxbank.example");

    const html = await (await browser.get(`/console/requests/${id}`)).text();
    const request = await h.controls.approvals.get(id);
    expect(html).toContain(request?.arguments_digest ?? "missing");
    expect(html).toContain("change-remediator");
    expect(html).toContain("sg-console");
    expect(html).toContain(SG_ARGS.change_ticket);
    expect(html).toMatch(/Waiting for approvers \(0 of [12] approvals\)/);
    // Before: the fixture group's rules, read now through the worker (an audited system read).
    const read = h.workerCalls.find((c) => c.call.tool === "aws_dev_read");
    expect(read?.call.arguments).toEqual({
      account: SG_ARGS.account,
      region: SG_ARGS.region,
      group_ids: [SG_ARGS.group_id],
    });
    expect(html).toMatch(/id="rules-before"[\s\S]*0\.0\.0\.0\/0[\s\S]*\(removed\)/);
    const after = /id="rules-after"[\s\S]*?<\/table>/.exec(html)?.[0] ?? "";
    expect(after).not.toContain("0.0.0.0/0");
    expect(html).toContain("approval_required");
    expect(html).toMatch(/tool_risk/);
    expect(
      auditRecords().some(
        (r) =>
          r["event"] === "notification" &&
          (r["details"] as Record<string, unknown>)["purpose"] === "console_rules_view",
      ),
    ).toBe(true);
  });

  it("flags the session's earlier read of injected content, as the gateway recorded it", async () => {
    const reader = { ...CLOUD, groups: [...CLOUD.groups, "grp-ai-devops-readonly"] };
    const read = await h.callAs(
      "jira_read",
      { ticket: "CHG-18433" },
      { as: reader, sessionId: "s-inj" },
    );
    expect(await read.json()).toMatchObject({ evidence: { injection: { suspected: true } } });
    const asked = await h.callAs("aws_modify_security_group", SG_ARGS, {
      as: reader,
      sessionId: "s-inj",
    });
    const { approval_id: injectedId } = (await asked.json()) as { approval_id: string };
    const browser = await signedIn("approver.one@zyxbank.example");
    const html = await (await browser.get(`/console/requests/${injectedId}`)).text();
    const history = /id="session-h"[\s\S]*?<\/section>/.exec(html)?.[0] ?? "";
    expect(history).toMatch(/<tr class="flagged">[\s\S]*?jira_read/);
    expect(history).toMatch(/prompt injection suspected \([^)]*approval_manipulation/);
  });

  it("shows nothing to an approver the kill switch disables (403), as the REST route does", async () => {
    const browser = await signedIn("approver.one@zyxbank.example");
    await h.controls.killSwitch.set("user", "approver.one@zyxbank.example", {
      by: "secadmin@zyxbank.example",
      reason: "account compromised",
    });
    for (const path of ["/console/", `/console/requests/${id}`]) {
      const page = await browser.get(path);
      expect(page.status).toBe(403);
      const html = await page.text();
      expect(html).toContain("approver_not_eligible");
      expect(html).not.toContain(SG_ARGS.change_ticket);
    }
    await h.controls.killSwitch.clear("user", "approver.one@zyxbank.example", {
      by: "secadmin@zyxbank.example",
      reason: "restored",
    });
  });

  it("does not list the request to its requester, nor to someone outside the approver groups", async () => {
    for (const email of ["cloud@zyxbank.example", "engineer@zyxbank.example"]) {
      const browser = await signedIn(email);
      expect(await (await browser.get("/console/")).text()).not.toContain(id);
      const page = await browser.get(`/console/requests/${id}`);
      expect(page.status).toBe(403);
      expect(await page.text()).toContain("approval_not_yours");
    }
  });
});

describe("deciding", () => {
  it("approves through the ApprovalService with the approver's verified identity and posture", async () => {
    const browser = await signedIn("approver.one@zyxbank.example");
    const csrf = csrfOf(await (await browser.get(`/console/requests/${id}`)).text());
    const response = await browser.post(
      `/console/requests/${id}/approve`,
      { csrf },
      {},
      fromPeer("198.51.100.61"),
    );
    expect(response.status).toBe(303);
    const request = await h.controls.approvals.get(id);
    expect(request?.approvals.map((a) => a.subject)).toEqual(["approver.one@zyxbank.example"]);
    // Where the approver was is in the record, never stored with the request.
    expect(JSON.stringify(request)).not.toContain("198.51.100.61");
    const approve = auditRecords().find(
      (r) =>
        r["event"] === "approval" &&
        (r["details"] as Record<string, unknown>)["action"] === "approve",
    );
    expect(approve?.["user"]).toEqual({
      subject: "approver.one@zyxbank.example",
      email: "approver.one@zyxbank.example",
    });
    expect(approve?.["source"]).toEqual({ ip: "198.51.100.61", peer: "198.51.100.61" });
    const page = await (await browser.get(`/console/requests/${id}?done=approved`)).text();
    expect(page).toContain("Your approval is recorded.");
  });

  it("denies with a reason", async () => {
    const browser = await signedIn("approver.two@zyxbank.example");
    const csrf = csrfOf(await (await browser.get(`/console/requests/${id}`)).text());
    expect(
      (await browser.post(`/console/requests/${id}/deny`, { csrf, reason: "no ticket link" }))
        .status,
    ).toBe(303);
    const request = await h.controls.approvals.get(id);
    expect(request?.status).toBe("denied");
    expect(request?.denial?.reason).toBe("no ticket link");
  });

  it("denies a post-hoc review and its compensation runs: the night's Slack message is deleted", async () => {
    h.clock.now = SATURDAY_NIGHT_MS;
    const message = { channel: "devsecops-change-review", text: "CHG-18422: posted at 03:00" };
    const posted = await h.callAs("slack_post_message", message, { sessionId: "s-night" });
    expect(posted.status).toBe(200);
    const { review, result } = (await posted.json()) as {
      review: { approval_id: string; mode: string };
      result: { channel: string; ts: string };
    };
    expect(review.mode).toBe("post_hoc");

    const browser = await signedIn("change.approver@zyxbank.example");
    const page = await (await browser.get(`/console/requests/${review.approval_id}`)).text();
    const denied = await browser.post(`/console/requests/${review.approval_id}/deny`, {
      csrf: csrfOf(page),
      reason: "not at 03:00",
    });
    expect(denied.status).toBe(303);
    const request = await h.controls.approvals.get(review.approval_id);
    expect(request?.status).toBe("denied");
    expect(request?.compensation_result).toMatchObject({ status: "executed", http_status: 200 });
    expect(h.workerCalls.map((c) => c.call)).toContainEqual(
      expect.objectContaining({
        tool: "slack_delete_message",
        arguments: { channel: result.channel, ts: result.ts },
      }),
    );
  });

  it("refuses the requester (approver_is_requester, audited) and changes nothing", async () => {
    const browser = await signedIn("cloud@zyxbank.example");
    const csrf = csrfOf(await (await browser.get("/console/")).text());
    const response = await browser.post(`/console/requests/${id}/approve`, { csrf });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("approver_is_requester");
    expect((await h.controls.approvals.get(id))?.approvals).toEqual([]);
    expect(
      auditRecords().some(
        (r) =>
          (r["outcome"] as Record<string, unknown> | undefined)?.["code"] ===
          "approver_is_requester",
      ),
    ).toBe(true);
  });

  it("refuses a non-approver (approver_not_eligible)", async () => {
    const browser = await signedIn("engineer@zyxbank.example");
    const csrf = csrfOf(await (await browser.get("/console/")).text());
    const response = await browser.post(`/console/requests/${id}/approve`, { csrf });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("approver_not_eligible");
    expect((await h.controls.approvals.get(id))?.approvals).toEqual([]);
  });

  it("refuses an approver whose device the device-trust service reports unmanaged", async () => {
    const browser = await signedIn("unmanaged.approver@zyxbank.example");
    const csrf = csrfOf(await (await browser.get(`/console/requests/${id}`)).text());
    const response = await browser.post(`/console/requests/${id}/approve`, { csrf });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("approver_device_not_compliant");
    expect((await h.controls.approvals.get(id))?.approvals).toEqual([]);
  });

  it("refuses a stale session: the access token behind it expired", async () => {
    const browser = await signedIn("approver.one@zyxbank.example");
    const csrf = csrfOf(await (await browser.get(`/console/requests/${id}`)).text());
    h.clock.now += 400_000;
    const response = await browser.post(`/console/requests/${id}/approve`, { csrf });
    expect(response.status).toBe(401);
    expect(await response.text()).toContain("console_session_stale");
    expect((await h.controls.approvals.get(id))?.approvals).toEqual([]);
    // And the session is gone: signing in again is the only way on.
    expect((await browser.get("/console/")).status).toBe(401);
  });

  it("refuses a forged CSRF token, and one sent from another origin", async () => {
    const browser = await signedIn("approver.one@zyxbank.example");
    const csrf = csrfOf(await (await browser.get(`/console/requests/${id}`)).text());
    const forged = await browser.post(`/console/requests/${id}/approve`, { csrf: `${csrf}x` });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain("console_csrf_invalid");
    const missing = await browser.post(`/console/requests/${id}/approve`, {});
    expect(missing.status).toBe(403);
    const other = await browser.post(
      `/console/requests/${id}/approve`,
      { csrf },
      { origin: "http://evil.test" },
    );
    expect(other.status).toBe(403);
    expect(await other.text()).toContain("console_csrf_invalid");
    expect((await h.controls.approvals.get(id))?.approvals).toEqual([]);
    // Another session's token does not work either.
    const second = await signedIn("approver.two@zyxbank.example");
    const stolen = await second.post(`/console/requests/${id}/approve`, { csrf });
    expect(stolen.status).toBe(403);
  });
});
