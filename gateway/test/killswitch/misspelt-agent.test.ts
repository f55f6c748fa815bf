// Review: the kill switch refuses a connector the catalog does not know ("a misspelt connector is
// refused instead of silently stopping nothing"), but takes any agent or workflow name. The
// policy matches names exactly, and an agent the catalog does not list may use no tool at all,
// so an administrator's "Change-Reviewer" in an incident is saved, audited and answered 200,
// and stops nothing: the agent keeps writing.
import { describe, expect, it } from "vitest";
import { createHarness, type Harness, ADMIN } from "../support/harness.ts";

const SLACK = { channel: "devsecops-change-review", text: "CHG-18422 review posted" };
async function admin(h: Harness, scope: string, body: Record<string, unknown>) {
  return h.app.request(`/v1/admin/kill-switch/${scope}`, {
    method: "PUT",
    headers: {
      authorization: `Bearer ${await h.accessToken(ADMIN)}`,
      "x-device-posture": await h.postureToken({ user: ADMIN.user }),
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
}

describe.each([
  ["read-only", "Change-Reviewer"],
  ["agent", "Change-Reviewer"],
  ["workflow", "Change-Review"],
])("kill switch %s %j", (scope, value) => {
  it("either stops the agent's next write or is refused: never a 200 that stops nothing", async () => {
    const h = await createHarness();
    const set = await admin(h, scope, { value, reason: "INC-42" });
    const write = await h.callAs("slack_post_message", SLACK);
    expect({ set: set.status, write: write.status }).not.toEqual({ set: 200, write: 200 });
    if (set.status !== 200) {
      expect(await set.json()).toMatchObject({ code: "kill_switch_value_invalid" });
    }
  });
});
