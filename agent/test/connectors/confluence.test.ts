// The Confluence connector: one contract over both adapters (fixtures, and the REST adapter
// against a local fake of Confluence Cloud's content search), then what only the REST adapter
// does (requests, CQL, pagination, error mapping, retries, timeouts), and the factory.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeAtlassianSite, type FakeAtlassianSite } from "../support/fake-atlassian.ts";
import {
  createConfluenceFixtures,
  createConfluenceFromEnv,
  createConfluenceRest,
  type ConfluenceRestOptions,
} from "../../src/connectors/confluence/index.ts";
import { ConnectorError, type ConfluencePort } from "../../src/connectors/port.ts";

const EMAIL = "change-review-bot@zyxbank.example";
const TOKEN = "confluence-test-token-51d2e8";
const BASIC = `Basic ${Buffer.from(`${EMAIL}:${TOKEN}`).toString("base64")}`;

let site: FakeAtlassianSite;

beforeAll(async () => {
  site = await startFakeAtlassianSite({ email: EMAIL, apiToken: TOKEN });
});
afterAll(async () => {
  await site.close();
});
beforeEach(() => {
  site.reset();
});

function makeFixtures(): ConfluencePort {
  return createConfluenceFixtures({ siteUrl: site.baseUrl });
}

function makeReal(overrides: Partial<ConfluenceRestOptions> = {}): ConfluencePort {
  return createConfluenceRest({
    baseUrl: site.baseUrl,
    email: EMAIL,
    apiToken: TOKEN,
    timeoutMs: 2_000,
    retries: 2,
    minBackoffMs: 5,
    maxBackoffMs: 20,
    ...overrides,
  });
}

async function failure(promise: Promise<unknown>): Promise<ConnectorError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectorError);
    const connectorError = error as ConnectorError;
    expect(connectorError.connector).toBe("confluence");
    expect(connectorError.message).not.toContain(TOKEN);
    expect(connectorError.message).not.toContain(BASIC.slice(6));
    return connectorError;
  }
  throw new Error("expected the call to fail");
}

const STANDARDS = [
  [
    "294913",
    "SEC-STD-001 S3 public access",
    "S3 buckets must block public access unless explicitly approved.",
  ],
  [
    "294914",
    "SEC-STD-002 IAM wildcard actions",
    "IAM policies must avoid wildcard actions unless justified and approved.",
  ],
  [
    "294915",
    "SEC-STD-003 Administrative port exposure",
    "Administrative ports must not be exposed to 0.0.0.0/0.",
  ],
  [
    "294916",
    "SEC-STD-004 CloudWatch log retention",
    "CloudWatch log groups must define retention.",
  ],
  [
    "294917",
    "SEC-STD-005 Change rollback plans",
    "Changes require rollback plans before promotion.",
  ],
] as const;

describe.each([
  ["fixtures", makeFixtures],
  ["real", () => makeReal()],
] as const)("Confluence contract: %s", (_name, make) => {
  it("finds the five security standards of space SEC, ordered by title", async () => {
    const pages = await make().findPages({ space: "SEC" });
    expect(pages.map((page) => [page.id, page.title])).toEqual(
      STANDARDS.map(([id, title]) => [id, title]),
    );
    for (const [index, page] of pages.entries()) {
      const [id, title, requirement] = STANDARDS[index] ?? ["", "", ""];
      expect(page.space).toBe("SEC");
      expect(page.labels).toContain("security-standard");
      expect(page.url).toBe(
        `${site.baseUrl}/wiki/spaces/SEC/pages/${id}/${title.replaceAll(" ", "+")}`,
      );
      expect(page.body.split("\n\n")).toContain(requirement);
      expect(page.body).not.toMatch(/<\/?[a-z]|&[a-z]+;|CDATA/);
    }
  });

  it("finds the same pages by label, and by space and label", async () => {
    const connector = make();
    const bySpace = await connector.findPages({ space: "SEC" });
    expect(await connector.findPages({ label: "security-standard" })).toEqual(bySpace);
    expect(await connector.findPages({ space: "SEC", label: "security-standard" })).toEqual(
      bySpace,
    );
  });

  it("narrows by a more specific label", async () => {
    const pages = await make().findPages({ label: "iam" });
    expect(pages.map((page) => page.title)).toEqual(["SEC-STD-002 IAM wildcard actions"]);
    expect(pages[0]?.labels).toEqual(["security-standard", "aws", "iam"]);
  });

  it("gives the page bodies as plain text, code kept as written", async () => {
    const [s3] = await make().findPages({ label: "s3" });
    expect(s3?.body).toContain(
      "- BlockPublicAcls\n- IgnorePublicAcls\n- BlockPublicPolicy\n- RestrictPublicBuckets",
    );
    expect(s3?.body).toContain('resource "aws_s3_bucket_public_access_block" "this" {\n  bucket ');
    expect(s3?.body).toContain("Exceptions are reviewed every 90 days.");
    expect(s3?.body).not.toContain("hcl");
    const [ports] = await make().findPages({ label: "network" });
    expect(ports?.body).toContain("Port | Service\n22 | SSH\n3389 | RDP");
  });

  it("finds nothing in an unknown space or for an unknown label", async () => {
    const connector = make();
    expect(await connector.findPages({ space: "NOPE" })).toEqual([]);
    expect(await connector.findPages({ label: "hr-records" })).toEqual([]);
    expect(await connector.findPages({ space: "SEC", label: "hr-records" })).toEqual([]);
  });

  it("refuses a query without a space and a label, or of a bad format, without asking", async () => {
    const connector = make();
    for (const query of [
      {},
      { space: "sec" },
      { space: 'SEC" OR space = "HR' },
      { label: 'x" OR label = "y' },
      { label: "Security Standard" },
    ]) {
      expect((await failure(connector.findPages(query))).code).toBe("connector_rejected");
    }
    expect(site.requests).toHaveLength(0);
  });
});

describe("Confluence REST adapter", () => {
  it("searches with CQL, the expansions it needs and Basic credentials", async () => {
    await makeReal().findPages({ space: "SEC", label: "security-standard" });
    expect(site.requests).toHaveLength(1);
    const [request] = site.requests;
    expect(request?.method).toBe("GET");
    expect(request?.path).toBe("/wiki/rest/api/content/search");
    expect(request?.query.get("cql")).toBe(
      'type = page AND space = "SEC" AND label = "security-standard"',
    );
    expect(request?.query.get("expand")).toBe("body.storage,metadata.labels,space");
    expect(request?.query.get("limit")).toBe("25");
    expect(request?.authorization).toBe(BASIC);
  });

  it("follows _links.next, with the same result", async () => {
    const all = await makeReal().findPages({ space: "SEC" });
    site.reset();
    expect(await makeReal({ pageSize: 2 }).findPages({ space: "SEC" })).toEqual(all);
    expect(site.requests).toHaveLength(3);
    expect(site.requests.map((request) => request.query.get("start"))).toEqual([null, "2", "4"]);
  });

  it("refuses a silently partial list beyond its request bound", async () => {
    const error = await failure(
      makeReal({ pageSize: 2, maxRequests: 2 }).findPages({ space: "SEC" }),
    );
    expect(error.code).toBe("connector_bad_response");
    expect(error.message).toMatch(/more than 4 pages match/);
    expect(site.requests).toHaveLength(2);
  });

  it("does not follow a next link or a page link off the site", async () => {
    site.script({
      status: 200,
      body: { results: [], _links: { next: "//evil.example/rest/api/content/search?cql=x" } },
    });
    expect((await failure(makeReal().findPages({ space: "SEC" }))).code).toBe(
      "connector_bad_response",
    );
    const page = {
      id: "1",
      type: "page",
      title: "t",
      space: { key: "SEC" },
      metadata: { labels: { results: [] } },
      body: { storage: { value: "<p>x</p>" } },
      _links: { webui: "//evil.example/x" },
    };
    site.script({ status: 200, body: { results: [page], _links: {} } });
    expect((await failure(makeReal().findPages({ space: "SEC" }))).code).toBe(
      "connector_bad_response",
    );
  });

  it("reports a result without the expansions it asked for as connector_bad_response", async () => {
    site.script({
      status: 200,
      body: {
        results: [
          { id: "1", type: "page", title: "t", _links: { webui: "/spaces/SEC/pages/1/t" } },
        ],
      },
    });
    const error = await failure(makeReal().findPages({ space: "SEC" }));
    expect(error.code).toBe("connector_bad_response");
  });

  it("maps a CQL error (400) to connector_rejected with Confluence's message", async () => {
    site.script({
      status: 400,
      body: {
        statusCode: 400,
        data: { authorized: true, valid: false, errors: [], successful: false },
        message: "Could not parse cql : type = page AND",
      },
    });
    const error = await failure(makeReal().findPages({ space: "SEC" }));
    expect(error.code).toBe("connector_rejected");
    expect(error.status).toBe(400);
    expect(error.message).toBe(
      "confluence: GET /wiki/rest/api/content/search answered 400: Could not parse cql : type = page AND",
    );
  });

  it("maps 401, 403 and 404", async () => {
    const unauthorized = await failure(
      makeReal({ email: "someone@else" }).findPages({ space: "SEC" }),
    );
    expect(unauthorized.code).toBe("connector_unauthorized");
    site.script(
      { status: 403, body: { statusCode: 403, message: "User not permitted to use Confluence" } },
      { status: 404, body: { statusCode: 404, message: "No space with key : SEC" } },
    );
    const forbidden = await failure(makeReal().findPages({ space: "SEC" }));
    expect(forbidden.code).toBe("connector_forbidden");
    expect(forbidden.message).toContain("User not permitted to use Confluence");
    const missing = await failure(makeReal().findPages({ space: "SEC" }));
    expect(missing.code).toBe("connector_not_found");
  });

  it("waits as long as Retry-After asks after a 429, then succeeds", async () => {
    site.script({ status: 429, headers: { "retry-after": "1" } });
    expect(await makeReal().findPages({ label: "iam" })).toHaveLength(1);
    const [first, second] = site.requests;
    expect(site.requests).toHaveLength(2);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it("retries 5xx then succeeds; reports connector_unavailable when it lasts", async () => {
    site.script({ status: 500 }, { status: 504 });
    expect(await makeReal().findPages({ label: "iam" })).toHaveLength(1);
    expect(site.requests).toHaveLength(3);

    site.reset();
    site.script({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    const error = await failure(makeReal().findPages({ label: "iam" }));
    expect(error.code).toBe("connector_unavailable");
    expect(site.requests).toHaveLength(3);
  });

  it("reports connector_timeout when Confluence does not answer in time", async () => {
    site.script({ status: 200, body: { results: [] }, delayMs: 3_000 });
    const error = await failure(makeReal({ timeoutMs: 150 }).findPages({ space: "SEC" }));
    expect(error.code).toBe("connector_timeout");
  });
});

describe("createConfluenceFromEnv", () => {
  it("uses the fixtures when Confluence is not configured", async () => {
    const pages = await createConfluenceFromEnv({}).findPages({ space: "SEC" });
    expect(pages).toHaveLength(5);
    expect(pages[0]?.url).toBe(
      "https://zyx-bank.atlassian.net/wiki/spaces/SEC/pages/294913/SEC-STD-001+S3+public+access",
    );
    expect(site.requests).toHaveLength(0);
  });

  it("uses the REST adapter with its own credentials", async () => {
    const confluence = createConfluenceFromEnv({
      CONFLUENCE_BASE_URL: `${site.baseUrl}/wiki/`,
      CONFLUENCE_EMAIL: EMAIL,
      CONFLUENCE_API_TOKEN: TOKEN,
    });
    expect(await confluence.findPages({ label: "s3" })).toHaveLength(1);
    expect(site.requests).toHaveLength(1);
  });

  it("shares the Jira credentials with the same site only", async () => {
    const jira = { JIRA_BASE_URL: site.baseUrl, JIRA_EMAIL: EMAIL, JIRA_API_TOKEN: TOKEN };
    const shared = createConfluenceFromEnv({
      ...jira,
      CONFLUENCE_BASE_URL: `${site.baseUrl}/wiki`,
    });
    expect(await shared.findPages({ label: "s3" })).toHaveLength(1);
    expect(site.requests[0]?.authorization).toBe(BASIC);
    expect(() =>
      createConfluenceFromEnv({ ...jira, CONFLUENCE_BASE_URL: "https://zyx-bank.atlassian.net" }),
    ).toThrow(/^CONFLUENCE_EMAIL is missing/);
  });

  it.each([
    [{ CONFLUENCE_BASE_URL: "https://zyx-bank.atlassian.net" }, /^CONFLUENCE_EMAIL is missing/],
    [
      { CONFLUENCE_BASE_URL: "https://zyx-bank.atlassian.net", CONFLUENCE_EMAIL: EMAIL },
      /^CONFLUENCE_API_TOKEN \(or CONFLUENCE_API_TOKEN_FILE\) is missing/,
    ],
    [
      {
        CONFLUENCE_BASE_URL: "https://zyx-bank.atlassian.net",
        CONFLUENCE_API_TOKEN: TOKEN,
        JIRA_BASE_URL: "https://zyx-bank.atlassian.net",
        JIRA_EMAIL: EMAIL,
        JIRA_API_TOKEN: TOKEN,
      },
      /^CONFLUENCE_EMAIL is missing/,
    ],
    [{ CONFLUENCE_EMAIL: EMAIL, CONFLUENCE_API_TOKEN: TOKEN }, /^CONFLUENCE_BASE_URL is missing/],
    [
      {
        CONFLUENCE_BASE_URL: "http://wiki.zyxbank.example",
        CONFLUENCE_EMAIL: EMAIL,
        CONFLUENCE_API_TOKEN: TOKEN,
      },
      /CONFLUENCE_BASE_URL must be an https/,
    ],
  ])("refuses a partial or bad configuration at construction (%o)", (env, message) => {
    expect(() => createConfluenceFromEnv(env)).toThrow(message);
  });
});
