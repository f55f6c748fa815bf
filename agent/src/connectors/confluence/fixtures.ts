// The Confluence fixture adapter: the embedded, offline default. Pages come from
// agent/fixtures/confluence/*.json (described in that folder's README.md), in Confluence's own
// storage format, and are turned into plain text by the same function as the REST adapter's.
// Confluence is only read: this adapter writes nothing.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { storageToText } from "../atlassian/storage.ts";
import type { ConfluencePage, ConfluencePort } from "../port.ts";
import { checkPageQuery, LABEL, pageUrl, sortPages, SPACE_KEY } from "./query.ts";

export const CONFLUENCE_FIXTURES_DIR = join(
  import.meta.dirname,
  "..",
  "..",
  "..",
  "fixtures",
  "confluence",
);
/** The site the fixtures pretend to be. */
export const FIXTURE_SITE_URL = "https://zyx-bank.atlassian.net";

const FixturePage = z.strictObject({
  id: z.string().regex(/^[1-9][0-9]{0,17}$/),
  title: z.string().min(1),
  space: z.strictObject({ key: z.string().regex(SPACE_KEY), name: z.string().min(1) }),
  labels: z.array(z.string().regex(LABEL)),
  webui: z.string().regex(/^\/spaces\/[A-Z][A-Z0-9]{1,9}\/pages\/[0-9]+\/\S*$/),
  /** The body in storage format, one array entry per line. */
  storage: z.array(z.string()),
});

export type ConfluenceFixturePage = z.infer<typeof FixturePage>;

/** The fixture pages of `dir` (every *.json file), checked; throws on a malformed file. */
export function loadConfluenceFixturePages(
  dir: string = CONFLUENCE_FIXTURES_DIR,
): ConfluenceFixturePage[] {
  const pages: ConfluenceFixturePage[] = [];
  for (const name of readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .sort()) {
    const parsed = FixturePage.safeParse(JSON.parse(readFileSync(join(dir, name), "utf8")));
    if (!parsed.success) {
      throw new Error(`confluence fixture ${name}: ${z.prettifyError(parsed.error)}`);
    }
    pages.push(parsed.data);
  }
  const ids = new Set(pages.map((page) => page.id));
  if (ids.size !== pages.length) throw new Error("confluence fixtures: two pages share an id");
  return pages;
}

export function fixtureStorage(page: ConfluenceFixturePage): string {
  return page.storage.join("\n");
}

export interface ConfluenceFixturesOptions {
  /** Where the fixture pages are read from; default agent/fixtures/confluence. */
  fixturesDir?: string;
  /** The site page URLs point to; default https://zyx-bank.atlassian.net */
  siteUrl?: string;
}

export function createConfluenceFixtures(options: ConfluenceFixturesOptions = {}): ConfluencePort {
  const siteUrl = (options.siteUrl ?? FIXTURE_SITE_URL).replace(/\/+$/, "");
  const pages: ConfluencePage[] = loadConfluenceFixturePages(options.fixturesDir).map((page) => {
    const url = pageUrl(siteUrl, page.webui);
    if (url === undefined) throw new Error(`confluence fixture ${page.id}: bad webui path`);
    return {
      id: page.id,
      title: page.title,
      space: page.space.key,
      labels: [...page.labels],
      body: storageToText(fixtureStorage(page)),
      url,
    };
  });

  return {
    findPages(query) {
      return Promise.resolve().then(() => {
        checkPageQuery(query);
        return sortPages(
          pages
            .filter(
              (page) =>
                (query.space === undefined || page.space === query.space) &&
                (query.label === undefined || page.labels.includes(query.label)),
            )
            .map((page) => ({ ...page, labels: [...page.labels] })),
        );
      });
    },
  };
}
