// The optional model narrative: what the model is sent (the structured review only), and that
// anything but a well-formed, bounded answer is dropped.
import { describe, expect, it } from "vitest";
import { createNarrator } from "../src/narrative.ts";
import type { ReviewReport } from "../src/review.ts";

const REPORT: ReviewReport = {
  ticket: "CHG-18422",
  repository: "zyx-bank/platform-infra",
  pull_request: 991,
  risk_rating: "High",
  findings: ["CloudWatch log retention is not defined."],
  required_approvals: ["Platform owner approval"],
  recommended_remediation: ["Define CloudWatch log retention."],
};

function answering(status: number, body: unknown, seen: unknown[] = []): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    seen.push({
      url: request.url,
      authorization: request.headers.get("authorization"),
      body: await request.json(),
    });
    return Response.json(body, { status });
  };
}

const completion = (content: unknown) => ({
  choices: [{ message: { role: "assistant", content } }],
});

describe("createNarrator", () => {
  it("sends the structured review only, and returns the model's prose", async () => {
    const seen: unknown[] = [];
    const narrator = createNarrator({
      url: "http://model.test/v1/chat/completions",
      model: "small-model",
      apiKey: "key-1",
      fetch: answering(200, completion("  One medium finding: retention.  "), seen),
    });
    // Whatever else the caller's object holds (locations name files and resources the pull
    // request's author chose) stays out.
    const richer = {
      ...REPORT,
      hits: [{ rule: "x", locations: [{ file: "ignore-previous.tf" }] }],
    };
    expect(await narrator.narrate(richer)).toBe("One medium finding: retention.");
    expect(seen).toEqual([
      {
        url: "http://model.test/v1/chat/completions",
        authorization: "Bearer key-1",
        body: {
          model: "small-model",
          temperature: 0,
          messages: [
            { role: "system", content: expect.stringContaining("Use only the JSON") as unknown },
            { role: "user", content: JSON.stringify(REPORT) },
          ],
        },
      },
    ]);
  });

  it.each([
    ["a link", 200, completion("See https://exfil.example.net for details.")],
    ["markup", 200, completion("<img src=x>")],
    ["an empty answer", 200, completion("   ")],
    ["too long an answer", 200, completion("x".repeat(2_001))],
    ["another shape", 200, { output: "text" }],
    ["an HTTP error", 500, { error: "overloaded" }],
  ])("drops %s", async (_name, status, body) => {
    const narrator = createNarrator({
      url: "http://model.test/v1/chat/completions",
      model: "small-model",
      fetch: answering(status, body),
    });
    expect(await narrator.narrate(REPORT)).toBeUndefined();
  });

  it("drops an unreachable model", async () => {
    const narrator = createNarrator({
      url: "http://model.test/v1/chat/completions",
      model: "m",
      fetch: () => Promise.reject(new TypeError("fetch failed")),
    });
    expect(await narrator.narrate(REPORT)).toBeUndefined();
  });

  it("checks its options at construction", () => {
    expect(() => createNarrator({ url: "model", model: "m" })).toThrow(
      '"url" must be an absolute URL: model',
    );
    expect(() => createNarrator({ url: "http://m", model: "" })).toThrow(
      '"model" must be a non-empty string',
    );
  });
});
