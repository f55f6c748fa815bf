// Confluence "storage" format (XHTML with ac:/ri: elements) to plain text. A small, linear
// tokenizer, not a full XML parser: it never throws and never fetches anything.
//
// - Tags are dropped; block elements (p, div, h1-h6, blockquote, tables, macros' bodies...)
//   separate paragraphs with a blank line; <br/> is a newline.
// - List items are "- item" (ol: "1. item"), nested lists indented by two spaces.
// - Table rows are one line each, cells separated by " | ".
// - Whitespace in text collapses to one space, as HTML renders it, except inside <pre> and CDATA
//   sections (a code macro's ac:plain-text-body), which are kept verbatim.
// - Character references are decoded: the XML five, the HTML names Confluence writes (nbsp,
//   typographic quotes, dashes...), decimal and hex; an invalid code point becomes U+FFFD and an
//   unknown name is left as written. No-break spaces become plain spaces.
// - Comments, processing instructions, macro parameters (ac:parameter), <script>/<style>
//   contents and resource identifiers (ri:*) produce nothing.

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00A0",
  ndash: "\u2013",
  mdash: "\u2014",
  lsquo: "\u2018",
  rsquo: "\u2019",
  sbquo: "\u201A",
  ldquo: "\u201C",
  rdquo: "\u201D",
  bdquo: "\u201E",
  hellip: "\u2026",
  middot: "\u00B7",
  bull: "\u2022",
  copy: "\u00A9",
  reg: "\u00AE",
  trade: "\u2122",
  deg: "\u00B0",
  plusmn: "\u00B1",
  times: "\u00D7",
  divide: "\u00F7",
  larr: "\u2190",
  rarr: "\u2192",
  uarr: "\u2191",
  darr: "\u2193",
  harr: "\u2194",
  le: "\u2264",
  ge: "\u2265",
  ne: "\u2260",
  laquo: "\u00AB",
  raquo: "\u00BB",
  sect: "\u00A7",
  para: "\u00B6",
  euro: "\u20AC",
  pound: "\u00A3",
  yen: "\u00A5",
  cent: "\u00A2",
  shy: "",
  zwj: "\u200D",
  zwnj: "\u200C",
  ensp: "\u2002",
  emsp: "\u2003",
  thinsp: "\u2009",
};

function fromCodePoint(code: number): string {
  if (!Number.isSafeInteger(code) || code <= 0 || code > 0x10ffff) return "\uFFFD";
  if (code >= 0xd800 && code <= 0xdfff) return "\uFFFD";
  return String.fromCodePoint(code);
}

/** Decodes character references (see the top of this file). */
export function decodeEntities(text: string): string {
  return text.replace(
    /&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[A-Za-z][A-Za-z0-9]{1,31});/g,
    (all, ref: string) => {
      if (ref.startsWith("#x") || ref.startsWith("#X"))
        return fromCodePoint(Number.parseInt(ref.slice(2), 16));
      if (ref.startsWith("#")) return fromCodePoint(Number.parseInt(ref.slice(1), 10));
      return NAMED_ENTITIES[ref] ?? all;
    },
  );
}

const BLOCKS = new Set([
  "p",
  "div",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "blockquote",
  "section",
  "article",
  "header",
  "footer",
  "aside",
  "figure",
  "figcaption",
  "caption",
  "dl",
  "dt",
  "dd",
  "hr",
  "address",
  "table",
  "ac:structured-macro",
  "ac:rich-text-body",
  "ac:layout",
  "ac:layout-section",
  "ac:layout-cell",
  "ac:task-list",
  "ac:task",
  "ac:adf-extension",
]);

/** Elements whose text content is not page text. */
const SKIPPED = new Set(["script", "style", "ac:parameter", "ac:task-id", "ac:task-status"]);

/** Elements whose text is kept verbatim. */
const VERBATIM = new Set(["pre", "ac:plain-text-body"]);

interface ListState {
  ordered: boolean;
  next: number;
}

class TextBuilder {
  private out = "";
  /** Line breaks owed before the next content. */
  private pendingBreaks = 0;
  private pendingSpace = false;
  /** Whether the current line holds more than a list marker. */
  private lineHasContent = false;
  private readonly lists: ListState[] = [];
  private cellIndex = 0;
  private cellDepth = 0;

  private flush(): void {
    if (this.out === "") {
      this.pendingBreaks = 0;
      return;
    }
    if (this.pendingBreaks > 0) {
      this.out = this.out.replace(/[ \t]+$/, "");
      const trailing = /\n*$/.exec(this.out)?.[0].length ?? 0;
      if (trailing < this.pendingBreaks) this.out += "\n".repeat(this.pendingBreaks - trailing);
      this.pendingBreaks = 0;
      this.pendingSpace = false;
      this.lineHasContent = false;
    }
  }

  /** Asks for `count` line breaks (1: new line, 2: blank line) before what comes next. */
  lineBreak(count: number): void {
    this.pendingBreaks = Math.max(this.pendingBreaks, count);
  }

  private get blockBreak(): number {
    return this.lists.length > 0 ? 1 : 2;
  }

  openBlock(): void {
    if (this.cellDepth > 0) this.pendingSpace = true;
    else if (this.lineHasContent || this.pendingBreaks > 0) this.lineBreak(this.blockBreak);
  }

  closeBlock(): void {
    if (this.cellDepth > 0) this.pendingSpace = true;
    else this.lineBreak(this.blockBreak);
  }

  hardBreak(): void {
    this.flush();
    this.out += "\n";
    this.pendingSpace = false;
    this.lineHasContent = false;
  }

  text(raw: string): void {
    const collapsed = decodeEntities(raw).replace(/[ \t\n\r\f\u00A0]+/g, (run) =>
      run === "\u00A0" ? "\u00A0" : " ",
    );
    if (collapsed === "") return;
    const startsWithSpace = collapsed.startsWith(" ");
    const endsWithSpace = collapsed.endsWith(" ");
    const words = collapsed.trim();
    if (words === "") {
      this.pendingSpace = true;
      return;
    }
    this.flush();
    if ((this.pendingSpace || startsWithSpace) && this.lineHasContent) this.out += " ";
    this.out += words.replace(/\u00A0/g, " ");
    this.lineHasContent = true;
    this.pendingSpace = endsWithSpace;
  }

  verbatim(raw: string): void {
    if (raw === "") return;
    this.flush();
    if (this.pendingSpace && this.lineHasContent) this.out += " ";
    this.out += raw.replace(/\r\n?/g, "\n").replace(/\u00A0/g, " ");
    this.lineHasContent = !this.out.endsWith("\n");
    this.pendingSpace = false;
  }

  openList(ordered: boolean): void {
    this.lineBreak(this.lists.length > 0 ? 1 : 2);
    this.lists.push({ ordered, next: 1 });
  }

  closeList(): void {
    this.lists.pop();
    this.lineBreak(this.blockBreak);
  }

  openItem(): void {
    const list = this.lists.at(-1);
    this.lineBreak(list === undefined ? 2 : 1);
    this.flush();
    const indent = "  ".repeat(Math.max(0, this.lists.length - 1));
    let marker = "- ";
    if (list?.ordered === true) {
      marker = `${list.next}. `;
      list.next += 1;
    }
    this.out += indent + marker;
    this.lineHasContent = false;
    this.pendingSpace = false;
  }

  closeItem(): void {
    this.lineBreak(1);
  }

  openRow(): void {
    this.lineBreak(1);
    this.cellIndex = 0;
  }

  /** Inside a table cell, blocks are joined by spaces: a row stays on one line. */
  openCell(): void {
    this.cellDepth += 1;
    if (this.cellIndex > 0) {
      this.flush();
      this.out = this.out.replace(/[ \t]+$/, "");
      this.out += " | ";
      // The separator carries its own spaces.
      this.lineHasContent = false;
      this.pendingSpace = false;
    }
    this.cellIndex += 1;
  }

  closeCell(): void {
    this.cellDepth = Math.max(0, this.cellDepth - 1);
  }

  result(): string {
    return this.out
      .split("\n")
      .map((line) => line.replace(/[ \t]+$/, ""))
      .join("\n")
      .replace(/\n{3,}/g, "\n\n")
      .trim();
  }
}

const TAG_NAME = /^[A-Za-z][A-Za-z0-9:._-]*/;

/** Index just past the ">" that ends a tag starting at `start` ("<"), honouring quotes. */
function tagEnd(source: string, start: number): number {
  let quote: string | undefined;
  for (let i = start + 1; i < source.length; i += 1) {
    const char = source[i];
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === ">") {
      return i + 1;
    }
  }
  return source.length;
}

/** Plain text of a Confluence storage-format body (see the top of this file). */
export function storageToText(source: string): string {
  const builder = new TextBuilder();
  let skipDepth = 0;
  let verbatimDepth = 0;
  let i = 0;
  const emitText = (raw: string): void => {
    if (skipDepth > 0 || raw === "") return;
    if (verbatimDepth > 0) builder.verbatim(decodeEntities(raw));
    else builder.text(raw);
  };

  while (i < source.length) {
    const lt = source.indexOf("<", i);
    if (lt === -1) {
      emitText(source.slice(i));
      break;
    }
    if (lt > i) emitText(source.slice(i, lt));

    if (source.startsWith("<!--", lt)) {
      const end = source.indexOf("-->", lt + 4);
      i = end === -1 ? source.length : end + 3;
      continue;
    }
    if (source.startsWith("<![CDATA[", lt)) {
      const end = source.indexOf("]]>", lt + 9);
      const data = source.slice(lt + 9, end === -1 ? source.length : end);
      if (skipDepth === 0) builder.verbatim(data);
      i = end === -1 ? source.length : end + 3;
      continue;
    }
    if (source.startsWith("<?", lt) || source.startsWith("<!", lt)) {
      const end = source.indexOf(">", lt + 2);
      i = end === -1 ? source.length : end + 1;
      continue;
    }

    const closing = source[lt + 1] === "/";
    const name = TAG_NAME.exec(source.slice(lt + (closing ? 2 : 1), lt + 80))?.[0];
    if (name === undefined) {
      // A "<" that does not open a tag is text.
      emitText("<");
      i = lt + 1;
      continue;
    }
    const end = tagEnd(source, lt);
    const selfClosing = !closing && source[end - 2] === "/";
    i = end;
    const tag = name.toLowerCase();

    if (SKIPPED.has(tag)) {
      if (closing) skipDepth = Math.max(0, skipDepth - 1);
      else if (!selfClosing) skipDepth += 1;
      continue;
    }
    if (skipDepth > 0) continue;

    if (VERBATIM.has(tag)) {
      if (closing) {
        verbatimDepth = Math.max(0, verbatimDepth - 1);
        builder.closeBlock();
      } else if (!selfClosing) {
        builder.openBlock();
        verbatimDepth += 1;
      }
      continue;
    }

    if (tag === "br") {
      if (!closing) builder.hardBreak();
    } else if (tag === "ul" || tag === "ol") {
      if (closing) builder.closeList();
      else if (!selfClosing) builder.openList(tag === "ol");
    } else if (tag === "li") {
      if (closing) builder.closeItem();
      else builder.openItem();
    } else if (tag === "tr") {
      if (!closing) builder.openRow();
      else builder.lineBreak(1);
    } else if (tag === "td" || tag === "th") {
      if (closing) builder.closeCell();
      else if (!selfClosing) builder.openCell();
    } else if (BLOCKS.has(tag)) {
      if (closing || selfClosing) builder.closeBlock();
      else builder.openBlock();
    }
    // Inline elements (strong, em, code, a, span, ac:link, ri:*...) add nothing themselves.
  }
  return builder.result();
}
