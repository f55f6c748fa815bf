// The exact arguments on the request page wrap: a string padded with spaces cannot push its tail
// past the box's right edge (a tainted session's Jira comment reading "Looks good, closing." with
// the payload 400 spaces on). Rendered in a real browser (Debian's Chromium, as test/e2e does),
// the page as the console serves it: every character of the arguments lies inside the box.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { Browser, createConsoleHarness, GATEWAY_ORIGIN } from "./support.ts";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

describe("the exact arguments on the request page", () => {
  it("show a padded argument's tail without scrolling", { timeout: 60_000 }, async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run make setup`);
    const h = await createConsoleHarness();
    const secret = "EXFIL-db-password-hunter2";
    const { id } = await h.controls.approvals.request({
      tool: "jira_add_comment",
      arguments: { ticket: "CHG-18422", body: `Looks good, closing.${" ".repeat(400)}${secret}` },
      requester: {
        subject: "cloud@zyxbank.example",
        email: "cloud@zyxbank.example",
        groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers"],
      },
      agent: "change-remediator",
      session_id: "s-tainted",
      workflow: "change-review",
      policy_revision: "r1",
      risk_score: 5,
      approvers_required: 1,
      approver_groups: ["grp-ai-prod-approvers"],
      fallback_groups: ["grp-ai-security-oncall"],
      decision_id: randomUUID(),
      trace_id: "0".repeat(32),
    });
    const console = new Browser(h);
    expect((await console.signIn("approver.one@zyxbank.example")).status).toBe(200);
    const html = await (await console.get(`/console/requests/${id}`)).text();
    const css = await (await console.get("/console/console.css")).text();
    const chrome = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await chrome.newPage({ viewport: { width: 1280, height: 1000 } });
      await page.route(`${GATEWAY_ORIGIN}/**`, (route) =>
        route.request().url().endsWith("/console/console.css")
          ? route.fulfill({ contentType: "text/css", body: css })
          : route.fulfill({ contentType: "text/html", body: html }),
      );
      await page.goto(`${GATEWAY_ORIGIN}/console/requests/${id}`);
      // A string run in the page: this project's types have no DOM.
      const [scroll, client] = await page.evaluate<[number, number]>(
        "(() => { const pre = document.getElementById('arguments'); return [pre.scrollWidth, pre.clientWidth]; })()",
      );
      expect(await page.locator("#arguments").textContent()).toContain(secret);
      expect(scroll).toBeLessThanOrEqual(client);
    } finally {
      await chrome.close();
    }
  });
});
