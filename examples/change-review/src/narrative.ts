// Optional: a short narrative of the review written by a model (an OpenAI-compatible chat
// completions endpoint, env MODEL_URL), from the STRUCTURED review only: the rule table's texts
// and the validated identifiers, never retrieved content, so the model sees nothing an attacker
// wrote. The model decides nothing: the findings, approvals and tool calls are the deterministic
// review's; the narrative is an extra field of the response, validated (zod) and dropped on any
// failure. Off by default; the tests run the deterministic path.
import { z } from "zod";
import type { ReviewReport } from "./review.ts";

export interface NarratorOptions {
  /** The chat completions endpoint, e.g. http://127.0.0.1:11434/v1/chat/completions */
  url: string;
  model: string;
  /** Sent as a Bearer token when given. */
  apiKey?: string;
  /** Default 10000. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface Narrator {
  /** The narrative, or undefined when the model failed or answered out of bounds. */
  readonly narrate: (report: ReviewReport) => Promise<string | undefined>;
}

export const MAX_NARRATIVE_CHARS = 2_000;

const Completion = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({
          content: z
            .string()
            .trim()
            .min(1)
            .max(MAX_NARRATIVE_CHARS)
            // The narrative is prose for people: no links, no markup that could smuggle one.
            .refine((text) => !/https?:\/\/|<[a-z!/]/i.test(text), "no links or markup"),
        }),
      }),
    )
    .min(1),
});

const INSTRUCTIONS =
  "You summarise an infrastructure change security review for engineers in at most five " +
  "sentences of plain prose. Use only the JSON you are given; do not add findings, approvals " +
  "or advice that it does not contain. No links, no markup.";

/**
 * The review's rule-table texts and validated identifiers, and nothing else: a caller may pass a
 * richer object (locations hold file and resource names, which the pull request's author chose).
 */
function structured(report: ReviewReport): ReviewReport {
  return {
    ticket: report.ticket,
    repository: report.repository,
    pull_request: report.pull_request,
    risk_rating: report.risk_rating,
    findings: report.findings,
    required_approvals: report.required_approvals,
    recommended_remediation: report.recommended_remediation,
  };
}

export function createNarrator(options: NarratorOptions): Narrator {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new TypeError(`"url" must be an absolute URL: ${options.url}`);
  }
  if (typeof options.model !== "string" || options.model === "") {
    throw new TypeError('"model" must be a non-empty string');
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 120_000) {
    throw new TypeError('"timeoutMs" must be an integer from 100 to 120000');
  }
  const fetchImpl = options.fetch ?? fetch;
  return {
    async narrate(report) {
      try {
        const response = await fetchImpl(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` }),
          },
          body: JSON.stringify({
            model: options.model,
            temperature: 0,
            messages: [
              { role: "system", content: INSTRUCTIONS },
              { role: "user", content: JSON.stringify(structured(report)) },
            ],
          }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!response.ok) return undefined;
        const parsed = Completion.safeParse(await response.json());
        return parsed.success ? parsed.data.choices[0]?.message.content : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
