// The analysis is synchronous, on the runtime's event loop, over the author's diff (up to 1 MiB):
// its cost must stay linear in the diff. Quadratic growth (every line added to every open level,
// every attribute searched per line) held the loop for tens of seconds on tens of KiB and ran
// the process out of heap on about 140 KiB, killing every review in flight without a problem
// document.
import { describe, expect, it } from "vitest";
import { analyzeChange } from "../src/analysis.ts";

const WITH_PLAN = { rollback_plan: "Revert the pull request and re-apply." };

function timed(lines: string[]): { ms: number; kib: number } {
  const patch = `@@ -0,0 +1,${lines.length} @@\n${lines.map((line) => `+${line}`).join("\n")}\n`;
  const started = performance.now();
  analyzeChange(WITH_PLAN, { files: [{ path: "terraform/main.tf", patch }] });
  return { ms: performance.now() - started, kib: Buffer.byteLength(patch) / 1024 };
}

describe("the analysis' cost on a hostile diff", { timeout: 120_000 }, () => {
  it("reads a 1 MiB diff of short lines without throwing (the review's 500)", () => {
    const { ms, kib } = timed([
      'resource "aws_iam_policy" "p" {',
      ...Array.from({ length: 140_000 }, () => "a = 1"),
      "}",
    ]);
    expect(kib).toBeLessThan(1024);
    expect(ms).toBeLessThan(1_500);
  });

  it("stays linear in nesting: 6,000 unclosed lists (about 40 KiB)", () => {
    const { ms, kib } = timed([
      'resource "aws_iam_policy" "p" {',
      ...Array.from({ length: 6_000 }, () => "a = ["),
    ]);
    expect(kib).toBeLessThan(64);
    expect(ms).toBeLessThan(1_500);
  });

  it("stays linear in IAM actions: 12,000 wildcard lines (about 200 KiB)", () => {
    const { ms } = timed([
      'resource "aws_iam_policy" "p" {',
      ...Array.from({ length: 12_000 }, () => 'Action = "s3:*"'),
      "}",
    ]);
    expect(ms).toBeLessThan(1_500);
  });

  it("stays linear in S3 buckets: 2,000 buckets and their blocks (about 300 KiB)", () => {
    const { ms } = timed(
      Array.from({ length: 2_000 }, (_, i) => [
        `resource "aws_s3_bucket" "b${String(i)}" {`,
        `  bucket = "zyx-${String(i)}"`,
        "}",
        `resource "aws_s3_bucket_public_access_block" "p${String(i)}" {`,
        `  bucket = aws_s3_bucket.b${String(i)}.id`,
        "}",
      ]).flat(),
    );
    expect(ms).toBeLessThan(1_500);
  });

  it("stays linear in references: 2,000 rules reading one local of 20,000 ranges (about 600 KiB)", () => {
    const ranges = Array.from(
      { length: 20_000 },
      (_, i) => `"10.${String((i >> 8) & 255)}.${String(i & 255)}.0/24"`,
    );
    const { ms, kib } = timed([
      "locals {",
      `  sources = [${ranges.join(", ")}]`,
      "}",
      ...Array.from({ length: 2_000 }, (_, i) => [
        `resource "aws_security_group_rule" "r${String(i)}" {`,
        '  type        = "ingress"',
        '  protocol    = "tcp"',
        "  from_port   = 22",
        "  to_port     = 22",
        "  cidr_blocks = local.sources",
        "}",
      ]).flat(),
    ]);
    expect(kib).toBeLessThan(1024);
    expect(ms).toBeLessThan(1_500);
  });

  it("stays linear in joined rules: 4,000 rules of one group on every port (about 700 KiB)", () => {
    const { ms, kib } = timed(
      Array.from({ length: 4_000 }, (_, i) => [
        `resource "aws_security_group_rule" "r${String(i)}" {`,
        '  type              = "ingress"',
        "  security_group_id = aws_security_group.jump.id",
        '  protocol          = "-1"',
        "  from_port         = 0",
        "  to_port           = 0",
        `  cidr_blocks       = ["${String(i % 256)}.${String(i >> 8)}.0.0/16"]`,
        "}",
      ]).flat(),
    );
    expect(kib).toBeLessThan(1024);
    expect(ms).toBeLessThan(1_500);
  });
});
