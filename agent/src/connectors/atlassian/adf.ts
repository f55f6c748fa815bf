// Atlassian Document Format (ADF), the JSON tree Jira Cloud REST v3 uses for rich text, to and
// from plain text.
//
// adfToText renders a light, Markdown-like plain text:
//   blocks are separated by a blank line; hardBreak is a newline; headings are "## Title";
//   bullet lists "- item", ordered lists "1. item", task lists "- [ ] item" / "- [x] item",
//   nested list lines indented; code blocks as their text; block quotes "> "; rules "---";
//   table rows one per line with " | " between cells; mentions, emoji, dates and status lozenges
//   as their text; inline/block cards as their URL; media and unknown leaves as nothing.
// It also returns the URLs the document links to (link marks, cards and URLs written in text),
// in order. It never throws on odd input below the root: unknown node types render their
// children, and anything that is not a node is skipped. Depth is bounded.
//
// textToAdf is its inverse for the same dialect: paragraphs (lines joined by hardBreak), "#"
// headings and "- " bullet lists; for any text t made of those, adfToText(textToAdf(t)).text
// === t. URLs become link marks only when asked (`linkify`): comments written by the agent are
// posted without making any URL clickable.
import { findUrls } from "./links.ts";

const MAX_DEPTH = 64;

export interface AdfText {
  text: string;
  urls: string[];
}

export class AdfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdfError";
  }
}

interface Node {
  type: string;
  text?: unknown;
  attrs: Record<string, unknown>;
  marks: unknown[];
  content: unknown[];
}

function asNode(value: unknown): Node | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const type = record["type"];
  if (typeof type !== "string") return undefined;
  const attrs = record["attrs"];
  const marks = record["marks"];
  const content = record["content"];
  return {
    type,
    text: record["text"],
    attrs:
      typeof attrs === "object" && attrs !== null && !Array.isArray(attrs)
        ? (attrs as Record<string, unknown>)
        : {},
    marks: Array.isArray(marks) ? (marks as unknown[]) : [],
    content: Array.isArray(content) ? (content as unknown[]) : [],
  };
}

function stringAttr(node: Node, name: string): string | undefined {
  const value = node.attrs[name];
  return typeof value === "string" ? value : undefined;
}

function isHttpUrl(value: string): boolean {
  return /^https?:\/\//i.test(value) && URL.canParse(value);
}

class Renderer {
  readonly urls: string[] = [];

  private addUrl(url: string | undefined): void {
    if (url !== undefined && isHttpUrl(url)) this.urls.push(url);
  }

  inline(nodes: readonly unknown[], depth: number): string {
    if (depth > MAX_DEPTH) return "";
    let out = "";
    for (const value of nodes) {
      const node = asNode(value);
      if (node === undefined) continue;
      out += this.inlineNode(node, depth);
    }
    return out;
  }

  private inlineNode(node: Node, depth: number): string {
    switch (node.type) {
      case "text": {
        const text = typeof node.text === "string" ? node.text : "";
        for (const markValue of node.marks) {
          const mark = asNode(markValue);
          if (mark?.type === "link") this.addUrl(stringAttr(mark, "href"));
        }
        for (const match of findUrls(text)) this.addUrl(match.url);
        return text;
      }
      case "hardBreak":
        return "\n";
      case "mention":
        return stringAttr(node, "text") ?? "@unknown";
      case "emoji":
        return stringAttr(node, "text") ?? stringAttr(node, "shortName") ?? "";
      case "inlineCard": {
        const url = stringAttr(node, "url") ?? "";
        this.addUrl(url);
        return url;
      }
      case "date": {
        const timestamp = Number(node.attrs["timestamp"]);
        return Number.isFinite(timestamp) && Math.abs(timestamp) < 8.64e15
          ? new Date(timestamp).toISOString().slice(0, 10)
          : "";
      }
      case "status":
        return stringAttr(node, "text") ?? "";
      case "mediaInline":
      case "placeholder":
        return "";
      default:
        return this.inline(node.content, depth + 1);
    }
  }

  /** Renders block nodes; empty blocks are dropped. */
  blocks(nodes: readonly unknown[], depth: number): string[] {
    if (depth > MAX_DEPTH) return [];
    const out: string[] = [];
    for (const value of nodes) {
      const node = asNode(value);
      if (node === undefined) continue;
      const text = this.block(node, depth);
      if (text.trim() !== "") out.push(text);
    }
    return out;
  }

  private list(node: Node, depth: number, marker: (index: number, item: Node) => string): string {
    const lines: string[] = [];
    let index = 0;
    for (const value of node.content) {
      const item = asNode(value);
      if (item === undefined) continue;
      const prefix = marker(index, item);
      index += 1;
      const body =
        item.type === "listItem" || item.type === "taskItem" || item.type === "decisionItem"
          ? this.itemBody(item, depth + 1)
          : this.block(item, depth + 1);
      const [first = "", ...rest] = body.split("\n");
      lines.push(prefix + first);
      const indent = " ".repeat(prefix.length);
      for (const line of rest) lines.push(line === "" ? "" : indent + line);
    }
    return lines.join("\n");
  }

  /** A list item's content: its paragraphs and nested lists, one per line. */
  private itemBody(item: Node, depth: number): string {
    // Task and decision items hold inline content directly.
    const hasBlocks = item.content.some((value) => {
      const child = asNode(value);
      return child !== undefined && !INLINE_TYPES.has(child.type);
    });
    if (!hasBlocks) return this.inline(item.content, depth + 1);
    return this.blocks(item.content, depth + 1).join("\n");
  }

  block(node: Node, depth: number): string {
    switch (node.type) {
      case "paragraph":
        return this.inline(node.content, depth + 1);
      case "heading": {
        const level = Number(node.attrs["level"]);
        const hashes = "#".repeat(Number.isInteger(level) && level >= 1 && level <= 6 ? level : 1);
        return `${hashes} ${this.inline(node.content, depth + 1)}`;
      }
      case "bulletList":
        return this.list(node, depth, () => "- ");
      case "orderedList": {
        const order = Number(node.attrs["order"]);
        const start = Number.isSafeInteger(order) && order >= 0 ? order : 1;
        return this.list(node, depth, (index) => `${start + index}. `);
      }
      case "taskList":
        return this.list(node, depth, (_index, item) =>
          stringAttr(item, "state") === "DONE" ? "- [x] " : "- [ ] ",
        );
      case "decisionList":
        return this.list(node, depth, () => "- ");
      case "listItem":
      case "taskItem":
      case "decisionItem":
        return this.itemBody(node, depth);
      case "codeBlock":
        return this.inline(node.content, depth + 1);
      case "blockquote":
        return this.blocks(node.content, depth + 1)
          .join("\n\n")
          .split("\n")
          .map((line) => (line === "" ? ">" : `> ${line}`))
          .join("\n");
      case "rule":
        return "---";
      case "table":
        return this.blocks(node.content, depth + 1).join("\n");
      case "tableRow":
        return node.content
          .map((value) => {
            const cell = asNode(value);
            return cell === undefined
              ? ""
              : this.blocks(cell.content, depth + 2)
                  .join(" ")
                  .replace(/\n/g, " ");
          })
          .join(" | ");
      case "blockCard":
      case "embedCard": {
        const url = stringAttr(node, "url") ?? "";
        this.addUrl(url);
        return url;
      }
      case "media":
      case "mediaGroup":
      case "mediaSingle":
      case "extension":
        return "";
      default:
        if (INLINE_TYPES.has(node.type)) return this.inline([node], depth + 1);
        // panel, expand, nestedExpand, layoutSection, layoutColumn, bodiedExtension, and
        // whatever Atlassian adds next: their children.
        return this.blocks(node.content, depth + 1).join("\n\n");
    }
  }
}

const INLINE_TYPES = new Set([
  "text",
  "hardBreak",
  "mention",
  "emoji",
  "inlineCard",
  "date",
  "status",
  "mediaInline",
  "placeholder",
]);

/**
 * Plain text of an ADF document (see the top of this file). null/undefined is "" (Jira's empty
 * description); a string is taken as already plain text. Throws AdfError for anything else that
 * is not a {"type":"doc"} node.
 */
export function adfToText(document: unknown): AdfText {
  if (document === null || document === undefined) return { text: "", urls: [] };
  if (typeof document === "string") {
    return { text: document, urls: findUrls(document).map((match) => match.url) };
  }
  const root = asNode(document);
  if (root?.type !== "doc") throw new AdfError("not an Atlassian Document Format document");
  const renderer = new Renderer();
  const text = renderer.blocks(root.content, 0).join("\n\n");
  return { text, urls: renderer.urls };
}

// --- text to ADF ------------------------------------------------------------------------------

export interface AdfDocument {
  type: "doc";
  version: 1;
  content: AdfBlock[];
}

export type AdfInline =
  | { type: "text"; text: string; marks?: { type: "link"; attrs: { href: string } }[] }
  | { type: "hardBreak" };

export type AdfBlock =
  | { type: "paragraph"; content: AdfInline[] }
  | { type: "heading"; attrs: { level: number }; content: AdfInline[] }
  | {
      type: "bulletList";
      content: { type: "listItem"; content: { type: "paragraph"; content: AdfInline[] }[] }[];
    };

function inlineText(line: string, linkify: boolean): AdfInline[] {
  if (line === "") return [];
  if (!linkify) return [{ type: "text", text: line }];
  const out: AdfInline[] = [];
  let position = 0;
  for (const match of findUrls(line)) {
    if (match.start > position) out.push({ type: "text", text: line.slice(position, match.start) });
    out.push({
      type: "text",
      text: match.url,
      marks: [{ type: "link", attrs: { href: match.url } }],
    });
    position = match.end;
  }
  if (position < line.length) out.push({ type: "text", text: line.slice(position) });
  return out;
}

function paragraphContent(lines: readonly string[], linkify: boolean): AdfInline[] {
  const content: AdfInline[] = [];
  lines.forEach((line, index) => {
    if (index > 0) content.push({ type: "hardBreak" });
    content.push(...inlineText(line, linkify));
  });
  return content;
}

const HEADING = /^(#{1,6}) (.*\S.*)$/;
const BULLET = /^- (.*\S.*)$/;

/** An ADF document for plain text (see the top of this file). */
export function textToAdf(text: string, options: { linkify?: boolean } = {}): AdfDocument {
  const linkify = options.linkify ?? false;
  const content: AdfBlock[] = [];
  const normalized = text.replace(/\r\n?/g, "\n");
  for (const block of normalized.split(/\n(?:[ \t]*\n)+/)) {
    if (block.trim() === "") continue;
    const lines = block.split("\n");
    const heading = lines.length === 1 ? HEADING.exec(block) : null;
    if (heading !== null) {
      const [, hashes = "#", title = ""] = heading;
      content.push({
        type: "heading",
        attrs: { level: hashes.length },
        content: inlineText(title, linkify),
      });
    } else if (lines.every((line) => BULLET.test(line))) {
      content.push({
        type: "bulletList",
        content: lines.map((line) => ({
          type: "listItem",
          content: [{ type: "paragraph", content: inlineText(line.slice(2), linkify) }],
        })),
      });
    } else {
      content.push({ type: "paragraph", content: paragraphContent(lines, linkify) });
    }
  }
  return { type: "doc", version: 1, content };
}
