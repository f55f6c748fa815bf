// Reads `opa test --format json` output and fails closed on what opa itself lets pass.
//   results  <file>            : every test passed, and at least one test ran
//   coverage <file> <minimum>  : coverage at or above the minimum, and some Rego was evaluated
import { readFileSync } from "node:fs";
import { z } from "zod";

const Results = z.array(
  z.object({ name: z.string(), package: z.string(), fail: z.boolean().optional() }),
);
const Coverage = z.object({
  files: z.record(z.string(), z.object({ coverage: z.number().optional() })).default({}),
  coverage: z.number().default(0),
});

function fail(message: string): never {
  console.error(`policy: ${message}`);
  process.exit(1);
}

const [mode, file, minimum] = process.argv.slice(2);
if (file === undefined) fail("usage: opa-test-report.ts results|coverage <file> [minimum]");
const json: unknown = JSON.parse(readFileSync(file, "utf8"));

if (mode === "results") {
  const results = Results.parse(json);
  const failed = results.filter((r) => r.fail === true);
  console.log(`policy: ${results.length - failed.length} passed, ${failed.length} failed`);
  if (results.length === 0) fail("no opa test ran");
  if (failed.length > 0) fail(`failed: ${failed.map((r) => `${r.package}.${r.name}`).join(", ")}`);
} else if (mode === "coverage") {
  const report = Coverage.parse(json);
  const files = Object.entries(report.files);
  for (const [name, { coverage }] of files)
    console.log(`  ${name}: ${(coverage ?? 0).toFixed(1)}%`);
  console.log(`policy: coverage ${report.coverage.toFixed(1)}% (minimum ${minimum ?? "?"}%)`);
  if (files.length === 0) fail("no Rego was evaluated by the tests");
  if (report.coverage < Number(minimum)) fail("coverage is under the minimum");
} else {
  fail(`unknown mode ${mode ?? ""}`);
}
