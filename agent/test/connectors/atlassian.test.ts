// The shared Atlassian pieces: ADF and storage-format conversion, links, Retry-After, error
// bodies, configuration, and the HTTP client's edge cases (network failure, redirects, size cap,
// redaction).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AdfError, adfToText, textToAdf } from "../../src/connectors/atlassian/adf.ts";
import { normalizeBaseUrl, readApiToken } from "../../src/connectors/atlassian/config.ts";
import { startFakeAtlassianSite, type FakeAtlassianSite } from "../support/fake-atlassian.ts";
import {
  atlassianErrorText,
  basicAuthorization,
  createAtlassianHttp,
  parseRetryAfter,
} from "../../src/connectors/atlassian/http.ts";
import { findUrls, linkForUrl, linksForUrls } from "../../src/connectors/atlassian/links.ts";
import { decodeEntities, storageToText } from "../../src/connectors/atlassian/storage.ts";
import { cqlString, pageCql } from "../../src/connectors/confluence/query.ts";
import { fixtureDescription, loadJiraFixtureIssues } from "../../src/connectors/jira/fixtures.ts";
import { ConnectorError } from "../../src/connectors/port.ts";
import { runWithDeadline } from "../../src/connectors/deadline.ts";

async function failure(promise: Promise<unknown>): Promise<ConnectorError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectorError);
    return error as ConnectorError;
  }
  throw new Error("expected the call to fail");
}

const text = (value: string) => ({ type: "text", text: value });

describe("adfToText", () => {
  it("flattens the node types Jira uses and collects the URLs in order", () => {
    const document = {
      type: "doc",
      version: 1,
      content: [
        { type: "heading", attrs: { level: 3 }, content: [text("Change summary")] },
        {
          type: "paragraph",
          content: [
            text("See "),
            {
              type: "text",
              text: "the pull request",
              marks: [
                { type: "strong" },
                {
                  type: "link",
                  attrs: { href: "https://github.com/zyx-bank/platform-infra/pull/991" },
                },
              ],
            },
            text(", asked by "),
            { type: "mention", attrs: { id: "712020:1", text: "@Dana Lee" } },
            text(" "),
            { type: "emoji", attrs: { shortName: ":rocket:", text: "🚀" } },
            { type: "hardBreak" },
            text("Due "),
            { type: "date", attrs: { timestamp: "1779408000000" } },
            text(" — "),
            { type: "status", attrs: { text: "BLOCKED", color: "red" } },
          ],
        },
        {
          type: "bulletList",
          content: [
            {
              type: "listItem",
              content: [
                { type: "paragraph", content: [text("one")] },
                {
                  type: "orderedList",
                  attrs: { order: 3 },
                  content: [
                    {
                      type: "listItem",
                      content: [{ type: "paragraph", content: [text("three")] }],
                    },
                    { type: "listItem", content: [{ type: "paragraph", content: [text("four")] }] },
                  ],
                },
              ],
            },
            { type: "listItem", content: [{ type: "paragraph", content: [text("two")] }] },
          ],
        },
        {
          type: "taskList",
          attrs: { localId: "t" },
          content: [
            { type: "taskItem", attrs: { state: "DONE" }, content: [text("plan reviewed")] },
            { type: "taskItem", attrs: { state: "TODO" }, content: [text("approve")] },
          ],
        },
        {
          type: "codeBlock",
          attrs: { language: "hcl" },
          content: [text('resource "aws_s3_bucket" "x" {\n  bucket = "b"\n}')],
        },
        {
          type: "blockquote",
          content: [{ type: "paragraph", content: [text("quoted\nlines")] }],
        },
        { type: "rule" },
        {
          type: "table",
          content: [
            {
              type: "tableRow",
              content: [
                { type: "tableHeader", content: [{ type: "paragraph", content: [text("Port")] }] },
                { type: "tableHeader", content: [{ type: "paragraph", content: [text("CIDR")] }] },
              ],
            },
            {
              type: "tableRow",
              content: [
                { type: "tableCell", content: [{ type: "paragraph", content: [text("22")] }] },
                {
                  type: "tableCell",
                  content: [{ type: "paragraph", content: [text("0.0.0.0/0")] }],
                },
              ],
            },
          ],
        },
        {
          type: "panel",
          attrs: { panelType: "info" },
          content: [
            {
              type: "paragraph",
              content: [{ type: "inlineCard", attrs: { url: "https://zyx.example/runbook" } }],
            },
          ],
        },
        { type: "mediaSingle", content: [{ type: "media", attrs: { id: "x", type: "file" } }] },
        { type: "someFutureBlock", content: [{ type: "paragraph", content: [text("kept")] }] },
        { type: "paragraph", content: [] },
        "not a node",
        { type: "paragraph", content: [42, null, text("plain https://exfil.example.net.")] },
      ],
    };
    expect(adfToText(document)).toEqual({
      text: [
        "### Change summary",
        "See the pull request, asked by @Dana Lee 🚀\nDue 2026-05-22 — BLOCKED",
        "- one\n  3. three\n  4. four\n- two",
        "- [x] plan reviewed\n- [ ] approve",
        'resource "aws_s3_bucket" "x" {\n  bucket = "b"\n}',
        "> quoted\n> lines",
        "---",
        "Port | CIDR\n22 | 0.0.0.0/0",
        "https://zyx.example/runbook",
        "kept",
        "plain https://exfil.example.net.",
      ].join("\n\n"),
      urls: [
        "https://github.com/zyx-bank/platform-infra/pull/991",
        "https://zyx.example/runbook",
        "https://exfil.example.net",
      ],
    });
  });

  it("reads an empty description, plain text, and refuses what is not a document", () => {
    expect(adfToText(null)).toEqual({ text: "", urls: [] });
    expect(adfToText(undefined)).toEqual({ text: "", urls: [] });
    expect(adfToText("see https://a.example/x")).toEqual({
      text: "see https://a.example/x",
      urls: ["https://a.example/x"],
    });
    expect(() => adfToText({ type: "paragraph", content: [] })).toThrow(AdfError);
    expect(() => adfToText(42)).toThrow(AdfError);
  });

  it("does not follow unbounded nesting", () => {
    let node: Record<string, unknown> = text("deep");
    for (let i = 0; i < 5_000; i += 1) node = { type: "blockquote", content: [node] };
    expect(() => adfToText({ type: "doc", version: 1, content: [node] })).not.toThrow();
  });

  it("ignores javascript: and other non-http link targets", () => {
    const document = {
      type: "doc",
      version: 1,
      content: [
        {
          type: "paragraph",
          content: [
            {
              type: "text",
              text: "x",
              marks: [{ type: "link", attrs: { href: "javascript:alert(1)" } }],
            },
          ],
        },
      ],
    };
    expect(adfToText(document).urls).toEqual([]);
  });
});

describe("textToAdf", () => {
  const sample = [
    "## AI Security Review Summary",
    "",
    "Change: CHG-18422",
    "Linked PR: https://github.com/zyx-bank/platform-infra/pull/991",
    "",
    "### Findings",
    "",
    "- IAM policy includes wildcard actions.",
    "- Rollback plan is missing.",
    "",
    "This review is advisory.",
  ].join("\n");

  it("round-trips through adfToText", () => {
    expect(adfToText(textToAdf(sample)).text).toBe(sample);
    expect(adfToText(textToAdf(sample, { linkify: true })).text).toBe(sample);
    for (const issue of loadJiraFixtureIssues()) {
      const description = fixtureDescription(issue);
      expect(adfToText(textToAdf(description, { linkify: true })).text).toBe(description);
      if (issue.rollback_plan !== null) {
        expect(adfToText(textToAdf(issue.rollback_plan)).text).toBe(issue.rollback_plan);
      }
    }
  });

  it("builds headings, bullet lists and paragraphs with hard breaks", () => {
    const document = textToAdf(sample);
    expect(document.type).toBe("doc");
    expect(document.version).toBe(1);
    expect(document.content.map((block) => block.type)).toEqual([
      "heading",
      "paragraph",
      "heading",
      "bulletList",
      "paragraph",
    ]);
    expect(document.content[1]).toEqual({
      type: "paragraph",
      content: [
        text("Change: CHG-18422"),
        { type: "hardBreak" },
        text("Linked PR: https://github.com/zyx-bank/platform-infra/pull/991"),
      ],
    });
  });

  it("makes URLs links only when asked", () => {
    expect(JSON.stringify(textToAdf(sample))).not.toContain('"link"');
    const linked = textToAdf("PR: https://github.com/zyx-bank/platform-infra/pull/991.", {
      linkify: true,
    });
    expect(linked.content[0]).toEqual({
      type: "paragraph",
      content: [
        text("PR: "),
        {
          type: "text",
          text: "https://github.com/zyx-bank/platform-infra/pull/991",
          marks: [
            {
              type: "link",
              attrs: { href: "https://github.com/zyx-bank/platform-infra/pull/991" },
            },
          ],
        },
        text("."),
      ],
    });
  });

  it("never emits an empty text node and normalises CRLF", () => {
    const document = textToAdf("a\r\n\r\n\r\nb\r\nc\n\n  \n");
    expect(adfToText(document).text).toBe("a\n\nb\nc");
    expect(JSON.stringify(document)).not.toContain('"text":""');
  });
});

describe("storageToText", () => {
  it("decodes character references", () => {
    expect(decodeEntities("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; &#x1F512; &rsquo;")).toBe(
      "a & b <c> \"d\" 'e' 🔒 \u2019",
    );
    expect(decodeEntities("&#0; &#xD800; &#x110000; &bogus; &amp")).toBe(
      "\uFFFD \uFFFD \uFFFD &bogus; &amp",
    );
  });

  it("renders paragraphs, headings, lists, tables and macros as plain text", () => {
    const storage = [
      "<h1>Title</h1>",
      '<p>First   line<br/>second&nbsp;line with <strong>bold</strong> and <a href="https://x.example">a link</a>.</p>',
      "<!-- a comment <p>hidden</p> -->",
      "<ul><li>one<ul><li><p>nested</p></li></ul></li><li>two</li></ul>",
      "<ol><li>first</li><li>second</li></ol>",
      "<table><tbody><tr><th><p>Port</p></th><th>CIDR</th></tr><tr><td>22</td><td><p>10.0.0.0/8</p></td></tr></tbody></table>",
      '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>',
      '<ac:plain-text-body><![CDATA[if [ $a -lt 1 ]; then\n  echo "<ok> &amp;"\nfi]]></ac:plain-text-body></ac:structured-macro>',
      "<pre>  keep   this\n  layout</pre>",
      '<p><ac:link><ri:page ri:content-title="SEC-STD-002" /><ac:plain-text-link-body><![CDATA[the IAM standard]]></ac:plain-text-link-body></ac:link> applies.</p>',
      "<script>alert(1)</script><style>p{}</style>",
      "<p>2 < 3 and 5 > 4</p>",
    ].join("\n");
    expect(storageToText(storage)).toBe(
      [
        "Title",
        "First line\nsecond line with bold and a link.",
        "- one\n  - nested\n- two",
        "1. first\n2. second",
        "Port | CIDR\n22 | 10.0.0.0/8",
        'if [ $a -lt 1 ]; then\n  echo "<ok> &amp;"\nfi',
        "  keep   this\n  layout",
        "the IAM standard applies.",
        "2 < 3 and 5 > 4",
      ].join("\n\n"),
    );
  });

  it("survives malformed input", () => {
    expect(storageToText("<p>unterminated <b")).toBe("unterminated");
    expect(storageToText("<![CDATA[open")).toBe("open");
    expect(storageToText("<!-- open")).toBe("");
    expect(storageToText("")).toBe("");
    expect(storageToText('<p title="a > b">x</p>')).toBe("x");
  });
});

describe("links", () => {
  it("finds URLs without trailing punctuation", () => {
    expect(
      findUrls("PR (https://github.com/a/b/pull/1), see https://x.example/p?q=1. Done").map(
        (match) => match.url,
      ),
    ).toEqual(["https://github.com/a/b/pull/1", "https://x.example/p?q=1"]);
  });

  it("classifies GitHub pull requests and other web links", () => {
    expect(linkForUrl("https://github.com/zyx-bank/platform-infra/pull/991/files#diff")).toEqual({
      type: "pull_request",
      url: "https://github.com/zyx-bank/platform-infra/pull/991",
      title: "zyx-bank/platform-infra#991",
    });
    expect(linkForUrl("https://github.com/zyx-bank/platform-infra/issues/5")).toEqual({
      type: "web",
      url: "https://github.com/zyx-bank/platform-infra/issues/5",
      title: "github.com",
    });
    expect(linkForUrl("https://github.com.evil.example/a/b/pull/1")?.type).toBe("web");
    expect(linkForUrl("ftp://x.example/a")).toBeUndefined();
    expect(
      linksForUrls([
        "https://github.com/a/b/pull/1",
        "https://github.com/a/b/pull/1/commits",
        "https://x.example",
      ]).map((link) => link.url),
    ).toEqual(["https://github.com/a/b/pull/1", "https://x.example"]);
  });
});

describe("CQL", () => {
  it("quotes and escapes values", () => {
    expect(cqlString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(pageCql({ space: "SEC" })).toBe('type = page AND space = "SEC"');
    expect(pageCql({ space: "SEC", label: "security-standard" })).toBe(
      'type = page AND space = "SEC" AND label = "security-standard"',
    );
  });
});

describe("Retry-After and error bodies", () => {
  it("parses delta-seconds and HTTP dates", () => {
    const now = Date.parse("2026-05-22T03:00:00Z");
    expect(parseRetryAfter("2", now)).toBe(2_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("Fri, 22 May 2026 03:00:05 GMT", now)).toBe(5_000);
    expect(parseRetryAfter("Fri, 22 May 2026 02:59:00 GMT", now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter("-1", now)).toBeUndefined();
    expect(parseRetryAfter("1.5", now)).toBeUndefined();
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });

  it("reads Jira and Confluence error bodies", () => {
    expect(
      atlassianErrorText(
        '{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}',
      ),
    ).toBe("Issue does not exist or you do not have permission to see it.");
    expect(
      atlassianErrorText(
        '{"errorMessages":[],"errors":{"comment":"Comment body can not be empty!"}}',
      ),
    ).toBe("comment: Comment body can not be empty!");
    expect(
      atlassianErrorText('{"statusCode":400,"data":{},"message":"Could not parse cql : x"}'),
    ).toBe("Could not parse cql : x");
    expect(atlassianErrorText("<html><body>Oops</body></html>")).toBe("");
    expect(atlassianErrorText("Client must be authenticated to access this resource.")).toBe(
      "Client must be authenticated to access this resource.",
    );
  });
});

describe("configuration", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "atlassian-config-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("accepts https site roots and loopback http only", () => {
    expect(normalizeBaseUrl("https://zyx-bank.atlassian.net/", "X")).toBe(
      "https://zyx-bank.atlassian.net",
    );
    expect(normalizeBaseUrl("https://zyx-bank.atlassian.net/wiki/", "X", "/wiki")).toBe(
      "https://zyx-bank.atlassian.net",
    );
    expect(normalizeBaseUrl("http://127.0.0.1:8080", "X")).toBe("http://127.0.0.1:8080");
    expect(() => normalizeBaseUrl("http://zyx-bank.atlassian.net", "JIRA_BASE_URL")).toThrow(
      /JIRA_BASE_URL must be an https/,
    );
    expect(() => normalizeBaseUrl("https://me:pw@zyx.atlassian.net", "X")).toThrow(/credentials/);
    expect(() => normalizeBaseUrl("https://zyx.atlassian.net/?a=1", "X")).toThrow(/query/);
    expect(() => normalizeBaseUrl("not a url", "X")).toThrow(/X is not a URL/);
  });

  it("reads a token from a file, and refuses ambiguity or an empty file", () => {
    const file = join(dir, "token");
    writeFileSync(file, "file-token-123\n");
    expect(readApiToken({ T_FILE: file }, "T", "T_FILE")).toBe("file-token-123");
    expect(readApiToken({ T: "env-token" }, "T", "T_FILE")).toBe("env-token");
    expect(readApiToken({}, "T", "T_FILE")).toBeUndefined();
    expect(() => readApiToken({ T: "a", T_FILE: file }, "T", "T_FILE")).toThrow(/not both/);
    writeFileSync(join(dir, "empty"), "\n");
    expect(() => readApiToken({ T_FILE: join(dir, "empty") }, "T", "T_FILE")).toThrow(/empty/);
    expect(() => readApiToken({ T_FILE: join(dir, "missing") }, "T", "T_FILE")).toThrow(
      /cannot read the file named by T_FILE \(ENOENT\)/,
    );
  });
});

describe("Atlassian HTTP client", () => {
  const EMAIL = "bot@zyxbank.example";
  const TOKEN = "http-test-token-abcdef";
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

  function client(baseUrl: string, extra: { retries?: number; maxResponseBytes?: number } = {}) {
    return createAtlassianHttp({
      connector: "jira",
      baseUrl,
      email: EMAIL,
      apiToken: TOKEN,
      timeoutMs: 1_000,
      retries: extra.retries ?? 2,
      minBackoffMs: 5,
      maxBackoffMs: 10,
      ...(extra.maxResponseBytes === undefined ? {} : { maxResponseBytes: extra.maxResponseBytes }),
    });
  }

  it("sends Basic credentials and JSON", async () => {
    site.script({ status: 200, body: { ok: true } });
    await expect(
      client(site.baseUrl).request({ method: "POST", path: "/x", body: { a: 1 } }),
    ).resolves.toEqual({ ok: true });
    const [request] = site.requests;
    expect(request?.authorization).toBe(basicAuthorization(EMAIL, TOKEN));
    expect(request?.authorization).toBe(
      `Basic ${Buffer.from(`${EMAIL}:${TOKEN}`).toString("base64")}`,
    );
    expect(request?.contentType).toBe("application/json");
    expect(request?.body).toBe('{"a":1}');
  });

  it("maps a refused connection to connector_unavailable after the retries", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const error = await failure(
      client(`http://127.0.0.1:${port}`).request({ method: "GET", path: "/rest/api/3/myself" }),
    );
    expect(error.code).toBe("connector_unavailable");
    expect(error.message).toMatch(/network failure \(ECONNREFUSED\)/);
  });

  it("does not follow redirects", async () => {
    site.script({ status: 302, headers: { location: "https://elsewhere.example/" } });
    const error = await failure(client(site.baseUrl).request({ method: "GET", path: "/x" }));
    expect(error.code).toBe("connector_bad_response");
    expect(site.requests).toHaveLength(1);
  });

  it("refuses an answer larger than the cap", async () => {
    site.script({ status: 200, body: { big: "x".repeat(5_000) } });
    const error = await failure(
      client(site.baseUrl, { maxResponseBytes: 1_000 }).request({ method: "GET", path: "/x" }),
    );
    expect(error.code).toBe("connector_bad_response");
    expect(error.message).toMatch(/larger than 1000 bytes/);
  });

  it("never repeats the credential, even when the system echoes it", async () => {
    const basic = basicAuthorization(EMAIL, TOKEN);
    site.script({ status: 400, body: { errorMessages: [`bad token ${TOKEN} in ${basic}`] } });
    const error = await failure(client(site.baseUrl).request({ method: "GET", path: "/x" }));
    expect(error.code).toBe("connector_rejected");
    expect(error.message).not.toContain(TOKEN);
    expect(error.message).not.toContain(basic.slice(6));
    expect(error.message).toContain("[redacted]");
  });

  it("refuses credentials that cannot be sent in a Basic header", () => {
    const base = { connector: "jira", baseUrl: site.baseUrl } as const;
    expect(() => createAtlassianHttp({ ...base, email: "a:b@x", apiToken: TOKEN })).toThrow(
      /not an email address/,
    );
    expect(() => createAtlassianHttp({ ...base, email: EMAIL, apiToken: "a b" })).toThrow(
      /API token/,
    );
  });

  it("under the gateway's deadline: a Retry-After longer than what is left is not waited for", async () => {
    // Without a deadline this POST would be sent again after 1 s (503 is retried for writes).
    site.script(
      { status: 503, headers: { "retry-after": "1" } },
      { status: 201, body: { id: "10001" } },
    );
    const error = await failure(
      runWithDeadline(500, () =>
        client(site.baseUrl).request({ method: "POST", path: "/rest/api/3/issue/X-1/comment" }),
      ),
    );
    expect(error.code).toBe("connector_unavailable");
    expect(error.message).toMatch(/what is left before the gateway's deadline/);
    expect(site.requests).toHaveLength(1);
  });

  it("without a deadline the same Retry-After is waited for and the POST sent again", async () => {
    site.script(
      { status: 503, headers: { "retry-after": "1" } },
      { status: 201, body: { id: "10001" } },
    );
    await expect(
      client(site.baseUrl).request({ method: "POST", path: "/rest/api/3/issue/X-1/comment" }),
    ).resolves.toEqual({ id: "10001" });
    expect(site.requests).toHaveLength(2);
  });

  it("under the gateway's deadline: a request in flight is aborted when it passes", async () => {
    site.script({ status: 201, body: { id: "10001" }, delayMs: 5_000 });
    const error = await failure(
      runWithDeadline(200, () =>
        client(site.baseUrl).request({ method: "POST", path: "/rest/api/3/issue/X-1/comment" }),
      ),
    );
    expect(error.code).toBe("connector_timeout");
    expect(error.message).toMatch(/gateway's deadline/);
    expect(site.requests).toHaveLength(1);
  });

  it("under the gateway's deadline: no retry starts after it", async () => {
    // A read is retried on 500; each answer takes 150 ms, the deadline is 250 ms away.
    site.script(
      { status: 500, delayMs: 150 },
      { status: 500, delayMs: 150 },
      { status: 500, delayMs: 150 },
    );
    const error = await failure(
      runWithDeadline(250, () => client(site.baseUrl).request({ method: "GET", path: "/x" })),
    );
    expect(["connector_timeout", "connector_unavailable"]).toContain(error.code);
    expect(site.requests.length).toBeLessThanOrEqual(2);
  });

  it("reads an empty 2xx answer as null", async () => {
    site.script({ status: 204 });
    await expect(client(site.baseUrl).request({ method: "GET", path: "/x" })).resolves.toBeNull();
  });
});
