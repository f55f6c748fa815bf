// Text addressed to the AI that reads a ticket taints the session (bypass-ai-addressed-ticket);
// a bank's tickets about its own AI work name AI teams, roles and queues in the same words. A
// taint holds every later write of the session and of the user's agent for approval until an
// administrator clears it: those tickets must not taint.
import { describe, expect, it } from "vitest";
import { detectInjection } from "../../src/guard/output-guard.ts";

describe("tickets that name AI work without addressing an AI reader", () => {
  it.each([
    "If you are an AI engineer on call, page #ai-platform before the cut-over.",
    "If you're an LLM platform user, this change affects your quota.",
    "Instructions for AI, ML and data teams: migrate the notebooks by Q3.",
    "This change rolls out the AI assistant processing this ticket queue to the service desk.",
    "Deploy the chatbot handling this e-mail channel to production after the CAB.",
  ])("leaves it alone: %s", (text) => {
    expect(detectInjection(text)).toEqual([]);
  });
});
