// Lists the longest functions of the project's source by the lines of their own (nested
// functions not counted) and fails when one is over the limit: small named steps, not long
// handlers. `node scripts/function-lengths.ts [--max 120] [--top 10] [dirs...]`.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const DEFAULT_DIRS = [
  "gateway/src",
  "agent/src",
  "common",
  "idp/src",
  "examples/change-review/src",
];

interface Measured {
  file: string;
  name: string;
  line: number;
  own: number;
}

function sourceFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === "node_modules" || entry === "test") return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

function isFunction(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

function nameOf(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  if (node.name !== undefined) return node.name.getText(source);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) {
    return parent.name.getText(source);
  }
  return "(anonymous)";
}

function measure(file: string): Measured[] {
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line;
  const span = (node: ts.Node) => lineOf(node.getEnd()) - lineOf(node.getStart(source)) + 1;
  const found: Measured[] = [];
  const visit = (node: ts.Node, owner: Measured | undefined): void => {
    if (isFunction(node) && node.body !== undefined) {
      const lines = span(node);
      if (owner !== undefined) owner.own -= lines;
      const measured = {
        file,
        name: nameOf(node, source),
        line: lineOf(node.getStart(source)) + 1,
        own: lines,
      };
      found.push(measured);
      ts.forEachChild(node, (child) => {
        visit(child, measured);
      });
      return;
    }
    ts.forEachChild(node, (child) => {
      visit(child, owner);
    });
  };
  visit(source, undefined);
  return found;
}

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const max = option("--max", 120);
const top = option("--top", 5);
const dirs = process.argv
  .slice(2)
  .filter((arg, i, all) => !arg.startsWith("--") && !all[i - 1]?.startsWith("--"));
const all = (dirs.length > 0 ? dirs : DEFAULT_DIRS)
  .flatMap(sourceFiles)
  .flatMap(measure)
  .sort((a, b) => b.own - a.own);
for (const f of all.slice(0, top)) {
  console.log(
    `${String(f.own).padStart(4)}  ${relative(process.cwd(), f.file)}:${String(f.line)} ${f.name}`,
  );
}
const over = all.filter((f) => f.own > max);
if (over.length > 0) {
  console.error(
    `function-lengths: ${String(over.length)} function(s) over ${String(max)} lines of their own`,
  );
  process.exit(1);
}
