// Test support for the analysis: Terraform written as a pull request's added lines, and the
// rules it raises for a ticket that has a rollback plan (so only the diff decides).
import { analyzeChange } from "../src/analysis.ts";
import type { RuleId } from "../src/rules.ts";

/** A ticket with a rollback plan: the missing-plan rule never fires. */
export const WITH_PLAN = { rollback_plan: "Revert the pull request and re-apply." };

/** `text` as one hunk of added lines (a leading and a trailing newline dropped). */
export function added(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\n$/, "").split("\n");
  return `@@ -0,0 +1,${lines.length} @@\n${lines.map((line) => `+${line}`).join("\n")}\n`;
}

/** The rules raised by these files, each `[path, text]` added as a whole. */
export function rulesOfAdded(...files: [string, string][]): RuleId[] {
  return analyzeChange(WITH_PLAN, {
    files: files.map(([path, text]) => ({ path, patch: added(text) })),
  }).map((hit) => hit.rule);
}
