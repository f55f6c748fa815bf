// A fake Atlassian Cloud site on 127.0.0.1 for tests and offline demos of the REST adapters. It
// answers as Jira Cloud REST v3 and Confluence Cloud REST do for the requests this worker makes,
// from the same fixture files as the fixture adapters:
//
//   GET  /rest/api/3/issue/{key}?fields=...          the issue; only the fields asked for
//   POST /rest/api/3/issue/{key}/comment             201 with the created comment
//   DELETE /rest/api/3/issue/{key}/comment/{id}      204; 404 for a comment it does not hold
//   GET  /wiki/rest/api/content/search?cql=...       CQL (type, space, label joined by AND),
//                                                   expand, limit, start and _links.next
//
// It checks what the real services check: Basic credentials (401 otherwise), the JSON content
// type of a POST (415), a valid ADF comment body (400 with Jira's error body), a parseable CQL
// (400 with Confluence's error body), and answers 404 with Jira's error body for an unknown
// issue. Every request is recorded; `script` makes the next requests answer otherwise (a 429 with
// Retry-After, a 503, a slow answer...), after the credential check.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  fixtureDescription,
  loadJiraFixtureIssues,
  type JiraFixtureIssue,
} from "../../src/connectors/jira/fixtures.ts";
import { ISSUE_LINK_TYPES } from "../../src/connectors/jira/map.ts";
import {
  DEFAULT_ENVIRONMENT_FIELD,
  DEFAULT_ROLLBACK_PLAN_FIELD,
} from "../../src/connectors/jira/rest.ts";
import {
  fixtureStorage,
  loadConfluenceFixturePages,
  type ConfluenceFixturePage,
} from "../../src/connectors/confluence/fixtures.ts";
import { adfToText, textToAdf } from "../../src/connectors/atlassian/adf.ts";
import { basicAuthorization } from "../../src/connectors/atlassian/http.ts";

export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON, a string as it is. */
  body?: unknown;
  /** Wait this long before answering (a slow or hung server). */
  delayMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
  /** performance.now() when the request arrived. */
  at: number;
}

export interface FakeAtlassianSite {
  readonly baseUrl: string;
  readonly requests: RecordedRequest[];
  /** Comments created, with their ADF body as sent. */
  readonly comments: { key: string; id: string; body: unknown }[];
  /** Comments deleted, in order. */
  readonly deletedComments: { key: string; id: string }[];
  /** The next requests (after the credential check) get these answers, in order. */
  script(...responses: ScriptedResponse[]): void;
  /** Forgets scripted answers and recorded requests (comments are kept). */
  reset(): void;
  close(): Promise<void>;
}

export interface FakeAtlassianSiteOptions {
  email: string;
  apiToken: string;
  jiraIssues?: JiraFixtureIssue[];
  confluencePages?: ConfluenceFixturePage[];
  environmentField?: string;
  rollbackPlanField?: string;
  /** The first comment id; default 10001, like the fixture adapter's. */
  firstCommentId?: number;
}

const JSON_TYPE = "application/json;charset=UTF-8";
const SPACE_ID = 98_305;

function send(response: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  response.writeHead(status, {
    "content-type": typeof body === "string" ? "text/plain;charset=UTF-8" : JSON_TYPE,
    ...headers,
  });
  response.end(text);
}

function jiraError(messages: string[], errors: Record<string, string> = {}) {
  return { errorMessages: messages, errors };
}

function confluenceError(status: number, message: string) {
  return {
    statusCode: status,
    data: { authorized: status !== 401, valid: true, errors: [], successful: false },
    message,
  };
}

/** Jira refuses ADF with empty text nodes, missing types or a bad root. */
function isValidAdf(node: unknown, root = true): boolean {
  if (typeof node !== "object" || node === null || Array.isArray(node)) return false;
  const record = node as Record<string, unknown>;
  if (typeof record["type"] !== "string") return false;
  if (root && (record["type"] !== "doc" || record["version"] !== 1)) return false;
  if (record["type"] === "text") {
    return typeof record["text"] === "string" && record["text"] !== "";
  }
  const content = record["content"];
  if (content === undefined) return !root;
  return Array.isArray(content) && content.every((child) => isValidAdf(child, false));
}

interface CqlQuery {
  type?: string;
  space?: string;
  label?: string;
}

/** The CQL this fake understands: `field = value` clauses joined by AND. */
function parseCql(cql: string): CqlQuery | undefined {
  const query: CqlQuery = {};
  let rest = cql.trim();
  for (;;) {
    const clause = /^(type|space|label)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_-]+))/.exec(rest);
    if (clause === null) return undefined;
    const [all, field = "", quoted, bare] = clause;
    const value = quoted === undefined ? (bare ?? "") : quoted.replace(/\\(.)/g, "$1");
    if (field === "type" || field === "space" || field === "label") query[field] = value;
    rest = rest.slice(all.length).trim();
    if (rest === "") return query;
    const and = /^AND\s+/i.exec(rest);
    if (and === null) return undefined;
    rest = rest.slice(and[0].length);
  }
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export async function startFakeAtlassianSite(
  options: FakeAtlassianSiteOptions,
): Promise<FakeAtlassianSite> {
  const issues = new Map(
    (options.jiraIssues ?? loadJiraFixtureIssues()).map((issue) => [issue.key, issue] as const),
  );
  const pages = options.confluencePages ?? loadConfluenceFixturePages();
  const environmentField = options.environmentField ?? DEFAULT_ENVIRONMENT_FIELD;
  const rollbackPlanField = options.rollbackPlanField ?? DEFAULT_ROLLBACK_PLAN_FIELD;
  const expectedAuthorization = basicAuthorization(options.email, options.apiToken);
  const requests: RecordedRequest[] = [];
  const comments: { key: string; id: string; body: unknown }[] = [];
  const deletedComments: { key: string; id: string }[] = [];
  let scripted: ScriptedResponse[] = [];
  let nextCommentId = options.firstCommentId ?? 10_001;
  const timers = new Set<NodeJS.Timeout>();
  let baseUrl = "";

  function issueStub(issue: JiraFixtureIssue) {
    return {
      id: issue.id,
      key: issue.key,
      self: `${baseUrl}/rest/api/3/issue/${issue.id}`,
      fields: {
        summary: issue.summary,
        status: statusJson(issue.status),
        priority: { self: `${baseUrl}/rest/api/3/priority/3`, name: "Medium", id: "3" },
        issuetype: { self: `${baseUrl}/rest/api/3/issuetype/10010`, name: "Change", id: "10010" },
      },
    };
  }

  function statusJson(name: string) {
    return {
      self: `${baseUrl}/rest/api/3/status/10101`,
      description: "",
      iconUrl: `${baseUrl}/images/icons/statuses/generic.png`,
      name,
      id: "10101",
      statusCategory: {
        self: `${baseUrl}/rest/api/3/statuscategory/4`,
        id: 4,
        key: "indeterminate",
        colorName: "yellow",
        name: "In Progress",
      },
    };
  }

  function issueJson(issue: JiraFixtureIssue, requested: string[] | undefined) {
    const description = fixtureDescription(issue);
    const all: Record<string, unknown> = {
      summary: issue.summary,
      description: description === "" ? null : textToAdf(description, { linkify: true }),
      status: statusJson(issue.status),
      issuetype: issueStub(issue).fields.issuetype,
      priority: issueStub(issue).fields.priority,
      project: {
        self: `${baseUrl}/rest/api/3/project/10000`,
        id: "10000",
        key: issue.key.split("-")[0],
        name: "Change Management",
      },
      issuelinks: issue.issue_links.flatMap((link, index) => {
        const other = issues.get(link.key);
        if (other === undefined) return [];
        const type = ISSUE_LINK_TYPES[link.link_type];
        return [
          {
            id: String(10_500 + index),
            self: `${baseUrl}/rest/api/3/issueLink/${10_500 + index}`,
            type: {
              id: type.id,
              name: link.link_type,
              inward: type.inward,
              outward: type.outward,
              self: `${baseUrl}/rest/api/3/issueLinkType/${type.id}`,
            },
            [link.direction === "outward" ? "outwardIssue" : "inwardIssue"]: issueStub(other),
          },
        ];
      }),
      [environmentField]:
        issue.environment === null
          ? null
          : {
              self: `${baseUrl}/rest/api/3/customFieldOption/10100`,
              value: capitalized(issue.environment),
              id: "10100",
            },
      [rollbackPlanField]: issue.rollback_plan === null ? null : textToAdf(issue.rollback_plan),
    };
    const fields =
      requested === undefined
        ? all
        : Object.fromEntries(Object.entries(all).filter(([name]) => requested.includes(name)));
    return {
      expand: "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
      id: issue.id,
      self: `${baseUrl}/rest/api/3/issue/${issue.id}`,
      key: issue.key,
      fields,
    };
  }

  function pageJson(page: ConfluenceFixturePage, expand: Set<string>) {
    const expandable: Record<string, string> = {
      children: `/rest/api/content/${page.id}/child`,
      history: `/rest/api/content/${page.id}/history`,
      version: "",
      ancestors: "",
    };
    const result: Record<string, unknown> = {
      id: page.id,
      type: "page",
      status: "current",
      title: page.title,
      macroRenderedOutput: {},
      extensions: { position: 0 },
      _links: {
        webui: page.webui,
        edit: `/pages/resumedraft.action?draftId=${page.id}`,
        tinyui: `/x/${Buffer.from(page.id).toString("base64url")}`,
        self: `${baseUrl}/wiki/rest/api/content/${page.id}`,
      },
    };
    if (expand.has("space")) {
      result["space"] = {
        id: SPACE_ID,
        key: page.space.key,
        name: page.space.name,
        type: "global",
        status: "current",
        _expandable: { settings: "", metadata: "", operations: "", homepage: "" },
        _links: {
          webui: `/spaces/${page.space.key}`,
          self: `${baseUrl}/wiki/rest/api/space/${page.space.key}`,
        },
      };
    } else {
      expandable["space"] = `/rest/api/space/${page.space.key}`;
    }
    if (expand.has("metadata.labels")) {
      result["metadata"] = {
        labels: {
          results: page.labels.map((name, index) => ({
            prefix: "global",
            name,
            id: String(1_000_000 + index),
            label: name,
          })),
          start: 0,
          limit: 200,
          size: page.labels.length,
          _links: { self: `${baseUrl}/wiki/rest/api/content/${page.id}/label` },
        },
        _expandable: { currentuser: "", properties: "", frontend: "", editorHtml: "" },
      };
    } else {
      expandable["metadata"] = "";
    }
    if (expand.has("body.storage")) {
      result["body"] = {
        storage: {
          value: fixtureStorage(page),
          representation: "storage",
          embeddedContent: [],
          _expandable: { content: `/rest/api/content/${page.id}` },
        },
        _expandable: {
          editor: "",
          view: "",
          export_view: "",
          styled_view: "",
          atlas_doc_format: "",
        },
      };
    } else {
      expandable["body"] = "";
    }
    result["_expandable"] = expandable;
    return result;
  }

  function handleJira(request: RecordedRequest, response: ServerResponse): void {
    const issueMatch = /^\/rest\/api\/3\/issue\/([^/]+)$/.exec(request.path);
    const commentMatch = /^\/rest\/api\/3\/issue\/([^/]+)\/comment$/.exec(request.path);
    const oneComment = /^\/rest\/api\/3\/issue\/([^/]+)\/comment\/([^/]+)$/.exec(request.path);
    const notFound = (): void => {
      send(
        response,
        404,
        jiraError(["Issue does not exist or you do not have permission to see it."]),
      );
    };

    if (issueMatch !== null && request.method === "GET") {
      const issue = issues.get(decodeURIComponent(issueMatch[1] ?? ""));
      if (issue === undefined) {
        notFound();
        return;
      }
      const fields = request.query.get("fields");
      send(response, 200, issueJson(issue, fields === null ? undefined : fields.split(",")));
      return;
    }
    if (oneComment !== null && request.method === "DELETE") {
      const key = decodeURIComponent(oneComment[1] ?? "");
      const at = comments.findIndex((c) => c.key === key && c.id === oneComment[2]);
      if (at < 0) {
        send(response, 404, jiraError(["Can not find a comment for the id."]));
        return;
      }
      const [gone] = comments.splice(at, 1);
      if (gone !== undefined) deletedComments.push({ key: gone.key, id: gone.id });
      response.writeHead(204);
      response.end();
      return;
    }
    if (commentMatch !== null && request.method === "POST") {
      if (!(request.contentType ?? "").toLowerCase().startsWith("application/json")) {
        send(response, 415, jiraError(["Unsupported Media Type"]));
        return;
      }
      const issue = issues.get(decodeURIComponent(commentMatch[1] ?? ""));
      if (issue === undefined) {
        notFound();
        return;
      }
      let payload: unknown;
      try {
        payload = JSON.parse(request.body);
      } catch {
        send(response, 400, jiraError(["Unexpected character in the request body."]));
        return;
      }
      const body =
        typeof payload === "object" && payload !== null
          ? (payload as Record<string, unknown>)["body"]
          : undefined;
      if (!isValidAdf(body)) {
        send(
          response,
          400,
          jiraError(["INVALID_INPUT"], { comment: "Comment body is not valid!" }),
        );
        return;
      }
      const text = adfToText(body).text;
      if (text.trim() === "") {
        send(response, 400, jiraError([], { comment: "Comment body can not be empty!" }));
        return;
      }
      if (text.length > 32_767) {
        send(
          response,
          400,
          jiraError([], {
            comment:
              "The entered text is too long. It exceeds the allowed limit of 32,767 characters.",
          }),
        );
        return;
      }
      const id = String(nextCommentId);
      nextCommentId += 1;
      comments.push({ key: issue.key, id, body });
      const now = new Date().toISOString().replace("Z", "+0000");
      const author = {
        self: `${baseUrl}/rest/api/3/user?accountId=712020:0b1f9d64-review-bot`,
        accountId: "712020:0b1f9d64-review-bot",
        emailAddress: options.email,
        displayName: "ZYX Change Review",
        active: true,
        timeZone: "Asia/Singapore",
        accountType: "atlassian",
      };
      send(response, 201, {
        self: `${baseUrl}/rest/api/3/issue/${issue.id}/comment/${id}`,
        id,
        author,
        body,
        updateAuthor: author,
        created: now,
        updated: now,
        jsdPublic: true,
      });
      return;
    }
    send(response, 404, "Not Found");
  }

  function handleConfluence(request: RecordedRequest, response: ServerResponse): void {
    if (request.path !== "/wiki/rest/api/content/search" || request.method !== "GET") {
      send(response, 404, confluenceError(404, "No content found"));
      return;
    }
    const cql = request.query.get("cql");
    if (cql === null || cql.trim() === "") {
      send(
        response,
        400,
        confluenceError(
          400,
          "com.atlassian.confluence.api.service.exceptions.BadRequestException: CQL query parameter is required but was not supplied",
        ),
      );
      return;
    }
    const query = parseCql(cql);
    if (query === undefined) {
      send(response, 400, confluenceError(400, `Could not parse cql : ${cql}`));
      return;
    }
    const expand = new Set((request.query.get("expand") ?? "").split(",").filter(Boolean));
    const limit = Math.min(Math.max(Number(request.query.get("limit") ?? "25") || 25, 1), 50);
    const start = Math.max(Number(request.query.get("start") ?? "0") || 0, 0);
    // Confluence orders by relevance, not by title: the adapter must not rely on the order.
    const matching = pages
      .filter(
        (page) =>
          (query.type === undefined || query.type === "page") &&
          (query.space === undefined || page.space.key === query.space) &&
          (query.label === undefined || page.labels.includes(query.label)),
      )
      .sort((a, b) => Number(b.id) - Number(a.id));
    const slice = matching.slice(start, start + limit);
    const links: Record<string, string> = {
      base: `${baseUrl}/wiki`,
      context: "/wiki",
      self: `${baseUrl}/wiki/rest/api/content/search?${request.query.toString()}`,
    };
    if (start + limit < matching.length) {
      const next = new URLSearchParams({
        next: "true",
        cursor: Buffer.from(`_f_${start + limit}_sa_`).toString("base64url"),
        expand: [...expand].join(","),
        limit: String(limit),
        start: String(start + limit),
        cql,
      });
      links["next"] = `/rest/api/content/search?${next.toString()}`;
    }
    send(response, 200, {
      results: slice.map((page) => pageJson(page, expand)),
      start,
      limit,
      size: slice.length,
      totalSize: matching.length,
      cqlQuery: cql,
      searchDuration: 23,
      _links: links,
    });
  }

  async function handle(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const url = new URL(incoming.url ?? "/", "http://127.0.0.1");
    const request: RecordedRequest = {
      method: incoming.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      authorization: incoming.headers.authorization,
      contentType: incoming.headers["content-type"],
      body: Buffer.concat(chunks).toString("utf8"),
      at: performance.now(),
    };
    requests.push(request);
    const confluence = request.path.startsWith("/wiki/");

    if (request.authorization !== expectedAuthorization) {
      send(response, 401, "Client must be authenticated to access this resource.", {
        "www-authenticate": 'Basic realm="Atlassian"',
      });
      return;
    }

    const next = scripted.shift();
    if (next !== undefined) {
      const answer = () => {
        send(response, next.status, next.body ?? "", next.headers ?? {});
      };
      if (next.delayMs === undefined) answer();
      else {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!response.destroyed) answer();
        }, next.delayMs);
        timers.add(timer);
      }
      return;
    }

    if (confluence) handleConfluence(request, response);
    else handleJira(request, response);
  }

  const server = createServer((incoming, response) => {
    handle(incoming, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, `fake site failure: ${String(error)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    get baseUrl() {
      return baseUrl;
    },
    requests,
    comments,
    deletedComments,
    script(...responses) {
      scripted.push(...responses);
    },
    reset() {
      scripted = [];
      requests.length = 0;
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error === undefined) resolve();
          else reject(error);
        });
      });
    },
  };
}
