// The Jira Cloud REST v3 adapter (plain fetch through atlassian/http.ts).
//
//   GET  {site}/rest/api/3/issue/{key}?fields=summary,description,status,issuelinks,{env},{plan}
//   POST {site}/rest/api/3/issue/{key}/comment   {"body": <ADF document>}   -> 201 {"id", ...}
//
// Mapping (see map.ts for links):
// - description: ADF flattened to plain text (atlassian/adf.ts);
// - status: fields.status.name;
// - environment: the custom field `environmentField` (default customfield_10050): a select
//   option's value, a text or ADF value, or a multi-select's values joined by ", "; trimmed and
//   lower case; null when unset;
// - rollback_plan: the custom field `rollbackPlanField` (default customfield_10051), a paragraph
//   (ADF) or text field; null when unset or blank.
// A field value of any other shape is connector_bad_response (never silently "no plan").
import { z } from "zod";
import { adfToText, AdfError, textToAdf } from "../atlassian/adf.ts";
import { createAtlassianHttp, type AtlassianHttpOptions } from "../atlassian/http.ts";
import { ConnectorError, type JiraIssue, type JiraPort } from "../port.ts";
import {
  checkCommentBody,
  checkIssueKey,
  issueLinks,
  normalizeEnvironment,
  normalizeRollbackPlan,
  type IssueLinkInput,
} from "./map.ts";

export const DEFAULT_ENVIRONMENT_FIELD = "customfield_10050";
export const DEFAULT_ROLLBACK_PLAN_FIELD = "customfield_10051";
/** A field id Jira accepts in `fields=`: a custom field, or the system Environment field. */
export const FIELD_ID = /^(customfield_[1-9][0-9]{0,9}|environment)$/;

export interface JiraRestOptions extends Omit<AtlassianHttpOptions, "connector"> {
  environmentField?: string;
  rollbackPlanField?: string;
}

const LinkedIssue = z.object({
  key: z.string(),
  fields: z.object({ summary: z.string() }).optional(),
});

const IssueResponse = z.object({
  key: z.string(),
  fields: z.looseObject({
    summary: z.string(),
    description: z.unknown().optional(),
    status: z.object({ name: z.string() }),
    issuelinks: z
      .array(
        z.object({
          type: z.object({ name: z.string(), inward: z.string(), outward: z.string() }),
          inwardIssue: LinkedIssue.optional(),
          outwardIssue: LinkedIssue.optional(),
        }),
      )
      .optional(),
  }),
});

const CommentResponse = z.object({ id: z.string().min(1) });

const IssueKeyResponse = z.object({ key: z.string() });

/**
 * Jira answers an old key with the issue it was moved to ("a check for moved issues is
 * performed"; the answer carries the issue's current key). The policy decided on the key asked
 * for: an answer for any other issue (another project, such as HR) is not that ticket.
 */
function checkAnsweredKey(asked: string, answered: string): void {
  if (answered !== asked) {
    throw new ConnectorError(
      "jira",
      "connector_not_found",
      `jira: ${asked} is not an issue any more (Jira answered for another issue, moved or renamed); nothing of it is returned`,
      { status: 404 },
    );
  }
}

function badResponse(message: string, cause?: unknown): ConnectorError {
  return new ConnectorError(
    "jira",
    "connector_bad_response",
    `jira: ${message}`,
    cause === undefined ? {} : { cause },
  );
}

/** Plain text of a field value (see the top of this file); null when empty. */
function fieldText(value: unknown, field: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) {
    const parts = value
      .map((item) => fieldText(item, field))
      .filter((text): text is string => text !== null && text.trim() !== "");
    return parts.length === 0 ? null : parts.join(", ");
  }
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record["type"] === "doc") {
      try {
        return adfToText(value).text;
      } catch (error) {
        if (error instanceof AdfError) throw badResponse(`${field} is not readable`, error);
        throw error;
      }
    }
    const optionValue = record["value"] ?? record["name"];
    if (typeof optionValue === "string") return optionValue;
  }
  throw badResponse(`${field} has a value this connector cannot read`);
}

export function createJiraRest(options: JiraRestOptions): JiraPort {
  const environmentField = options.environmentField ?? DEFAULT_ENVIRONMENT_FIELD;
  const rollbackPlanField = options.rollbackPlanField ?? DEFAULT_ROLLBACK_PLAN_FIELD;
  for (const field of [environmentField, rollbackPlanField]) {
    if (!FIELD_ID.test(field)) {
      throw new Error(`jira: ${field} is not a field id such as customfield_10050`);
    }
  }
  const http = createAtlassianHttp({ ...options, connector: "jira" });
  const fields = [
    "summary",
    "description",
    "status",
    "issuelinks",
    environmentField,
    rollbackPlanField,
  ].join(",");

  async function getIssue(key: string): Promise<JiraIssue> {
    checkIssueKey(key);
    const json = await http.request({
      method: "GET",
      path: `/rest/api/3/issue/${encodeURIComponent(key)}`,
      query: { fields },
    });
    const parsed = IssueResponse.safeParse(json);
    if (!parsed.success) throw badResponse(`the answer for ${key} is not an issue`, parsed.error);
    const issue = parsed.data;
    checkAnsweredKey(key, issue.key);

    let description;
    try {
      description = adfToText(issue.fields.description);
    } catch (error) {
      if (error instanceof AdfError) throw badResponse(`the description of ${key} is not readable`);
      throw error;
    }

    const links: IssueLinkInput[] = [];
    for (const link of issue.fields.issuelinks ?? []) {
      const outward = link.outwardIssue !== undefined;
      const other = link.outwardIssue ?? link.inwardIssue;
      if (other === undefined) continue;
      links.push({
        relation: outward ? link.type.outward : link.type.inward,
        key: other.key,
        summary: other.fields?.summary,
      });
    }

    return {
      key: issue.key,
      summary: issue.fields.summary,
      description: description.text,
      status: issue.fields.status.name,
      environment: normalizeEnvironment(
        fieldText(issue.fields[environmentField], environmentField),
      ),
      rollback_plan: normalizeRollbackPlan(
        fieldText(issue.fields[rollbackPlanField], rollbackPlanField),
      ),
      links: issueLinks(http.baseUrl, description.urls, links, issue.key),
    };
  }

  async function addComment(key: string, body: string) {
    checkIssueKey(key);
    checkCommentBody(body);
    // The key must still name this issue: Jira would post a moved issue's old key to the issue
    // it was moved to, in another project than the one the policy allowed.
    const current = IssueKeyResponse.safeParse(
      await http.request({
        method: "GET",
        path: `/rest/api/3/issue/${encodeURIComponent(key)}`,
        query: { fields: "summary" },
      }),
    );
    if (!current.success) throw badResponse(`the answer for ${key} is not an issue`);
    checkAnsweredKey(key, current.data.key);
    const json = await http.request({
      method: "POST",
      path: `/rest/api/3/issue/${encodeURIComponent(key)}/comment`,
      body: { body: textToAdf(body) },
    });
    const parsed = CommentResponse.safeParse(json);
    if (!parsed.success) throw badResponse(`the answer to the comment on ${key} has no id`);
    return { comment_id: parsed.data.id, ticket: key };
  }

  async function deleteComment(key: string, commentId: string) {
    checkIssueKey(key);
    if (!/^[1-9][0-9]{0,17}$/.test(commentId)) {
      throw new ConnectorError("jira", "connector_rejected", "jira: a comment id is digits");
    }
    // 204 No Content; 404 (connector_not_found) when it is gone already.
    await http.request({
      method: "DELETE",
      path: `/rest/api/3/issue/${encodeURIComponent(key)}/comment/${commentId}`,
    });
    return { comment_id: commentId, ticket: key };
  }

  return {
    deleteComment: (key, commentId) => Promise.resolve().then(() => deleteComment(key, commentId)),
    getIssue: (key) => Promise.resolve().then(() => getIssue(key)),
    addComment: (key, body) => Promise.resolve().then(() => addComment(key, body)),
  };
}
