// What both Confluence adapters share: the query checks, the CQL, and how a page is ordered and
// addressed, so that the fixtures and the REST adapter give the same answer.
import { ConnectorError, type ConfluencePage } from "../port.ts";

/** The argument schema's formats (common/tool-arguments.ts, confluence_read). */
export const SPACE_KEY = /^[A-Z][A-Z0-9]{1,9}$/;
export const LABEL = /^[a-z0-9][a-z0-9_-]{0,99}$/;

export interface PageQuery {
  space?: string;
  label?: string;
}

function rejected(message: string): ConnectorError {
  return new ConnectorError("confluence", "connector_rejected", `confluence: ${message}`);
}

/** Refuses, before anything is sent, a query without a space and a label or of a bad format. */
export function checkPageQuery(query: PageQuery): void {
  if (query.space === undefined && query.label === undefined) {
    throw rejected("give a space, a label or both");
  }
  if (query.space !== undefined && !SPACE_KEY.test(query.space)) {
    throw rejected("not a space key (such as SEC); nothing was sent");
  }
  if (query.label !== undefined && !LABEL.test(query.label)) {
    throw rejected("not a label (lower case, digits, - and _); nothing was sent");
  }
}

/** A CQL string literal: double quotes, with backslash and double quote escaped. */
export function cqlString(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Pages (not blog posts, not attachments) in the space and/or with the label. */
export function pageCql(query: PageQuery): string {
  const clauses = ["type = page"];
  if (query.space !== undefined) clauses.push(`space = ${cqlString(query.space)}`);
  if (query.label !== undefined) clauses.push(`label = ${cqlString(query.label)}`);
  return clauses.join(" AND ");
}

/** The page's address: the site, "/wiki", and the page's webui path (same site only). */
export function pageUrl(siteUrl: string, webui: string): string | undefined {
  if (!webui.startsWith("/") || webui.startsWith("//")) return undefined;
  const url = `${siteUrl}/wiki${webui}`;
  if (!URL.canParse(url) || new URL(url).origin !== new URL(siteUrl).origin) return undefined;
  return url;
}

/** One order for both adapters: by title, then id (code-unit order, locale-independent). */
export function sortPages(pages: ConfluencePage[]): ConfluencePage[] {
  return pages.sort((a, b) =>
    a.title < b.title ? -1 : a.title > b.title ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
  );
}
