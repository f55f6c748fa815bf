// A denial that only stops a waiting call needs no compliant device and no fresh posture
// (README, approvals/routes.ts trustedDevice): a device-trust service that is down or answers an
// error leaves the device untrusted, never the denial refused (the safe action must not fail
// closed). The posture still gates what it must: rejecting a post-hoc review (a compensating
// write) is refused without it.
import { beforeEach, describe, expect, it } from "vitest";
import {
  Browser,
  createConsoleHarness,
  csrfOf,
  pendingSecurityGroupChange,
  type ConsoleHarness,
} from "./support.ts";

/** Saturday 2026-05-23 03:00 in Singapore: outside business hours, writes run under review. */
const SATURDAY_NIGHT_MS = 1_779_476_400_000;

let h: ConsoleHarness;
beforeEach(async () => {
  h = await createConsoleHarness();
});

/** From now on the device-trust service answers 503; the rest of the IdP still works. */
function deviceTrustDown(): void {
  const request = h.idp.request;
  h.idp.request = (input, init, ...rest) =>
    String(input instanceof Request ? input.url : input).endsWith("/device-trust/posture")
      ? new Response("unavailable", { status: 503 })
      : request(input, init, ...rest);
}

async function signedIn(email: string): Promise<Browser> {
  const browser = new Browser(h);
  expect((await browser.signIn(email)).status).toBe(200);
  return browser;
}

describe("denying in the console while device trust is down", () => {
  it("still denies a waiting request: stopping a call needs no device", async () => {
    const id = await pendingSecurityGroupChange(h);
    const browser = await signedIn("approver.two@zyxbank.example");
    const csrf = csrfOf(await (await browser.get(`/console/requests/${id}`)).text());
    deviceTrustDown();
    const response = await browser.post(`/console/requests/${id}/deny`, {
      csrf,
      reason: "0.0.0.0/0 on SSH, no",
    });
    expect(response.status).toBe(303);
    expect((await h.controls.approvals.get(id))?.status).toBe("denied");
    // Approving still needs the device, checked now.
    const id2 = await pendingSecurityGroupChange(h, "sg-console-2");
    const approve = await browser.post(`/console/requests/${id2}/approve`, { csrf });
    expect(approve.status).toBe(503);
    expect((await h.controls.approvals.get(id2))?.approvals).toEqual([]);
  });

  it("does not reject a post-hoc review without a verified device", async () => {
    h.clock.now = SATURDAY_NIGHT_MS;
    const message = { channel: "devsecops-change-review", text: "CHG-18422: posted at 03:00" };
    const posted = await h.callAs("slack_post_message", message, { sessionId: "s-night" });
    const { review } = (await posted.json()) as { review: { approval_id: string } };
    const browser = await signedIn("change.approver@zyxbank.example");
    const page = await (await browser.get(`/console/requests/${review.approval_id}`)).text();
    deviceTrustDown();
    const denied = await browser.post(`/console/requests/${review.approval_id}/deny`, {
      csrf: csrfOf(page),
      reason: "not at 03:00",
    });
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain("approver_device_not_compliant");
    expect((await h.controls.approvals.get(review.approval_id))?.status).not.toBe("denied");
  });
});
