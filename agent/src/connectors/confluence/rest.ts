// The Confluence Cloud REST adapter (plain fetch through atlassian/http.ts): a CQL search.
//
//   GET {site}/wiki/rest/api/content/search
//       ?cql=type = page AND space = "SEC" AND label = "security-standard"
//       &limit=25&expand=body.storage,metadata.labels,space
//   then _links.next (cursor pagination) while there is one, at most `maxRequests` requests.
//
// The CQL values are checked against the argument schema's formats and quoted (query.ts), so a
// value cannot change the query. Each result becomes { id, title, space: space.key, labels:
// metadata.labels names, body: body.storage turned into plain text (atlassian/storage.ts), url:
// {site}/wiki + _links.webui }; pages are ordered by title, then id. More matches than
// `maxRequests` x `pageSize` is connector_bad_response rather than a silently partial list of
// standards. An unknown space matches nothing: [].
import { z } from "zod";
import { createAtlassianHttp, type AtlassianHttpOptions } from "../atlassian/http.ts";
import { storageToText } from "../atlassian/storage.ts";
import { ConnectorError, type ConfluencePage, type ConfluencePort } from "../port.ts";
import { checkPageQuery, pageCql, pageUrl, sortPages } from "./query.ts";

export const SEARCH_PATH = "/wiki/rest/api/content/search";
export const SEARCH_EXPAND = "body.storage,metadata.labels,space";

export interface ConfluenceRestOptions extends Omit<AtlassianHttpOptions, "connector"> {
  /** Results per request (Confluence caps it lower when bodies are expanded); default 25. */
  pageSize?: number;
  /** Requests per search at most; default 8. */
  maxRequests?: number;
}

const SearchResponse = z.object({
  results: z.array(
    z.object({
      id: z.string(),
      type: z.string(),
      title: z.string(),
      space: z.object({ key: z.string() }).optional(),
      metadata: z
        .object({
          labels: z.object({ results: z.array(z.object({ name: z.string() })) }).optional(),
        })
        .optional(),
      body: z.object({ storage: z.object({ value: z.string() }).optional() }).optional(),
      _links: z.object({ webui: z.string() }),
    }),
  ),
  _links: z.object({ next: z.string().optional() }).optional(),
});

function badResponse(message: string, cause?: unknown): ConnectorError {
  return new ConnectorError(
    "confluence",
    "connector_bad_response",
    `confluence: ${message}`,
    cause === undefined ? {} : { cause },
  );
}

export function createConfluenceRest(options: ConfluenceRestOptions): ConfluencePort {
  const pageSize = options.pageSize ?? 25;
  const maxRequests = options.maxRequests ?? 8;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 100) {
    throw new Error("confluence: pageSize must be 1-100");
  }
  if (!Number.isSafeInteger(maxRequests) || maxRequests < 1 || maxRequests > 100) {
    throw new Error("confluence: maxRequests must be 1-100");
  }
  const http = createAtlassianHttp({ ...options, connector: "confluence" });

  /** The path of a _links.next, checked to stay on the search resource of this site. */
  function nextPath(link: string): string {
    const base = "https://site.invalid/wiki";
    // Relative to the /wiki context as Confluence Cloud writes it; tolerate the context too.
    const next = link.startsWith("/wiki/") ? link.slice("/wiki".length) : link;
    if (!next.startsWith("/rest/api/content/search?") || !URL.canParse(base + next)) {
      throw badResponse("the next-page link is not a search on this site");
    }
    const url = new URL(base + next);
    // Keep what this adapter asked for, whatever the link carries.
    url.searchParams.set("expand", SEARCH_EXPAND);
    url.searchParams.set("limit", String(pageSize));
    return `${url.pathname}${url.search}`;
  }

  async function findPages(query: { space?: string; label?: string }): Promise<ConfluencePage[]> {
    checkPageQuery(query);
    const cql = pageCql(query);
    const pages = new Map<string, ConfluencePage>();
    let path: string | undefined = `${SEARCH_PATH}?${new URLSearchParams({
      cql,
      limit: String(pageSize),
      expand: SEARCH_EXPAND,
    }).toString()}`;

    for (let request = 0; path !== undefined; request += 1) {
      if (request === maxRequests) {
        throw badResponse(
          `more than ${maxRequests * pageSize} pages match ${cql}; narrow the space or label`,
        );
      }
      const parsed = SearchResponse.safeParse(await http.request({ method: "GET", path }));
      if (!parsed.success) throw badResponse("the answer is not a search result", parsed.error);
      for (const result of parsed.data.results) {
        if (result.type !== "page") continue;
        const space = result.space?.key;
        const storage = result.body?.storage?.value;
        const labels = result.metadata?.labels?.results.map((label) => label.name);
        if (space === undefined || storage === undefined || labels === undefined) {
          throw badResponse(`page ${result.id} came without its space, labels or body`);
        }
        const url = pageUrl(http.baseUrl, result._links.webui);
        if (url === undefined) throw badResponse(`page ${result.id} has a link off this site`);
        pages.set(result.id, {
          id: result.id,
          title: result.title,
          space,
          labels,
          body: storageToText(storage),
          url,
        });
      }
      const next = parsed.data._links?.next;
      path = next === undefined ? undefined : nextPath(next);
    }
    return sortPages([...pages.values()]);
  }

  return {
    findPages: (query) => Promise.resolve().then(() => findPages(query)),
  };
}
