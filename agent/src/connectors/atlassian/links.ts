// URLs in ticket text and what the review makes of them.
//
// A link is { type, url, title }:
// - "pull_request": a GitHub pull request, url canonical https://github.com/{owner}/{repo}/pull/{n}
//   (a trailing /files, query or fragment dropped), title "{owner}/{repo}#{n}";
// - "web": any other http(s) URL, kept as written, title its host name;
// - "issue": a Jira issue link (see jira/map.ts), url {site}/browse/{key}.

export interface Link {
  type: string;
  url: string;
  title: string;
}

/** http(s) URLs in running text; trailing sentence punctuation is not part of them. */
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}]+$/;

export interface UrlMatch {
  start: number;
  end: number;
  url: string;
}

/** The http(s) URLs in `text`, in order, with where each one is. */
export function findUrls(text: string): UrlMatch[] {
  const matches: UrlMatch[] = [];
  for (const match of text.matchAll(URL_IN_TEXT)) {
    const url = match[0].replace(TRAILING_PUNCTUATION, "");
    if (!URL.canParse(url)) continue;
    matches.push({ start: match.index, end: match.index + url.length, url });
  }
  return matches;
}

const GITHUB_PULL =
  /^\/([A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38})\/([A-Za-z0-9._-]{1,100})\/pull\/([1-9][0-9]{0,9})(?:\/.*)?$/;

/** What a URL found in a ticket is; undefined for what is not an http(s) URL. */
export function linkForUrl(raw: string): Link | undefined {
  if (!URL.canParse(raw)) return undefined;
  const url = new URL(raw);
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  if (url.hostname === "github.com" && url.port === "") {
    const match = GITHUB_PULL.exec(url.pathname);
    if (match !== null) {
      const [, owner = "", repo = "", number = ""] = match;
      return {
        type: "pull_request",
        url: `https://github.com/${owner}/${repo}/pull/${number}`,
        title: `${owner}/${repo}#${number}`,
      };
    }
  }
  return { type: "web", url: raw, title: url.hostname };
}

/** Links for URLs in order of appearance, each url once. */
export function linksForUrls(urls: Iterable<string>): Link[] {
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const raw of urls) {
    const link = linkForUrl(raw);
    if (link === undefined || seen.has(link.url)) continue;
    seen.add(link.url);
    links.push(link);
  }
  return links;
}
