// A Block Kit button's URL is printable ASCII or refused (400 arguments_invalid) before anything
// is decided or stored. The URL parser alone took a NUL, a space or a lone surrogate and
// percent-encoded it: a NUL reached the approval store (PostgreSQL's jsonb cannot hold one, and
// one such open request failed every later waiting-request listing of its user and agent: the
// store's contract test holds that case), and a lone surrogate answered 500. A non-ASCII host
// is a homograph's way in.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createHarness } from "../support/harness.ts";

/** A message with one link button: the URL is the caller's. */
const message = (url: string) => ({
  channel: "devsecops-change-review",
  text: "CHG-18422 reviewed",
  blocks: [
    {
      type: "actions",
      elements: [{ type: "button", text: { type: "plain_text", text: "Open" }, url }],
    },
  ],
});

describe("a Slack button URL that is not printable ASCII", () => {
  it.each([
    ["a NUL", "https://a.example/x\u0000y"],
    ["a lone surrogate", "https://a.example/x\ud800y"],
    ["a space", "https://a.example/a b"],
    ["a tab", "https://a.example/a\tb"],
    ["a Cyrillic letter in the host", "https://ex\u0430mple.com/"],
  ])("with %s is refused 400 arguments_invalid before any decision", async (_, url) => {
    const h = await createHarness();
    // A tainted session: a write it asks for waits for approval (202) when its arguments are valid.
    h.sessions.taint("s-url");
    const audit = () => readFileSync(h.auditPath, "utf8");
    const before = audit();
    const refused = await h.callAs("slack_post_message", message(url), { sessionId: "s-url" });
    expect({ status: refused.status, body: await refused.json() }).toMatchObject({
      status: 400,
      body: {
        code: "arguments_invalid",
        issues: [
          expect.objectContaining({
            path: "/blocks/0/elements/0/url",
            message: "must be printable ASCII: percent-encode anything else",
          }),
        ],
      },
    });
    // The refusal is on the record; no decision was taken, nothing was asked of anyone.
    const added = audit()
      .slice(before.length)
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { event: string; outcome: { code?: string } });
    expect(added.map((r) => [r.event, r.outcome.code])).toEqual([["refusal", "arguments_invalid"]]);
    expect(h.workerCalls).toEqual([]);
    // The same message with a plain URL waits for approval: the refusal was the URL's.
    const valid = await h.callAs("slack_post_message", message("https://a.example/x%00y"), {
      sessionId: "s-url",
    });
    expect({ status: valid.status, body: await valid.json() }).toMatchObject({
      status: 202,
      body: { status: "pending" },
    });
  });
});
