// Reads the Terraform in a pull request's unified diffs: each hunk's new side (its context and
// added lines; removed lines are gone from the new file) scanned into blocks and attributes, each
// line remembering whether the pull request added it. Rules then look at what the new file says
// AND at what this pull request changed: a finding needs an added line.
//
// This is a line scanner for Terraform as `terraform fmt` writes it, not an HCL parser: one
// attribute or block header per line, braces and brackets counted outside strings, comments
// dropped. A hunk that starts inside a block is placed with git's hunk-header context (the
// enclosing `resource "type" "name" {` line) and the first line's indentation (two spaces a
// level); what cannot be placed is kept out of every resource, so it never yields a finding.
// A variable file (`*.tfvars`) is scanned the same way, its top-level assignments kept in one
// root block per file; a hunk that starts inside one of its values assigns nothing it can read.

export interface DiffLine {
  file: string;
  /** Line number in the new file. */
  line: number;
  /** The line without its diff marker. */
  text: string;
  /** true: added by the pull request; false: unchanged context. */
  added: boolean;
}

export interface Hunk {
  file: string;
  /** The text after the second "@@": git's enclosing-block context, often a resource header. */
  context: string;
  /** The new side, in order. */
  lines: DiffLine[];
}

export type BlockKind = "block" | "value" | "unknown";

export interface Attribute {
  key: string;
  /** The value as written (several lines joined by "\n" for a multi-line value). */
  value: string;
  /** The lines the attribute spans, in order: the first holds `key =`. */
  lines: DiffLine[];
  /** The block (or value) it belongs to. */
  parent: Block;
}

export interface Block {
  /**
   * "block": a `name "label" ... {` block (a resource, or a nested block such as `ingress`);
   * "value": the inside of a multi-line attribute value (a map or list, jsonencode({...}));
   * "unknown": a level a hunk starts in that could not be identified.
   */
  kind: BlockKind;
  /** The block's name: "resource", "data", "ingress"... ("" for values and unknown levels). */
  name: string;
  labels: string[];
  /** The header line; undefined when the hunk starts inside the block (placed from context). */
  header: DiffLine | undefined;
  attributes: Attribute[];
  blocks: Block[];
  parent: Block | undefined;
  /** Every line inside the block, header and closing line included. */
  lines: DiffLine[];
  /** For a value: the attribute whose value it is. */
  attribute?: Attribute;
}

export interface TerraformView {
  /** Top-level blocks (resources, data sources...), in file order. */
  blocks: Block[];
  /** Every attribute, at any depth, in file order. */
  attributes: Attribute[];
  /** Every line of the new side, in file order. */
  lines: DiffLine[];
}

const HUNK_HEADER = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@ ?(.*)$/;

/**
 * The hunks of one file's unified diff (GitHub's `patch`: from its first "@@"). Removed lines
 * and "\ No newline at end of file" markers are dropped; anything before the first hunk header
 * (file headers of a full `git diff`) is ignored.
 */
export function parsePatch(file: string, patch: string): Hunk[] {
  const hunks: Hunk[] = [];
  let current: Hunk | undefined;
  let next = 0;
  const rows = patch.split(/\r?\n/);
  if (rows.at(-1) === "") rows.pop();
  for (const row of rows) {
    const header = HUNK_HEADER.exec(row);
    if (header !== null) {
      current = { file, context: header[2] ?? "", lines: [] };
      hunks.push(current);
      next = Number(header[1]);
      continue;
    }
    if (current === undefined) continue;
    const marker = row.charAt(0);
    if (marker === "+" || marker === " ") {
      current.lines.push({ file, line: next, text: row.slice(1), added: marker === "+" });
      next += 1;
    } else if (marker === "-" || marker === "\\") {
      // removed from the new file, or "\ No newline at end of file"
    } else if (row === "") {
      // a blank context line whose leading space was trimmed by some tool
      current.lines.push({ file, line: next, text: "", added: false });
      next += 1;
    } else {
      current = undefined; // not a diff line: the hunk is over
    }
  }
  return hunks;
}

interface Counted {
  /** The line without its comment. */
  code: string;
  /** The line ends inside a slash-star comment that a later line closes. */
  inComment: boolean;
  /** Openers minus closers outside strings. */
  net: number;
  /** Closers before anything else on the line ("}", "})", "],"...). */
  leadingClosers: number;
}

/**
 * Drops a comment (#, //, or a slash-star comment, which may span lines: `inComment` says the
 * line starts inside one) and counts brackets outside strings.
 */
function count(text: string, inComment = false): Counted {
  let code = "";
  let net = 0;
  let leadingClosers = 0;
  let leading = true;
  let inString = false;
  let interpolation = 0;
  let start = 0;
  if (inComment) {
    const end = text.indexOf("*/");
    if (end === -1) return { code: "", inComment: true, net: 0, leadingClosers: 0 };
    start = end + 2;
  }
  let opensComment = false;
  for (let i = start; i < text.length; i += 1) {
    const char = text.charAt(i);
    if (inString) {
      code += char;
      if (char === "\\") {
        code += text.charAt(i + 1);
        i += 1;
      } else if (char === "$" && text.charAt(i + 1) === "{") {
        interpolation += 1;
        code += "{";
        i += 1;
      } else if (char === "}" && interpolation > 0) {
        interpolation -= 1;
      } else if (char === '"' && interpolation === 0) {
        inString = false;
      }
      continue;
    }
    if (char === "#" || (char === "/" && text.charAt(i + 1) === "/")) break;
    if (char === "/" && text.charAt(i + 1) === "*") {
      const end = text.indexOf("*/", i + 2);
      if (end === -1) {
        opensComment = true;
        break;
      }
      i = end + 1;
      continue;
    }
    code += char;
    if (char === '"') {
      inString = true;
      leading = false;
    } else if (char === "{" || char === "[" || char === "(") {
      net += 1;
      leading = false;
    } else if (char === "}" || char === "]" || char === ")") {
      net -= 1;
      if (leading) leadingClosers += 1;
    } else if (char !== " " && char !== "\t" && char !== ",") {
      leading = false;
    }
  }
  return { code: code.trim(), inComment: opensComment, net, leadingClosers };
}

/** `<<EOT` or `<<-EOT` ending a line's code: the heredoc's closing tag. */
const HEREDOC = /<<-?([A-Za-z_][\w-]*)$/;

const BLOCK_HEADER = /^([A-Za-z_][\w-]*)((?:\s+"[^"]*")*)\s*\{/;
const ATTRIBUTE = /^"?([A-Za-z_][\w-]*)"?\s*(?:=(?!=)|:)\s*(.*)$/;

function labelsOf(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? "");
}

function newBlock(
  kind: BlockKind,
  name: string,
  labels: string[],
  header: DiffLine | undefined,
  parent: Block | undefined,
): Block {
  const block: Block = {
    kind,
    name,
    labels,
    header,
    attributes: [],
    blocks: [],
    parent,
    lines: [],
  };
  parent?.blocks.push(block);
  return block;
}

/** The depth a hunk's first line sits at, from its indentation (terraform fmt: two spaces). */
function startingDepth(lines: readonly DiffLine[]): number {
  const first = lines.find((line) => line.text.trim() !== "");
  if (first === undefined) return 0;
  const indent = /^[ \t]*/.exec(first.text)?.[0] ?? "";
  const width = indent.length + (indent.match(/\t/g)?.length ?? 0); // a tab counts as two
  return Math.floor(width / 2) + (count(first.text).leadingClosers > 0 ? 1 : 0);
}

/**
 * The deepest level the scanner follows. Terraform's resources, their nested blocks and the
 * values the rules read sit a few levels down; deeper levels are counted but not followed, so
 * the work per line stays bounded whatever a hostile diff nests (no line is added to more than
 * this many open levels).
 */
const MAX_LEVELS = 16;

interface Frame {
  block: Block;
  /** The depth before the line that opened it: it closes when the depth falls back to this. */
  openDepth: number;
}

/**
 * Scans one hunk's new side into blocks and attributes. With `root` (a variable file's top
 * level), the hunk's top-level attributes are the root's; without, a top-level attribute is
 * outside every block and kept nowhere.
 */
export function scanHunk(hunk: Hunk, root?: Block): TerraformView {
  const view: TerraformView = { blocks: [], attributes: [], lines: hunk.lines };
  // The root never closes: it opened before depth 0.
  const stack: Frame[] = root === undefined ? [] : [{ block: root, openDepth: -1 }];
  let depth = 0;

  // A hunk that starts inside a block: the context names it when it is a block header.
  const initial = startingDepth(hunk.lines);
  if (initial > 0) {
    const context = BLOCK_HEADER.exec(hunk.context.trim());
    const outer =
      context === null
        ? newBlock("unknown", "", [], undefined, undefined)
        : newBlock("block", context[1] ?? "", labelsOf(context[2] ?? ""), undefined, undefined);
    view.blocks.push(outer);
    stack.push({ block: outer, openDepth: 0 }); // above a variable file's root
    for (let level = 1; level < Math.min(initial, MAX_LEVELS); level += 1) {
      stack.push({
        block: newBlock("unknown", "", [], undefined, stack.at(-1)?.block),
        openDepth: level,
      });
    }
    depth = initial;
  }

  let inComment = false;
  // A heredoc's text is a string: whatever its lines hold, the levels after it are those before.
  let heredoc: { tag: string; stack: Frame[]; depth: number } | undefined;
  for (const line of hunk.lines) {
    if (line.text.trim() === heredoc?.tag) {
      stack.splice(0, stack.length, ...heredoc.stack);
      depth = heredoc.depth;
      heredoc = undefined;
      for (const frame of stack) frame.block.lines.push(line);
      continue;
    }
    const counted = count(line.text, inComment);
    const { code, net } = counted;
    inComment = counted.inComment;
    for (const frame of stack) frame.block.lines.push(line);
    // A multi-line value takes in every line until it closes.
    for (const frame of stack) {
      const attribute = frame.block.attribute;
      if (attribute !== undefined && frame.block.kind === "value") {
        attribute.lines.push(line);
        attribute.value += `\n${code}`;
      }
    }
    const parent = stack.at(-1)?.block;
    const header = BLOCK_HEADER.exec(code);
    const attribute = header === null ? ATTRIBUTE.exec(code) : null;
    let opened: Block | undefined;
    if (header !== null) {
      opened = newBlock("block", header[1] ?? "", labelsOf(header[2] ?? ""), line, parent);
      opened.lines.push(line);
      if (parent === undefined) view.blocks.push(opened);
    } else if (attribute !== null && parent !== undefined) {
      const entry: Attribute = {
        key: attribute[1] ?? "",
        value: attribute[2] ?? "",
        lines: [line],
        parent,
      };
      parent.attributes.push(entry);
      view.attributes.push(entry);
      if (net > 0) {
        opened = newBlock("value", "", [], undefined, parent);
        opened.attribute = entry;
        opened.lines.push(line);
      }
    } else if (net > 0 && parent !== undefined) {
      // "{" opening a list element, or an expression over several lines
      opened = newBlock("value", "", [], undefined, parent);
      opened.lines.push(line);
    }

    const before = depth;
    depth += net;
    if (depth < 0) depth = 0; // more closers than the hunk opened: the outer levels are unknown
    if (opened !== undefined && depth > before && stack.length < MAX_LEVELS) {
      stack.push({ block: opened, openDepth: before });
    }
    while (stack.length > 0 && (stack.at(-1)?.openDepth ?? 0) >= depth) stack.pop();
    const tag = heredoc === undefined ? HEREDOC.exec(code)?.[1] : undefined;
    if (tag !== undefined) heredoc = { tag, stack: [...stack], depth };
  }
  return view;
}

/** Every hunk of every file, scanned. */
export function scanFiles(files: readonly { path: string; patch: string | null }[]): TerraformView {
  const view: TerraformView = { blocks: [], attributes: [], lines: [] };
  for (const file of files) {
    if (file.patch === null || !/\.(tf|tf\.json|hcl)$/.test(file.path)) continue;
    for (const hunk of parsePatch(file.path, file.patch)) {
      const scanned = scanHunk(hunk);
      // One by one: spreading a hunk of 100,000 lines into push() overflows the call stack.
      for (const block of scanned.blocks) view.blocks.push(block);
      for (const attribute of scanned.attributes) view.attributes.push(attribute);
      for (const line of scanned.lines) view.lines.push(line);
    }
  }
  return view;
}

/** A variable file (`*.tfvars`) of the pull request: its top-level assignments. */
export interface VariableFile {
  path: string;
  /** One block holding the file's top-level assignments, across its hunks. */
  root: Block;
}

/**
 * The pull request's variable files, scanned. A hunk that starts inside a value (its first line
 * indented) is placed out of the file's top level, as in a .tf file: what it assigns is unknown.
 */
export function scanVariableFiles(
  files: readonly { path: string; patch: string | null }[],
): VariableFile[] {
  const found: VariableFile[] = [];
  for (const file of files) {
    if (file.patch === null || !file.path.endsWith(".tfvars")) continue;
    const root = newBlock("block", "", [], undefined, undefined);
    for (const hunk of parsePatch(file.path, file.patch)) scanHunk(hunk, root);
    found.push({ path: file.path, root });
  }
  return found;
}

// --- Values -------------------------------------------------------------------------------

export type Literal =
  | { kind: "string"; value: string }
  | { kind: "number"; value: number }
  | { kind: "bool"; value: boolean }
  | { kind: "list"; value: string[] }
  | { kind: "expression" };

/** The literal an attribute's value is, when it is one (an expression otherwise). */
export function literalOf(attribute: Attribute): Literal {
  const text = attribute.value.trim().replace(/,\s*$/, "").trim();
  if (/^-?\d+(?:\.\d+)?$/.test(text)) return { kind: "number", value: Number(text) };
  if (text === "true" || text === "false") return { kind: "bool", value: text === "true" };
  const string = /^"((?:[^"\\$]|\\.)*)"$/.exec(text);
  if (string !== null) return { kind: "string", value: unescape(string[1] ?? "") };
  if (text.startsWith("[") && text.endsWith("]")) {
    const inner = text.slice(1, -1).replace(/\n/g, " ");
    const items = inner
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
    const values: string[] = [];
    for (const item of items) {
      const quoted = /^"((?:[^"\\$]|\\.)*)"$/.exec(item);
      if (quoted === null) return { kind: "expression" };
      values.push(unescape(quoted[1] ?? ""));
    }
    return { kind: "list", value: values };
  }
  return { kind: "expression" };
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, "$1");
}

/** One line without its comment. */
export function codeOf(text: string): string {
  return count(text).code;
}

/** The string literals in a piece of code. */
export function stringsIn(code: string): string[] {
  return [...code.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => unescape(m[1] ?? ""));
}

/** The last top-level attribute named `key` of a block. */
export function attributeOf(block: Block, key: string): Attribute | undefined {
  return block.attributes.findLast((attribute) => attribute.key === key);
}

/** `type.name` of a resource block. */
export function addressOf(block: Block): string {
  return block.labels.join(".");
}

export function isResource(block: Block, types: readonly string[]): boolean {
  return (
    block.kind === "block" &&
    block.name === "resource" &&
    block.parent === undefined &&
    types.includes(block.labels[0] ?? "")
  );
}

/** The resource a block sits in (itself for a resource). */
export function resourceOf(block: Block): Block | undefined {
  let current: Block = block;
  while (current.parent !== undefined) current = current.parent;
  return current.kind === "block" && current.name === "resource" ? current : undefined;
}
