// The GitHub connector: one contract suite over both adapters (fixtures, and Octokit against a
// local fake of GitHub's REST API serving the same data), then what only the real adapter does:
// auth, error mapping, rate limits, retries, timeouts, pagination, and the environment factory.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  MAX_FILES,
  PATCH_TRUNCATED_MARKER,
  createGitHubFixtures,
  createGitHubFromEnv,
  createGitHubRest,
  type GitHubRestOptions,
} from "../../src/connectors/github/index.ts";
import { startFakeGitHubServer, type FakeGitHubServer } from "../support/fake-github.ts";
import { countChanges, loadGitHubFixtures } from "../../src/connectors/github/fixture-data.ts";
import { parseRetryAfter, rateLimitWaitMs } from "../../src/connectors/github/rate-limit.ts";
import {
  ConnectorError,
  type ConnectorErrorCode,
  type GitHubPort,
  type PullRequest,
} from "../../src/connectors/port.ts";

const TOKEN = "ghs_FakeInstallationToken0123456789abcdef";
const REPO = "zyx-bank/platform-infra";

interface Harness {
  port: GitHubPort;
  close(): Promise<void>;
}
type Limits = Pick<GitHubRestOptions, "maxFiles" | "maxPatchBytes">;
type Make = (limits?: Limits) => Promise<Harness>;

const makeFixtures: Make = (limits = {}) =>
  Promise.resolve({ port: createGitHubFixtures(limits), close: () => Promise.resolve() });

const makeRealAgainstLocalServer: Make = async (limits = {}) => {
  const server = await startFakeGitHubServer({ token: TOKEN });
  const port = createGitHubRest({
    baseUrl: server.url,
    token: TOKEN,
    timeoutMs: 2_000,
    retries: 1,
    retryBaseDelayMs: 1,
    ...limits,
  });
  return { port, close: () => server.close() };
};

async function failure(promise: Promise<unknown>): Promise<ConnectorError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectorError);
    return error as ConnectorError;
  }
  throw new Error("expected a ConnectorError, got a result");
}

async function expectCode(
  promise: Promise<unknown>,
  code: ConnectorErrorCode,
  status?: number,
): Promise<ConnectorError> {
  const error = await failure(promise);
  expect(error.connector).toBe("github");
  expect(error.code).toBe(code);
  if (status !== undefined) expect(error.status).toBe(status);
  expect(error.message).not.toContain(TOKEN);
  return error;
}

/** The lines a patch adds, without their "+". */
function added(pr: PullRequest, path: string): string {
  const file = pr.files.find((f) => f.path === path);
  expect(file, path).toBeDefined();
  return (file?.patch ?? "")
    .split("\n")
    .filter((line) => line.startsWith("+"))
    .map((line) => line.slice(1))
    .join("\n");
}

describe.each([
  ["fixtures", makeFixtures],
  ["real", makeRealAgainstLocalServer],
] as const)("GitHub contract: %s", (_name, make) => {
  let harness: Harness;
  let github: GitHubPort;

  beforeAll(async () => {
    harness = await make();
    github = harness.port;
  });
  afterAll(() => harness.close());

  it("reads #991: the change under review, with its metadata", async () => {
    const pr = await github.getPullRequest(REPO, 991);
    expect({ ...pr, files: undefined }).toEqual({
      repository: REPO,
      number: 991,
      title: "Add artifact bucket, deploy role policy, bastion SG rule and app log group",
      author: "dev-alice",
      state: "open",
      merged: false,
      base: "main",
      head: "feature/CHG-18422",
      body: expect.stringContaining("CHG-18422") as unknown,
      files: undefined,
    });
    expect(pr.files.map((f) => [f.path, f.status])).toEqual([
      ["terraform/cloudwatch.tf", "added"],
      ["terraform/iam.tf", "modified"],
      ["terraform/s3.tf", "added"],
      ["terraform/security_group.tf", "modified"],
    ]);
    for (const file of pr.files) {
      expect(file.patch).toMatch(/^@@ -\d+(,\d+)? \+\d+(,\d+)? @@/);
      const counts = countChanges(file.patch ?? "");
      expect([file.additions, file.deletions]).toEqual([counts.additions, counts.deletions]);
    }
  });

  it("#991 carries the four findings of the walkthrough in its added lines", async () => {
    const pr = await github.getPullRequest(REPO, 991);
    const s3 = added(pr, "terraform/s3.tf");
    expect(s3).toContain('resource "aws_s3_bucket" "artifacts"');
    expect(pr.files.map((f) => f.patch).join("\n")).not.toContain(
      "aws_s3_bucket_public_access_block",
    );
    expect(added(pr, "terraform/iam.tf")).toMatch(
      /resource "aws_iam_policy"[\s\S]*Action = "s3:\*"/,
    );
    const sg = added(pr, "terraform/security_group.tf");
    expect(sg).toMatch(/from_port\s+= 22\n/);
    expect(sg).toMatch(/to_port\s+= 22\n/);
    expect(sg).toMatch(/protocol\s+= "tcp"/);
    expect(sg).toContain('["0.0.0.0/0"]');
    const logs = added(pr, "terraform/cloudwatch.tf");
    expect(logs).toContain('resource "aws_cloudwatch_log_group" "app"');
    expect(logs).not.toContain("retention_in_days");
  });

  it("#992 is the clean change", async () => {
    const pr = await github.getPullRequest(REPO, 992);
    expect([pr.author, pr.state, pr.merged, pr.head]).toEqual([
      "dev-bob",
      "open",
      false,
      "feature/CHG-18430",
    ]);
    expect(pr.body).toContain("CHG-18430");
    const s3 = added(pr, "terraform/s3.tf");
    expect(s3).toContain('resource "aws_s3_bucket_public_access_block" "reports"');
    for (const setting of [
      "block_public_acls",
      "block_public_policy",
      "ignore_public_acls",
      "restrict_public_buckets",
    ]) {
      expect(s3).toMatch(new RegExp(`${setting}\\s+= true`));
    }
    const iam = added(pr, "terraform/iam.tf");
    expect(iam).toContain('Action   = ["s3:GetObject", "s3:PutObject"]');
    expect(iam).not.toMatch(/"[a-z0-9]*:?\*"/);
    const sg = added(pr, "terraform/security_group.tf");
    expect(sg).toMatch(/from_port\s+= 443/);
    expect(sg).toContain('["10.20.0.0/16"]');
    expect(sg).not.toContain("0.0.0.0/0");
    expect(added(pr, "terraform/cloudwatch.tf")).toMatch(/retention_in_days = 90/);
  });

  it("#993 has other problems", async () => {
    const pr = await github.getPullRequest(REPO, 993);
    expect(pr.author).toBe("dev-carol");
    expect(pr.body).toContain("CHG-18431");
    const sg = added(pr, "terraform/security_group.tf");
    expect(sg).toMatch(/from_port\s+= 3389/);
    expect(sg).toContain('["0.0.0.0/0"]');
    const iam = added(pr, "terraform/iam.tf");
    expect(iam).toContain('Action   = "*"');
    expect(iam).toContain('Action   = ["iam:*"]');
    expect(added(pr, "terraform/rds.tf")).toMatch(/publicly_accessible\s+= true/);
    const ebs = added(pr, "terraform/ebs.tf");
    expect(ebs).toContain('resource "aws_ebs_volume" "jump_data"');
    expect(ebs).not.toContain("encrypted");
    expect(added(pr, "terraform/cloudwatch.tf")).toMatch(/retention_in_days = 365/);
  });

  it("#990 is merged and has a binary file without a patch", async () => {
    const pr = await github.getPullRequest(REPO, 990);
    expect([pr.state, pr.merged]).toEqual(["closed", true]);
    expect(pr.files[0]).toEqual({
      path: "docs/platform-infra.png",
      status: "added",
      additions: 0,
      deletions: 0,
      patch: null,
    });
  });

  it("matches owner and name case-insensitively, as GitHub does", async () => {
    const pr = await github.getPullRequest("ZYX-Bank/Platform-Infra", 991);
    expect(pr.repository).toBe(REPO);
    expect(pr.files).toHaveLength(4);
  });

  it("an unknown pull request or repository is connector_not_found", async () => {
    await expectCode(github.getPullRequest(REPO, 4242), "connector_not_found", 404);
    await expectCode(
      github.getPullRequest("zyx-bank/unknown-repo", 991),
      "connector_not_found",
      404,
    );
    await expectCode(
      github.getPullRequest("someone-else/platform-infra", 991),
      "connector_not_found",
    );
  });

  it("refuses a malformed repository or number before asking GitHub", async () => {
    for (const repository of ["platform-infra", "a/b/c", "zyx-bank/", "-bad/repo", "zyx-bank/.."]) {
      await expectCode(github.getPullRequest(repository, 991), "connector_rejected");
    }
    for (const number of [0, -1, 1.5, Number.NaN]) {
      await expectCode(github.getPullRequest(REPO, number), "connector_rejected");
    }
  });

  it("caps the total patch bytes, cutting at a line with a marker", async () => {
    const full = await github.getPullRequest(REPO, 993);
    const sizes = full.files.map((f) => Buffer.byteLength(f.patch ?? ""));
    // The first patch fits; the second crosses the budget halfway; the rest get none.
    const budget = (sizes[0] ?? 0) + Math.floor((sizes[1] ?? 0) / 2);
    const small = await make({ maxPatchBytes: budget });
    try {
      const pr = await small.port.getPullRequest(REPO, 993);
      const patches = pr.files.map((f) => f.patch);
      expect(patches[0]).toBe(full.files[0]?.patch);
      const cut = patches[1] ?? "";
      expect(cut.split("\n").at(-1)).toBe(`${PATCH_TRUNCATED_MARKER} ${budget} bytes`);
      expect(full.files[1]?.patch?.startsWith(cut.split("\n").slice(0, -1).join("\n"))).toBe(true);
      expect(patches.slice(2)).toEqual([null, null, null]);
      const kept = patches.map((p) => (p ?? "").replace(/\\ patch truncated.*$/, "")).join("");
      expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(budget);
      // The file list and counts stay whole.
      expect(pr.files.map((f) => [f.path, f.additions])).toEqual(
        full.files.map((f) => [f.path, f.additions]),
      );
    } finally {
      await small.close();
    }
  });

  it("returns at most maxFiles files", async () => {
    const few = await make({ maxFiles: 2 });
    try {
      const pr = await few.port.getPullRequest(REPO, 993);
      expect(pr.files.map((f) => f.path)).toEqual(["terraform/cloudwatch.tf", "terraform/ebs.tf"]);
    } finally {
      await few.close();
    }
  });
});

describe("GitHub fixtures", () => {
  it("every patch is a unified diff whose hunk headers count its lines", async () => {
    const fixtures = await loadGitHubFixtures();
    expect([...fixtures.keys()].sort()).toEqual(
      [990, 991, 992, 993].map((n) => `zyx-bank/platform-infra#${n}`),
    );
    for (const [key, fixture] of fixtures) {
      for (const file of fixture.files) {
        const patch = file["patch"];
        if (patch === undefined) continue;
        expect(typeof patch, key).toBe("string");
        const lines = (patch as string).split("\n");
        let expectOld = 0;
        let expectNew = 0;
        for (const line of lines) {
          const hunk = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
          if (hunk) {
            expect([expectOld, expectNew], `${key} ${String(file["filename"])}`).toEqual([0, 0]);
            expectOld = Number(hunk[2] ?? 1);
            expectNew = Number(hunk[4] ?? 1);
            continue;
          }
          if (line.startsWith("+")) expectNew -= 1;
          else if (line.startsWith("-")) expectOld -= 1;
          else if (line.startsWith(" ")) {
            expectOld -= 1;
            expectNew -= 1;
          } else expect(line.startsWith("\\"), `${key}: ${line}`).toBe(true);
        }
        expect([expectOld, expectNew], `${key} ${String(file["filename"])}`).toEqual([0, 0]);
        expect(lines[0]).toMatch(/^@@ /);
      }
    }
  });

  it("both adapters return the same pull requests", async () => {
    const real = await makeRealAgainstLocalServer();
    try {
      for (const number of [990, 991, 992, 993]) {
        expect(await real.port.getPullRequest(REPO, number)).toEqual(
          await createGitHubFixtures().getPullRequest(REPO, number),
        );
      }
    } finally {
      await real.close();
    }
  });
});

describe("GitHub REST adapter against a fake GitHub", () => {
  let server: FakeGitHubServer;

  beforeAll(async () => {
    server = await startFakeGitHubServer({ token: TOKEN });
  });
  afterEach(() => {
    server.reset();
  });
  afterAll(() => server.close());

  function rest(options: Partial<GitHubRestOptions> = {}): GitHubPort {
    return createGitHubRest({
      baseUrl: server.url,
      token: TOKEN,
      timeoutMs: 1_000,
      retries: 2,
      retryBaseDelayMs: 1,
      rateLimitRetries: 2,
      maxRetryAfterMs: 2_000,
      ...options,
    });
  }

  const pullRequests = (): number =>
    server.requests.filter((r) => r.path === `/repos/${REPO}/pulls/991`).length;

  it("sends GitHub's requests: the token, the API version, the paths, 100 files a page", async () => {
    await rest().getPullRequest(REPO, 991);
    expect(server.requests.map((r) => [r.method, r.path, r.query])).toEqual([
      ["GET", `/repos/${REPO}/pulls/991`, {}],
      ["GET", `/repos/${REPO}/pulls/991/files`, { per_page: "100" }],
    ]);
    for (const request of server.requests) {
      expect(request.authorization).toBe(`token ${TOKEN}`);
      expect(request.apiVersion).toBe("2022-11-28");
    }
  });

  it("follows GitHub's Link pages, and stops at maxFiles", async () => {
    const paged = await rest({ filesPerPage: 2 }).getPullRequest(REPO, 993);
    expect(paged).toEqual(await createGitHubFixtures().getPullRequest(REPO, 993));
    expect(server.requests.map((r) => r.path)).toEqual([
      `/repos/${REPO}/pulls/993`,
      `/repos/${REPO}/pulls/993/files`,
      "/repositories/812345678/pulls/993/files",
      "/repositories/812345678/pulls/993/files",
    ]);
    server.reset();
    const bounded = await rest({ filesPerPage: 1, maxFiles: 2 }).getPullRequest(REPO, 993);
    expect(bounded.files).toHaveLength(2);
    expect(server.requests).toHaveLength(3);
  });

  it("401 Bad credentials is connector_unauthorized, not retried, without the token", async () => {
    const error = await expectCode(
      rest({ token: "ghs_WrongToken" }).getPullRequest(REPO, 991),
      "connector_unauthorized",
      401,
    );
    expect(error.message).toContain("Bad credentials");
    expect(error.message).not.toContain("ghs_WrongToken");
    // The cause (Octokit's RequestError) keeps the request, with the credential redacted.
    expect(JSON.stringify(error.cause)).toContain("[REDACTED]");
    expect(JSON.stringify(error.cause)).not.toContain("ghs_WrongToken");
    expect(server.requests).toHaveLength(1);
  });

  it("403 without rate-limit headers is connector_forbidden, not retried", async () => {
    server.fault({ status: 403 });
    const error = await expectCode(rest().getPullRequest(REPO, 991), "connector_forbidden", 403);
    expect(error.message).toContain("Resource not accessible by integration");
    expect(server.requests).toHaveLength(1);
  });

  it("404 carries GitHub's message; 422 is connector_rejected", async () => {
    const error = await expectCode(rest().getPullRequest(REPO, 4242), "connector_not_found", 404);
    expect(error.message).toContain("Not Found");
    server.fault({ status: 422 });
    await expectCode(rest().getPullRequest(REPO, 991), "connector_rejected", 422);
  });

  it("429 with Retry-After: waits as told, then succeeds", async () => {
    server.fault({ status: 429, headers: { "retry-after": "1" } });
    const started = Date.now();
    const pr = await rest().getPullRequest(REPO, 991);
    expect(pr.number).toBe(991);
    expect(pullRequests()).toBe(2);
    const [first, second] = server.requests;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(1_900);
  });

  it("403 with x-ratelimit-remaining 0 waits until x-ratelimit-reset, within the cap", async () => {
    const reset = Math.floor(Date.now() / 1000) + 1;
    server.fault({
      status: 403,
      headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) },
      body: {
        message: "API rate limit exceeded for installation ID 4242.",
        documentation_url:
          "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
        status: "403",
      },
    });
    await rest().getPullRequest(REPO, 991);
    expect(pullRequests()).toBe(2);
    expect(server.requests[1]?.at ?? 0).toBeGreaterThanOrEqual(reset * 1000 - 50);
  });

  it("a rate limit longer than the cap fails at once with connector_rate_limited", async () => {
    server.fault({
      status: 403,
      headers: {
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 3600),
      },
    });
    const started = Date.now();
    const error = await expectCode(rest().getPullRequest(REPO, 991), "connector_rate_limited", 403);
    expect(error.message).toMatch(/retry after 3\d{3} s/);
    expect(Date.now() - started).toBeLessThan(500);
    expect(server.requests).toHaveLength(1);
  });

  it("429 still after the bounded waits is connector_rate_limited", async () => {
    server.fault({ status: 429, headers: { "retry-after": "0" }, times: Infinity });
    await expectCode(
      rest({ rateLimitRetries: 2 }).getPullRequest(REPO, 991),
      "connector_rate_limited",
      429,
    );
    // Two waits, then the answer: plugin-retry does not retry 429 on top.
    expect(server.requests).toHaveLength(3);
  });

  it("5xx is retried, then succeeds", async () => {
    server.fault({ status: 500, times: 1 });
    const pr = await rest().getPullRequest(REPO, 991);
    expect(pr.title).toContain("artifact bucket");
    expect(pullRequests()).toBe(2);
  });

  it("5xx forever is connector_unavailable after the bounded attempts", async () => {
    server.fault({ status: 502, times: Infinity });
    await expectCode(rest({ retries: 2 }).getPullRequest(REPO, 991), "connector_unavailable", 502);
    expect(pullRequests()).toBe(3);
  });

  it("no answer in time is connector_timeout", async () => {
    server.fault({ hang: true, times: Infinity });
    const started = Date.now();
    await expectCode(
      rest({ timeoutMs: 150, retries: 1 }).getPullRequest(REPO, 991),
      "connector_timeout",
    );
    expect(pullRequests()).toBe(2);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("an unreachable GitHub is connector_unavailable", async () => {
    const gone = await startFakeGitHubServer({ token: TOKEN });
    await gone.close();
    await expectCode(
      createGitHubRest({
        baseUrl: gone.url,
        token: TOKEN,
        retries: 1,
        retryBaseDelayMs: 1,
      }).getPullRequest(REPO, 991),
      "connector_unavailable",
    );
  });

  it("never follows a page link to another host (the token would go with it)", async () => {
    server.fault({}); // the pull request answers normally
    server.fault({
      status: 200,
      body: [],
      headers: { link: '<http://127.0.0.2:9/repositories/1/pulls/991/files?page=2>; rel="next"' },
    });
    const error = await expectCode(rest().getPullRequest(REPO, 991), "connector_bad_response");
    expect(error.message).toContain("another host");
    expect(server.requests).toHaveLength(2);
  });

  it("never follows a redirect to another host (its answer would pass for GitHub's)", async () => {
    const { createServer } = await import("node:http");
    const seen: string[] = [];
    const elsewhere = createServer((req, res) => {
      seen.push(req.url ?? "");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          number: 991,
          title: "Harmless README tweak",
          state: "open",
          user: { login: "trusted-maintainer" },
          body: "",
          base: { ref: "main", repo: { full_name: REPO } },
          head: { ref: "docs" },
        }),
      );
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    try {
      const address = elsewhere.address();
      if (address === null || typeof address === "string") throw new Error("no address");
      // The pull request's answer is a redirect to the same path on another host.
      server.fault({
        status: 302,
        headers: { location: `http://127.0.0.1:${address.port}/repos/${REPO}/pulls/991` },
        body: {},
      });
      let pr: PullRequest | undefined;
      try {
        pr = await rest().getPullRequest(REPO, 991);
      } catch (error) {
        expect(error).toBeInstanceOf(ConnectorError);
      }
      // Nothing went to the other host, and nothing it said came back as the pull request.
      expect(seen).toEqual([]);
      expect(pr?.title).not.toBe("Harmless README tweak");
    } finally {
      await new Promise<void>((resolve) =>
        elsewhere.close(() => {
          resolve();
        }),
      );
    }
  });

  it("still follows a redirect on GitHub's own origin (a renamed repository)", async () => {
    server.fault({
      status: 301,
      headers: { location: `${server.url}/repos/${REPO}/pulls/991` },
      body: {},
    });
    const pr = await rest({ retries: 0 }).getPullRequest(REPO, 991);
    expect(pr.number).toBe(991);
    expect(server.requests.filter((r) => r.path === `/repos/${REPO}/pulls/991`)).toHaveLength(2);
  });

  it("an answer that is not GitHub's JSON is connector_bad_response", async () => {
    server.fault({ status: 200, raw: { contentType: "text/html", text: "<html>proxy</html>" } });
    await expectCode(rest().getPullRequest(REPO, 991), "connector_bad_response");
    server.fault({ status: 200, body: { number: 991, title: 7 } });
    await expectCode(rest().getPullRequest(REPO, 991), "connector_bad_response");
  });
});

describe("GitHub rate-limit headers", () => {
  const now = Date.parse("2026-05-22T08:00:00Z");
  const headers =
    (values: Record<string, string>) =>
    (name: string): string | undefined =>
      values[name];

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("7", now)).toBe(7_000);
    expect(parseRetryAfter("Fri, 22 May 2026 08:00:03 GMT", now)).toBe(3_000);
    expect(parseRetryAfter("Fri, 22 May 2026 07:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it("tells a rate limit from a plain 403", () => {
    expect(rateLimitWaitMs(403, headers({}), now)).toBeUndefined();
    expect(rateLimitWaitMs(200, headers({ "retry-after": "5" }), now)).toBeUndefined();
    expect(rateLimitWaitMs(403, headers({ "retry-after": "5" }), now)).toBe(5_000);
    const reset = String(now / 1000 + 42);
    expect(
      rateLimitWaitMs(
        403,
        headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }),
        now,
      ),
    ).toBe(42_000);
    expect(
      rateLimitWaitMs(
        403,
        headers({ "x-ratelimit-remaining": "12", "x-ratelimit-reset": reset }),
        now,
      ),
    ).toBeUndefined();
    expect(rateLimitWaitMs(429, headers({}), now)).toBe(60_000);
  });
});

describe("createGitHubFromEnv", () => {
  let dir: string;
  let server: FakeGitHubServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "zyx-github-"));
    server = await startFakeGitHubServer({ token: TOKEN });
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("without configuration: the fixtures", async () => {
    const pr = await createGitHubFromEnv({}).getPullRequest(REPO, 991);
    expect(pr.author).toBe("dev-alice");
    expect(MAX_FILES).toBe(3000);
  });

  it("a URL without a token refuses at construction, naming the variable", () => {
    expect(() => createGitHubFromEnv({ GITHUB_API_URL: server.url })).toThrow(/GITHUB_TOKEN/);
    expect(() => createGitHubFromEnv({ GITHUB_API_URL: server.url, GITHUB_TOKEN: " " })).toThrow(
      /GITHUB_TOKEN/,
    );
  });

  it("refuses both token variables, an unreadable token file, and clear-text URLs", async () => {
    expect(() =>
      createGitHubFromEnv({ GITHUB_TOKEN: TOKEN, GITHUB_TOKEN_FILE: join(dir, "token") }),
    ).toThrow(/not both/);
    expect(() => createGitHubFromEnv({ GITHUB_TOKEN_FILE: join(dir, "missing") })).toThrow(
      /GITHUB_TOKEN_FILE .*ENOENT/,
    );
    await writeFile(join(dir, "empty"), "\n");
    expect(() => createGitHubFromEnv({ GITHUB_TOKEN_FILE: join(dir, "empty") })).toThrow(
      /the file named by GITHUB_TOKEN_FILE is empty/,
    );
    expect(() =>
      createGitHubFromEnv({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: "http://github.example.com" }),
    ).toThrow(/GITHUB_API_URL must be an https URL/);
    expect(() => createGitHubFromEnv({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: "not a url" })).toThrow(
      /GITHUB_API_URL is not a valid URL/,
    );
  });

  it("a token (or token file) and a URL: the real adapter", async () => {
    await writeFile(join(dir, "token"), `${TOKEN}\n`);
    for (const env of [
      { GITHUB_TOKEN: TOKEN, GITHUB_API_URL: server.url },
      { GITHUB_TOKEN_FILE: join(dir, "token"), GITHUB_API_URL: server.url },
    ]) {
      server.reset();
      const pr = await createGitHubFromEnv(env).getPullRequest(REPO, 992);
      expect(pr.author).toBe("dev-bob");
      expect(server.requests[0]?.authorization).toBe(`token ${TOKEN}`);
    }
  });

  it("a token alone: the real adapter on https://api.github.com", async () => {
    const urls: string[] = [];
    const fetchStub: typeof fetch = (input) => {
      urls.push(input instanceof Request ? input.url : String(input));
      return Promise.resolve(
        Response.json(
          {
            message: "Not Found",
            documentation_url: "https://docs.github.com/rest/pulls/pulls#get-a-pull-request",
            status: "404",
          },
          { status: 404 },
        ),
      );
    };
    await expectCode(
      createGitHubFromEnv({ GITHUB_TOKEN: TOKEN }, { fetch: fetchStub }).getPullRequest(REPO, 991),
      "connector_not_found",
      404,
    );
    expect(urls).toEqual([`https://api.github.com/repos/${REPO}/pulls/991`]);
  });
});
