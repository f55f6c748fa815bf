// The shipper's own log lines never carry the sink's credentials: fetch's errors quote the URL
// (a password in its user info) and a header value it refuses (a token file of two lines), and
// the shipper logs the reason an upload failed. Only the error's kind may be logged.
import { describe, expect, it } from "vitest";
import { createDecisionLogShipper } from "../../src/decision-log/shipper.ts";

function capturingLog() {
  const lines: string[] = [];
  return {
    lines,
    log: (level: string, message: string, fields: Record<string, unknown> = {}) => {
      lines.push(JSON.stringify({ level, message, ...fields }));
    },
  };
}

async function shipOnce(options: { url: URL; token?: string }) {
  const { lines, log } = capturingLog();
  const shipper = createDecisionLogShipper({
    ...options,
    flushIntervalMs: 60_000,
    backoff: { minMs: 10_000, maxMs: 10_000 },
    log,
  });
  shipper.enqueue({ decision_id: "d-1" });
  await shipper.flush(500);
  shipper.close();
  return lines.join("\n");
}

describe("the decision-log shipper's log lines and the sink's credentials", () => {
  it("does not log the password of a sink URL with user info", async () => {
    const logged = await shipOnce({
      url: new URL("https://siem-writer:S1emPassw0rd-4242@127.0.0.1:9/decisions"),
    });
    expect(logged).toContain("decision log sink unavailable");
    expect(logged).not.toContain("S1emPassw0rd-4242");
  });

  it("does not log a bearer token fetch refuses as a header value", async () => {
    // What DECISION_LOG_TOKEN_FILE gives when the file holds two lines (it is only trimmed).
    const logged = await shipOnce({
      url: new URL("http://127.0.0.1:9/decisions"),
      token: "first-line-token\nsecond-SIEM-token-9f8e7d",
    });
    expect(logged).toContain("decision log sink unavailable");
    expect(logged).not.toContain("SIEM-token-9f8e7d");
  });
});
