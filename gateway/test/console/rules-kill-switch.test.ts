// The request page's rules view is the gateway's own aws_dev_read, outside the policy: while the
// kill switch holds the read's connector it is not sent (the page, and its 10-second refresh,
// would otherwise call AWS with a credential the switch was pulled for); the page says so.
import { describe, expect, it } from "vitest";
import { Browser, createConsoleHarness, pendingSecurityGroupChange } from "./support.ts";

describe("the console's rules view and the kill switch", () => {
  it("does not read through a connector the kill switch disables", async () => {
    const h = await createConsoleHarness();
    const id = await pendingSecurityGroupChange(h);
    await h.controls.killSwitch.set("connector", "aws", {
      by: "secadmin@zyxbank.example",
      reason: "INC-77: AWS credential suspected leaked",
    });
    const browser = new Browser(h);
    expect((await browser.signIn("approver.one@zyxbank.example")).status).toBe(200);
    const before = h.workerCalls.length;
    const page = await browser.get(`/console/requests/${id}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(h.workerCalls.slice(before).map((c) => c.call.tool)).not.toContain("aws_dev_read");
    expect(html).toContain("kill switch");
  });
});
