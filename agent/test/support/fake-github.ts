// A local stand-in for GitHub's REST API, for tests and offline demos of the real adapter. It
// serves the fixture data (fixture-data.ts) the way api.github.com does:
//
//   GET /repos/{owner}/{repo}/pulls/{pull_number}
//   GET /repos/{owner}/{repo}/pulls/{pull_number}/files?per_page=&page=
//   GET /repositories/{repository_id}/pulls/{pull_number}/files?per_page=&page=  (Link targets)
//
// - Authorization: "token T" or "Bearer T". A wrong token is 401 "Bad credentials"; no
//   credentials at all is 404, as GitHub answers for a private repository.
// - No User-Agent is 403, as GitHub does.
// - Owner and repository names match case-insensitively; per_page is capped at 100; pages carry
//   GitHub's Link header (rel="next", "last", "first", "prev") and x-ratelimit-* headers.
// - Errors use GitHub's body: {"message","documentation_url","status"}.
// - `fault()` queues failures for the next requests: a status with headers and body, a delay, a
//   non-JSON body, or a hang (no answer until close()).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  loadGitHubFixtures,
  fixtureKey,
  type PullFixture,
} from "../../src/connectors/github/fixture-data.ts";

export interface GitHubFault {
  status?: number;
  headers?: Record<string, string>;
  /** JSON body; defaults to GitHub's error body for the status. */
  body?: unknown;
  /** Sent as is with this content type instead of JSON. */
  raw?: { contentType: string; text: string };
  /** Answer after this many milliseconds (the normal answer when no status is given). */
  delayMs?: number;
  /** Never answer (until close()). */
  hang?: boolean;
  /** How many requests this fault answers (default 1; Infinity for all). */
  times?: number;
}

export interface RecordedGitHubRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
  apiVersion: string | undefined;
  at: number;
}

export interface FakeGitHubServer {
  url: string;
  requests: RecordedGitHubRequest[];
  fault(fault: GitHubFault): void;
  /** Drops the queued faults and the recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

export interface FakeGitHubOptions {
  /** The token the server accepts. */
  token: string;
  /** Fixture directory; defaults to agent/fixtures/github. */
  dir?: string;
}

const DOCS = {
  getPull: "https://docs.github.com/rest/pulls/pulls#get-a-pull-request",
  listFiles: "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files",
  root: "https://docs.github.com/rest",
};

const STATUS_MESSAGES: Record<number, string> = {
  400: "Bad Request",
  401: "Bad credentials",
  403: "Resource not accessible by integration",
  404: "Not Found",
  422: "Validation Failed",
  429: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
  500: "Server Error",
  502: "Server Error",
  503: "Service Unavailable",
};

function errorBody(status: number, documentationUrl: string): Record<string, string> {
  return {
    message: STATUS_MESSAGES[status] ?? "Error",
    documentation_url: documentationUrl,
    status: String(status),
  };
}

export async function startFakeGitHubServer(options: FakeGitHubOptions): Promise<FakeGitHubServer> {
  const fixtures: Map<string, PullFixture> = await loadGitHubFixtures(options.dir);
  const byRepositoryId = new Map<string, string>();
  for (const fixture of fixtures.values()) {
    const base = fixture.pull["base"] as { repo: { id: number } };
    byRepositoryId.set(String(base.repo.id), fixture.repository);
  }
  const faults: GitHubFault[] = [];
  const requests: RecordedGitHubRequest[] = [];
  let remaining = 5000;

  function send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "x-github-media-type": "github.v3; format=json",
      "x-github-request-id": `FAKE:${requests.length}`,
      ...headers,
    });
    res.end(text);
  }

  function rateHeaders(): Record<string, string> {
    remaining = Math.max(0, remaining - 1);
    return {
      "x-ratelimit-limit": "5000",
      "x-ratelimit-remaining": String(remaining),
      "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 3600),
      "x-ratelimit-used": String(5000 - remaining),
      "x-ratelimit-resource": "core",
    };
  }

  function handle(req: IncomingMessage, res: ServerResponse, origin: string): void {
    const url = new URL(req.url ?? "/", origin);
    requests.push({
      method: req.method ?? "",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.authorization,
      apiVersion: req.headers["x-github-api-version"] as string | undefined,
      at: Date.now(),
    });

    const fault = faults[0];
    if (fault !== undefined) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.shift();
      if (fault.hang) return;
      const answer = (): void => {
        if (fault.status === undefined) {
          route(req, res, url, origin);
        } else if (fault.raw) {
          res.writeHead(fault.status, { "content-type": fault.raw.contentType, ...fault.headers });
          res.end(fault.raw.text);
        } else {
          send(res, fault.status, fault.body ?? errorBody(fault.status, DOCS.root), fault.headers);
        }
      };
      if (fault.delayMs === undefined) answer();
      else setTimeout(answer, fault.delayMs);
      return;
    }
    route(req, res, url, origin);
  }

  function route(req: IncomingMessage, res: ServerResponse, url: URL, origin: string): void {
    const byName = /^\/repos\/([^/]+)\/([^/]+)\/pulls\/(\d+)(\/files)?$/.exec(url.pathname);
    const byId = /^\/repositories\/(\d+)\/pulls\/(\d+)\/files$/.exec(url.pathname);
    const docs = byId !== null || byName?.[4] !== undefined ? DOCS.listFiles : DOCS.getPull;

    if (!req.headers["user-agent"]) {
      send(res, 403, {
        message:
          "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).",
        documentation_url: DOCS.root,
        status: "403",
      });
      return;
    }
    const authorization = req.headers.authorization;
    const match = /^(?:token|bearer) +(\S+)$/i.exec(authorization ?? "");
    if (authorization !== undefined && match?.[1] !== options.token) {
      send(res, 401, errorBody(401, DOCS.root));
      return;
    }
    let repository: string | undefined;
    let number: number | undefined;
    if (byName?.[1] !== undefined && byName[2] !== undefined && byName[3] !== undefined) {
      repository = `${decodeURIComponent(byName[1])}/${decodeURIComponent(byName[2])}`;
      number = Number(byName[3]);
    } else if (byId?.[1] !== undefined && byId[2] !== undefined) {
      repository = byRepositoryId.get(byId[1]);
      number = Number(byId[2]);
    }
    const fixture =
      repository === undefined || number === undefined || req.method !== "GET"
        ? undefined
        : fixtures.get(fixtureKey(repository, number));
    // Without credentials a private repository does not exist, as on GitHub.
    if (fixture === undefined || authorization === undefined) {
      send(res, 404, errorBody(404, docs));
      return;
    }
    if (byName !== null && byName[4] === undefined) {
      send(res, 200, fixture.pull, rateHeaders());
      return;
    }
    const perPage = Math.min(
      100,
      Math.max(1, Number(url.searchParams.get("per_page") ?? 30) || 30),
    );
    const page = Math.max(1, Number(url.searchParams.get("page") ?? 1) || 1);
    const last = Math.max(1, Math.ceil(fixture.files.length / perPage));
    const items = fixture.files.slice((page - 1) * perPage, page * perPage);
    const base = fixture.pull["base"] as { repo: { id: number } };
    const link = (p: number, rel: string): string =>
      `<${origin}/repositories/${base.repo.id}/pulls/${fixture.pull["number"] as number}/files?per_page=${perPage}&page=${p}>; rel="${rel}"`;
    const links: string[] = [];
    if (page > 1) links.push(link(page - 1, "prev"));
    if (page < last) links.push(link(page + 1, "next"), link(last, "last"));
    if (page > 1) links.push(link(1, "first"));
    send(res, 200, items, {
      ...rateHeaders(),
      ...(links.length ? { link: links.join(", ") } : {}),
    });
  }

  const server = createServer((req, res) => {
    handle(req, res, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    fault(fault) {
      faults.push({ ...fault });
    },
    reset() {
      faults.length = 0;
      requests.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
      });
    },
  };
}
