// The diff reader and the Terraform line scanner the rules stand on.
import { describe, expect, it } from "vitest";
import {
  attributeOf,
  literalOf,
  parsePatch,
  scanHunk,
  type Attribute,
  type Block,
} from "../src/terraform.ts";

describe("parsePatch", () => {
  it("keeps the new side of each hunk with new-file line numbers, and which lines were added", () => {
    const patch = [
      "diff --git a/main.tf b/main.tf",
      "--- a/main.tf",
      "+++ b/main.tf",
      "@@ -1,3 +1,3 @@ locals {",
      " a = 1",
      "-b = 2",
      "+b = 3",
      " c = 4",
      "@@ -10,2 +10,3 @@",
      " d = 5",
      "+++e = 6",
      "",
      "\\ No newline at end of file",
    ].join("\n");
    expect(parsePatch("main.tf", patch)).toEqual([
      {
        file: "main.tf",
        context: "locals {",
        lines: [
          { file: "main.tf", line: 1, text: "a = 1", added: false },
          { file: "main.tf", line: 2, text: "b = 3", added: true },
          { file: "main.tf", line: 3, text: "c = 4", added: false },
        ],
      },
      {
        file: "main.tf",
        context: "",
        lines: [
          { file: "main.tf", line: 10, text: "d = 5", added: false },
          // Inside a hunk, "+" is the marker whatever follows it.
          { file: "main.tf", line: 11, text: "++e = 6", added: true },
          { file: "main.tf", line: 12, text: "", added: false },
        ],
      },
    ]);
  });

  it("returns nothing for a patch without hunks", () => {
    expect(parsePatch("x.tf", "Binary files differ\n")).toEqual([]);
  });
});

function scan(patch: string) {
  const [hunk] = parsePatch("main.tf", patch);
  if (hunk === undefined) throw new Error("no hunk");
  return scanHunk(hunk);
}

const keys = (block: Block | undefined) => block?.attributes.map((a) => a.key);

describe("scanHunk", () => {
  it("reads resources, nested blocks, multi-line values and their lines", () => {
    const view = scan(`@@ -0,0 +1,14 @@
+resource "aws_security_group" "web" {
+  name = "web" # the name
+  ingress {
+    from_port   = 443
+    cidr_blocks = [
+      "10.0.0.0/8",
+    ]
+  }
+  tags = {
+    Owner = "team"
+  }
+}
+
+data "aws_caller_identity" "me" {}
`);
    expect(view.blocks.map((b) => [b.name, b.labels])).toEqual([
      ["resource", ["aws_security_group", "web"]],
      ["data", ["aws_caller_identity", "me"]],
    ]);
    const group = view.blocks[0];
    expect(keys(group)).toEqual(["name", "tags"]);
    expect(group?.header?.line).toBe(1);
    expect(group?.blocks.filter((b) => b.kind === "block").map((b) => b.name)).toEqual(["ingress"]);
    const ingress = group?.blocks.find((b) => b.name === "ingress");
    const cidrs = ingress === undefined ? undefined : attributeOf(ingress, "cidr_blocks");
    expect(cidrs?.lines.map((l) => l.line)).toEqual([5, 6, 7]);
    expect(cidrs === undefined ? undefined : literalOf(cidrs)).toEqual({
      kind: "list",
      value: ["10.0.0.0/8"],
    });
    expect(group?.lines.map((l) => l.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // The comment is not part of the value.
    const name = group === undefined ? undefined : attributeOf(group, "name");
    expect(name === undefined ? undefined : literalOf(name)).toEqual({
      kind: "string",
      value: "web",
    });
  });

  it("does not count braces inside strings or interpolations", () => {
    const view = scan(`@@ -0,0 +1,4 @@
+resource "aws_iam_policy" "p" {
+  description = "a } brace and \${var.x} in a string"
+  name        = "p"
+}
`);
    expect(keys(view.blocks[0])).toEqual(["description", "name"]);
    expect(view.blocks).toHaveLength(1);
  });

  it("places a hunk that starts inside a resource from the hunk header and the indentation", () => {
    const view = scan(`@@ -5,5 +5,6 @@ resource "aws_security_group" "bastion" {
     Owner = "platform-team"
   }
 }
+
+resource "aws_s3_bucket" "b" {
+}
`);
    expect(view.blocks.map((b) => [b.name, b.labels, b.header?.line])).toEqual([
      ["resource", ["aws_security_group", "bastion"], undefined],
      ["resource", ["aws_s3_bucket", "b"], 9],
    ]);
    // "Owner" was inside tags, a level the hunk does not show: not an attribute of the group.
    expect(keys(view.blocks[0])).toEqual([]);
  });

  it("keeps what it cannot place out of every block", () => {
    const view = scan(`@@ -5,3 +5,3 @@ locals_without_braces
       cidr_blocks = ["0.0.0.0/0"]
     }
   }
`);
    expect(view.blocks.map((b) => b.kind)).toEqual(["unknown"]);
    expect(view.blocks[0]?.name).toBe("");
  });
});

describe("literalOf", () => {
  const literal = (value: string) =>
    literalOf({ key: "k", value, lines: [] } as unknown as Attribute);

  it.each([
    ['"text"', { kind: "string", value: "text" }],
    ['"a \\"quoted\\" word",', { kind: "string", value: 'a "quoted" word' }],
    ["22", { kind: "number", value: 22 }],
    ["-1", { kind: "number", value: -1 }],
    ["true", { kind: "bool", value: true }],
    ['["0.0.0.0/0", "::/0"]', { kind: "list", value: ["0.0.0.0/0", "::/0"] }],
    ['[\n"a",\n"b",\n]', { kind: "list", value: ["a", "b"] }],
    ["var.port", { kind: "expression" }],
    ['"${var.cidr}"', { kind: "expression" }],
    ["[var.cidr]", { kind: "expression" }],
  ])("%s", (value, expected) => {
    expect(literal(value)).toEqual(expected);
  });
});
