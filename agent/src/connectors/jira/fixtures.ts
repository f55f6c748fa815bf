// The Jira fixture adapter: the embedded, offline default. Tickets come from
// agent/fixtures/jira/*.json (described in that folder's README.md); comments are appended to the
// fixture writes file as
//   {"time","connector":"jira","action":"add_comment","ticket","comment_id","body"}
// and deleted comments as
//   {"time","connector":"jira","action":"delete_comment","ticket","comment_id"}
// (only a comment that this file shows added to that ticket and not yet deleted).
// Comment ids continue a counter persisted in that file: the first comment is "10001", and each
// adapter starts after the largest jira comment_id already in the file, so ids stay unique
// across restarts. (Two processes writing the same file at once could pick the same id: the
// file is a demo record, not a database.)
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { JIRA_KEY } from "../../../../common/tool-arguments.ts";
import { appendWrite, readWrites } from "../atlassian/writes.ts";
import { findUrls } from "../atlassian/links.ts";
import { ConnectorError, type JiraIssue, type JiraPort } from "../port.ts";
import {
  checkCommentBody,
  checkIssueKey,
  ISSUE_LINK_TYPES,
  issueLinks,
  normalizeEnvironment,
  normalizeRollbackPlan,
  type IssueLinkTypeName,
} from "./map.ts";

export const JIRA_FIXTURES_DIR = join(import.meta.dirname, "..", "..", "..", "fixtures", "jira");
/** The site the fixtures pretend to be: links to other tickets point there. */
export const FIXTURE_SITE_URL = "https://zyx-bank.atlassian.net";
export const FIRST_COMMENT_ID = 10_001;

const linkTypeNames = Object.keys(ISSUE_LINK_TYPES) as [IssueLinkTypeName, ...IssueLinkTypeName[]];

const FixtureIssue = z.strictObject({
  key: z.string().regex(JIRA_KEY),
  id: z.string().regex(/^[1-9][0-9]{0,17}$/),
  summary: z.string().min(1),
  status: z.string().min(1),
  environment: z.string().min(1).nullable(),
  rollback_plan: z.string().min(1).nullable(),
  description: z.array(z.string()),
  issue_links: z
    .array(
      z.strictObject({
        link_type: z.enum(linkTypeNames),
        direction: z.enum(["outward", "inward"]),
        key: z.string().regex(JIRA_KEY),
      }),
    )
    .default([]),
});

export type JiraFixtureIssue = z.infer<typeof FixtureIssue>;

/** The fixture tickets of `dir` (every *.json file), checked; throws on a malformed file. */
export function loadJiraFixtureIssues(dir: string = JIRA_FIXTURES_DIR): JiraFixtureIssue[] {
  const issues: JiraFixtureIssue[] = [];
  for (const name of readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .sort()) {
    const parsed = FixtureIssue.safeParse(JSON.parse(readFileSync(join(dir, name), "utf8")));
    if (!parsed.success) {
      throw new Error(`jira fixture ${name}: ${z.prettifyError(parsed.error)}`);
    }
    if (`${parsed.data.key}.json` !== name) {
      throw new Error(
        `jira fixture ${name}: holds ${parsed.data.key}; name the file after the key`,
      );
    }
    issues.push(parsed.data);
  }
  const keys = new Set(issues.map((issue) => issue.key));
  for (const issue of issues) {
    for (const link of issue.issue_links) {
      if (!keys.has(link.key)) {
        throw new Error(`jira fixture ${issue.key}: links to ${link.key}, which is not a fixture`);
      }
    }
  }
  return issues;
}

/** The description as the REST adapter reads it back: lines joined by newlines. */
export function fixtureDescription(issue: JiraFixtureIssue): string {
  return issue.description.join("\n");
}

/** A fixture ticket as the port returns it (both adapters must agree with this). */
export function fixtureToIssue(
  issue: JiraFixtureIssue,
  all: ReadonlyMap<string, JiraFixtureIssue>,
  siteUrl: string,
): JiraIssue {
  const description = fixtureDescription(issue);
  return {
    key: issue.key,
    summary: issue.summary,
    description,
    status: issue.status,
    environment: normalizeEnvironment(issue.environment),
    rollback_plan: normalizeRollbackPlan(issue.rollback_plan),
    links: issueLinks(
      siteUrl,
      findUrls(description).map((match) => match.url),
      issue.issue_links.map((link) => ({
        relation: ISSUE_LINK_TYPES[link.link_type][link.direction],
        key: link.key,
        summary: all.get(link.key)?.summary,
      })),
      issue.key,
    ),
  };
}

export interface JiraFixturesOptions {
  /** The JSON Lines file comments are appended to. */
  writesPath: string;
  /** Where the fixture tickets are read from; default agent/fixtures/jira. */
  fixturesDir?: string;
  /** The site that links to other tickets point to; default https://zyx-bank.atlassian.net */
  siteUrl?: string;
  /** The clock for the `time` of written records. */
  now?: () => Date;
}

export function createJiraFixtures(options: JiraFixturesOptions): JiraPort {
  const issues = new Map(
    loadJiraFixtureIssues(options.fixturesDir).map((issue) => [issue.key, issue] as const),
  );
  const siteUrl = (options.siteUrl ?? FIXTURE_SITE_URL).replace(/\/+$/, "");
  const now = options.now ?? (() => new Date());
  let nextCommentId: number | undefined;
  /** Comments are written one after another, so ids and lines keep the same order. */
  let queue: Promise<unknown> = Promise.resolve();

  function find(key: string): JiraFixtureIssue {
    checkIssueKey(key);
    const issue = issues.get(key);
    if (issue === undefined) {
      throw new ConnectorError(
        "jira",
        "connector_not_found",
        `jira: ${key}: Issue does not exist or you do not have permission to see it.`,
        { status: 404 },
      );
    }
    return issue;
  }

  async function firstFreeCommentId(): Promise<number> {
    let largest = FIRST_COMMENT_ID - 1;
    for (const record of await readWrites(options.writesPath)) {
      const id = record["comment_id"];
      if (
        record["connector"] === "jira" &&
        record["action"] === "add_comment" &&
        typeof id === "string" &&
        /^[0-9]{1,15}$/.test(id)
      ) {
        largest = Math.max(largest, Number(id));
      }
    }
    return largest + 1;
  }

  async function writeComment(key: string, body: string) {
    nextCommentId ??= await firstFreeCommentId();
    const commentId = String(nextCommentId);
    nextCommentId += 1;
    await appendWrite(options.writesPath, {
      time: now().toISOString(),
      connector: "jira",
      action: "add_comment",
      ticket: key,
      comment_id: commentId,
      body,
    });
    return { comment_id: commentId, ticket: key };
  }

  /** Whether the writes file shows `commentId` added to `key` and not deleted since. */
  async function commentExists(key: string, commentId: string): Promise<boolean> {
    let exists = false;
    for (const record of await readWrites(options.writesPath)) {
      if (record["connector"] !== "jira" || record["ticket"] !== key) continue;
      if (record["comment_id"] !== commentId) continue;
      if (record["action"] === "add_comment") exists = true;
      if (record["action"] === "delete_comment") exists = false;
    }
    return exists;
  }

  async function removeComment(key: string, commentId: string) {
    if (!/^[1-9][0-9]{0,17}$/.test(commentId) || !(await commentExists(key, commentId))) {
      throw new ConnectorError(
        "jira",
        "connector_not_found",
        `jira: comment ${commentId} on ${key} does not exist`,
        { status: 404 },
      );
    }
    await appendWrite(options.writesPath, {
      time: now().toISOString(),
      connector: "jira",
      action: "delete_comment",
      ticket: key,
      comment_id: commentId,
    });
    return { comment_id: commentId, ticket: key };
  }

  /** Writes run one after another (ids, lines and existence checks keep their order). */
  function serial<T>(work: () => Promise<T>): Promise<T> {
    const result = queue.then(work);
    queue = result.catch(() => undefined);
    return result;
  }

  return {
    deleteComment(key, commentId) {
      return serial(async () => {
        const issue = find(key);
        try {
          return await removeComment(issue.key, commentId);
        } catch (error) {
          if (error instanceof ConnectorError) throw error;
          throw new ConnectorError(
            "jira",
            "connector_unavailable",
            `jira fixtures: cannot record the deletion in ${options.writesPath}`,
            { cause: error },
          );
        }
      });
    },

    getIssue(key) {
      return Promise.resolve().then(() => fixtureToIssue(find(key), issues, siteUrl));
    },

    addComment(key, body) {
      const result = queue.then(async () => {
        const issue = find(key);
        checkCommentBody(body);
        try {
          return await writeComment(issue.key, body);
        } catch (error) {
          const code =
            error instanceof Error && "code" in error && typeof error.code === "string"
              ? ` (${error.code})`
              : "";
          throw new ConnectorError(
            "jira",
            "connector_unavailable",
            `jira fixtures: cannot record the comment in ${options.writesPath}${code}`,
            { cause: error },
          );
        }
      });
      queue = result.catch(() => undefined);
      return result;
    },
  };
}
