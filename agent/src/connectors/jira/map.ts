// What both Jira adapters share: argument checks, and how a ticket's fields become a JiraIssue,
// so that the fixtures and the REST adapter give the same answer for the same ticket.
//
// JiraIssue.links, in this order, each url once:
// 1. the http(s) URLs of the description, in order of appearance (link marks, smart links and
//    URLs written as text), as "pull_request" or "web" links (atlassian/links.ts);
// 2. the ticket's issue links (fields.issuelinks), as
//    { type: "issue", url: "{site}/browse/{key}", title: "{relation} {key}: {summary}" },
//    where relation is the link type's outward or inward name ("relates to", "is blocked by");
//    a ticket of another project than the one read keeps no summary ("relates to HR-1042").
// Remote links (the /remotelink resource) are not read: one request per ticket is enough, and
// the change process here puts the pull request in the description.
import { JIRA_KEY, LIMITS } from "../../../../common/tool-arguments.ts";
import { linksForUrls, type Link } from "../atlassian/links.ts";
import { ConnectorError } from "../port.ts";

/** Jira's standard issue-link types: name, outward and inward relation. */
export const ISSUE_LINK_TYPES = {
  Relates: { id: "10003", outward: "relates to", inward: "relates to" },
  Blocks: { id: "10000", outward: "blocks", inward: "is blocked by" },
  Cloners: { id: "10001", outward: "clones", inward: "is cloned by" },
  Duplicate: { id: "10002", outward: "duplicates", inward: "is duplicated by" },
} as const;

export type IssueLinkTypeName = keyof typeof ISSUE_LINK_TYPES;

export interface IssueLinkInput {
  relation: string;
  key: string;
  summary: string | undefined;
}

export function checkIssueKey(key: string): void {
  if (!JIRA_KEY.test(key)) {
    throw new ConnectorError(
      "jira",
      "connector_rejected",
      "jira: not a Jira issue key (such as CHG-18422); nothing was sent",
    );
  }
}

/** Jira's own refusals of a comment body, checked before anything is sent. */
export function checkCommentBody(body: string): void {
  if (body.trim() === "") {
    throw new ConnectorError(
      "jira",
      "connector_rejected",
      "jira: comment: Comment body can not be empty!",
      { status: 400 },
    );
  }
  if (body.length > LIMITS.jiraCommentChars) {
    throw new ConnectorError(
      "jira",
      "connector_rejected",
      `jira: comment: The entered text is too long. It exceeds the allowed limit of ${LIMITS.jiraCommentChars.toLocaleString("en-US")} characters.`,
      { status: 400 },
    );
  }
}

/** "development" from " Development ": trimmed and lower case; null when blank. */
export function normalizeEnvironment(value: string | null): string | null {
  const text = value?.trim().toLowerCase() ?? "";
  return text === "" ? null : text;
}

/** A rollback plan trimmed; null when absent or blank. */
export function normalizeRollbackPlan(value: string | null): string | null {
  const text = value?.trim() ?? "";
  return text === "" ? null : text;
}

/** The project of an issue key: CHG of CHG-18422. */
function projectOf(key: string): string {
  return key.slice(0, key.lastIndexOf("-"));
}

/**
 * `ownKey` is the ticket read: a linked ticket of another project (HR-1042 from CHG-18422) keeps
 * its key and relation but not its summary. The policy scopes the read to the ticket's project
 * (allowed_projects); another project's text is not the caller's to read through a link.
 */
export function issueLinks(
  siteUrl: string,
  descriptionUrls: Iterable<string>,
  links: readonly IssueLinkInput[],
  ownKey: string,
): Link[] {
  const out = linksForUrls(descriptionUrls);
  const seen = new Set(out.map((link) => link.url));
  for (const link of links) {
    const url = `${siteUrl}/browse/${encodeURIComponent(link.key)}`;
    if (seen.has(url)) continue;
    seen.add(url);
    const summary = projectOf(link.key) === projectOf(ownKey) ? link.summary : undefined;
    out.push({
      type: "issue",
      url,
      title: `${link.relation} ${link.key}${summary === undefined ? "" : `: ${summary}`}`,
    });
  }
  return out;
}
