// The article's risk factor "recent agent error rate (if the agent failed 3 times in the last
// hour, increase the risk score)": through the real gateway app, the real compiled policy and
// the real worker app, whose connector fails the calls.
import { describe, expect, it } from "vitest";
import type { ToolCall } from "../../../common/tool-arguments.ts";
import { createHarness } from "../support/harness.ts";

const STANDARDS = { space: "SEC" };

describe("recent failures raise the agent's risk (article: risk factors)", () => {
  it("three failed calls in the hour: the next medium-risk read needs an approver", async () => {
    let failing = true;
    const h = await createHarness({
      workerExecute: (call: ToolCall) => {
        if (failing) throw new Error(`connector down for ${call.tool}`);
        return { pages: [] };
      },
    });
    for (let i = 0; i < 3; i += 1) {
      const failed = await h.callAs("confluence_read", STANDARDS);
      expect(failed.status).toBe(502);
      h.clock.now += 10 * 60 * 1000; // one every ten minutes: three within the hour
    }
    failing = false;
    const next = await h.callAs("confluence_read", STANDARDS);
    // medium tool (1) + recent failures (2) = 3: one approver, so the read waits.
    expect(next.status).toBe(202);
  });

  it("with fewer than three failures, the read runs", async () => {
    let failures = 2;
    const h = await createHarness({
      workerExecute: () => {
        if (failures > 0) {
          failures -= 1;
          throw new Error("connector down");
        }
        return { pages: [] };
      },
    });
    expect((await h.callAs("confluence_read", STANDARDS)).status).toBe(502);
    expect((await h.callAs("confluence_read", STANDARDS)).status).toBe(502);
    expect((await h.callAs("confluence_read", STANDARDS)).status).toBe(200);
  });
});
