// The worker's one port to the outside systems. Each connector has two adapters: fixtures (the
// embedded, offline default) and the real API, chosen by environment. Tools (agent/src/tools.ts)
// talk only to these interfaces; one contract suite runs over both adapters of each connector.

/** Stable codes for what went wrong talking to a system (the worker maps them to its errors). */
export const CONNECTOR_ERROR_CODES = [
  "connector_unauthorized", // 401 from the system: our credential is wrong or expired
  "connector_forbidden", // 403: the credential lacks the permission
  "connector_not_found", // 404: no such ticket, pull request, page, group...
  "connector_rate_limited", // 429 still after the retries
  "connector_unavailable", // 5xx after the retries, or the network failed
  "connector_timeout", // no answer in time
  "connector_bad_response", // an answer we cannot read
  "connector_rejected", // 400/409/422: the system refused the request itself
] as const;

export type ConnectorErrorCode = (typeof CONNECTOR_ERROR_CODES)[number];

export type ConnectorName = "jira" | "confluence" | "github" | "slack" | "aws";

export class ConnectorError extends Error {
  readonly code: ConnectorErrorCode;
  readonly connector: ConnectorName;
  /** The system's HTTP status, when there was one. */
  readonly status: number | undefined;

  constructor(
    connector: ConnectorName,
    code: ConnectorErrorCode,
    message: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ConnectorError";
    this.connector = connector;
    this.code = code;
    this.status = options.status;
  }
}

// --- Jira -----------------------------------------------------------------------------------

export interface JiraIssue {
  key: string;
  summary: string;
  /** Plain text (the real adapter flattens Atlassian Document Format). */
  description: string;
  status: string;
  /** e.g. "development", "staging", "production"; null when the ticket does not say. */
  environment: string | null;
  /** The ticket's rollback plan; null when it has none. */
  rollback_plan: string | null;
  links: { type: string; url: string; title: string }[];
}

export interface JiraPort {
  getIssue(key: string): Promise<JiraIssue>;
  addComment(key: string, body: string): Promise<{ comment_id: string; ticket: string }>;
  /** Deletes one comment (a compensation); connector_not_found if it is not there (any more). */
  deleteComment(key: string, commentId: string): Promise<{ comment_id: string; ticket: string }>;
}

// --- Confluence -----------------------------------------------------------------------------

export interface ConfluencePage {
  id: string;
  title: string;
  space: string;
  labels: string[];
  /** Plain text of the page body. */
  body: string;
  url: string;
}

export interface ConfluencePort {
  /** Pages in a space and/or with a label (at least one is given). */
  findPages(query: { space?: string; label?: string }): Promise<ConfluencePage[]>;
}

// --- GitHub ---------------------------------------------------------------------------------

export interface PullRequestFile {
  path: string;
  status: "added" | "modified" | "removed" | "renamed" | "changed" | "copied" | "unchanged";
  additions: number;
  deletions: number;
  /** Unified diff of the file; null when GitHub gives none (binary, too large). */
  patch: string | null;
}

export interface PullRequest {
  repository: string;
  number: number;
  title: string;
  author: string;
  state: "open" | "closed";
  merged: boolean;
  base: string;
  head: string;
  body: string;
  files: PullRequestFile[];
}

export interface GitHubPort {
  getPullRequest(repository: string, number: number): Promise<PullRequest>;
}

// --- Slack ----------------------------------------------------------------------------------

export interface SlackPort {
  /** `blocks`: Block Kit (plain-text subset, checked by the tool's schema); text is the fallback. */
  postMessage(
    channel: string,
    text: string,
    blocks?: readonly Record<string, unknown>[],
  ): Promise<{ channel: string; ts: string }>;
  /**
   * Deletes one message the bot posted (a compensation), by channel ID and ts;
   * connector_not_found if it is not there (any more).
   */
  deleteMessage(channel: string, ts: string): Promise<{ channel: string; ts: string }>;
}

// --- AWS (EC2 security groups) -------------------------------------------------------------

export interface IngressRule {
  protocol: string; // "tcp" | "udp" | "icmp" | "-1"
  /** "22", "1024-2048", or "0-65535" for all. */
  port_range: string;
  cidr: string;
  description?: string;
}

export interface SecurityGroup {
  group_id: string;
  name: string;
  vpc_id: string;
  description: string;
  ingress: IngressRule[];
}

export interface SecurityGroupChange {
  action: "authorize_ingress" | "revoke_ingress";
  protocol: string;
  port_range: string;
  cidr: string;
  description?: string;
}

export interface AwsPort {
  describeSecurityGroups(
    account: string,
    region: string,
    groupIds?: readonly string[],
  ): Promise<SecurityGroup[]>;
  /**
   * Applies one ingress change; returns the group's rules before and after it. Once the change
   * is applied it resolves, never rejects: a read-back that failed is `after: null` with
   * `unverified` saying why (the change is live and must keep its rollback handle).
   */
  modifySecurityGroup(
    account: string,
    region: string,
    groupId: string,
    change: SecurityGroupChange,
  ): Promise<{ before: IngressRule[]; after: IngressRule[] | null; unverified?: string }>;
}

export interface Connectors {
  jira: JiraPort;
  confluence: ConfluencePort;
  github: GitHubPort;
  slack: SlackPort;
  aws: AwsPort;
}
