// The Slack connector: one contract suite over both adapters (fixtures writing to a JSON Lines
// file, and @slack/web-api against a local fake of Slack's Web API with the same workspace), then
// what only the real adapter does: auth, error mapping, rate limits, retries, timeouts, and the
// environment factory.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ConnectorError,
  type ConnectorErrorCode,
  type SlackPort,
} from "../../src/connectors/port.ts";
import { startFakeSlackServer, type FakeSlackServer } from "../support/fake-slack.ts";
import { callDeadline, runWithDeadline } from "../../src/connectors/deadline.ts";
import {
  createSlackFixtures,
  createSlackFromEnv,
  createSlackWebApi,
  type SlackWebApiOptions,
} from "../../src/connectors/slack/index.ts";

const TOKEN = "xoxb-1111111111-2222222222222-FakeBotToken0123456789";
const CHANNEL = "devsecops-change-review";
const CHANNEL_ID = "C07DEVSECOPS";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "zyx-slack-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

interface Harness {
  port: SlackPort;
  /** What reached "Slack": channel ID and text, in order. */
  sent(): Promise<{ channel: string; ts: string; text: string }[]>;
  close(): Promise<void>;
}

let harnesses = 0;
async function readWrites(path: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function makeFixtures(): Promise<Harness> {
  harnesses += 1;
  const writesPath = join(dir, `writes-${harnesses}`, "fixture-writes.jsonl");
  return Promise.resolve({
    port: createSlackFixtures({ writesPath }),
    // The messages still there: posted, less those deleted since.
    sent: async () => {
      const lines = await readWrites(writesPath);
      const gone = new Set(
        lines.filter((l) => l["action"] === "delete_message").map((l) => String(l["ts"])),
      );
      return lines
        .filter((l) => l["action"] === "post_message" && !gone.has(String(l["ts"])))
        .map((line) => ({
          channel: line["channel"] as string,
          ts: line["ts"] as string,
          text: line["text"] as string,
        }));
    },
    close: () => Promise.resolve(),
  });
}

async function makeRealAgainstLocalServer(): Promise<Harness> {
  const server = await startFakeSlackServer({ token: TOKEN });
  return {
    port: createSlackWebApi({
      apiUrl: server.url,
      token: TOKEN,
      timeoutMs: 2_000,
      retries: 1,
      retryBaseDelayMs: 1,
    }),
    sent: () => Promise.resolve([...server.messages]),
    close: () => server.close(),
  };
}

async function expectCode(
  promise: Promise<unknown>,
  code: ConnectorErrorCode,
  status?: number,
): Promise<ConnectorError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConnectorError);
  const error = caught as ConnectorError;
  expect(error.connector).toBe("slack");
  expect(error.code).toBe(code);
  if (status !== undefined) expect(error.status).toBe(status);
  expect(error.message).not.toContain(TOKEN);
  return error;
}

const TS = /^\d{10}\.\d{6}$/;

describe.each([
  ["fixtures", makeFixtures],
  ["real", makeRealAgainstLocalServer],
] as const)("Slack contract: %s", (_name, make) => {
  let harness: Harness;

  beforeEach(async () => {
    harness = await make();
  });
  afterEach(() => harness.close());

  it("posts to a channel by name and answers with its ID and the message ts", async () => {
    const result = await harness.port.postMessage(
      CHANNEL,
      "CHG-18422 requires Cloud Security review",
    );
    expect(result.channel).toBe(CHANNEL_ID);
    expect(result.ts).toMatch(TS);
    expect(await harness.sent()).toEqual([
      { channel: CHANNEL_ID, ts: result.ts, text: "CHG-18422 requires Cloud Security review" },
    ]);
  });

  it("deletes a message it posted, by channel ID and ts, once", async () => {
    const kept = await harness.port.postMessage(CHANNEL, "kept");
    const posted = await harness.port.postMessage(CHANNEL, "posted at 03:00");
    expect(await harness.port.deleteMessage(posted.channel, posted.ts)).toEqual({
      channel: CHANNEL_ID,
      ts: posted.ts,
    });
    expect(await harness.sent()).toEqual([{ channel: CHANNEL_ID, ts: kept.ts, text: "kept" }]);
    const again = await expectCode(
      harness.port.deleteMessage(posted.channel, posted.ts),
      "connector_not_found",
    );
    expect(again.message).toContain("message_not_found");
  });

  it("deleting a message it never posted is connector_not_found, and nothing changes", async () => {
    const kept = await harness.port.postMessage(CHANNEL, "kept");
    await expectCode(
      harness.port.deleteMessage(CHANNEL_ID, "1000000000.000100"),
      "connector_not_found",
    );
    await expectCode(harness.port.deleteMessage("C00NOSUCHCH", kept.ts), "connector_not_found");
    expect((await harness.sent()).map((m) => m.ts)).toEqual([kept.ts]);
  });

  it("gives each message a new, increasing ts", async () => {
    const first = await harness.port.postMessage(CHANNEL, "one");
    const second = await harness.port.postMessage(CHANNEL, "two");
    const third = await harness.port.postMessage(`#${CHANNEL}`, "three");
    expect(Number(second.ts)).toBeGreaterThan(Number(first.ts));
    expect(Number(third.ts)).toBeGreaterThan(Number(second.ts));
    expect((await harness.sent()).map((m) => m.text)).toEqual(["one", "two", "three"]);
  });

  it("sends the text as plain text: no @channel, no disguised links", async () => {
    await harness.port.postMessage(
      CHANNEL,
      "<!channel> see <https://evil.example|the fix> & approve",
    );
    expect((await harness.sent())[0]?.text).toBe(
      "&lt;!channel&gt; see &lt;https://evil.example|the fix&gt; &amp; approve",
    );
  });

  it("an unknown channel is connector_not_found, and nothing is posted", async () => {
    const error = await expectCode(
      harness.port.postMessage("no-such-channel", "hello"),
      "connector_not_found",
    );
    expect(error.message).toContain("channel_not_found");
    expect(await harness.sent()).toEqual([]);
  });

  it("a channel the bot is not in is connector_forbidden", async () => {
    const error = await expectCode(
      harness.port.postMessage("general", "hello"),
      "connector_forbidden",
    );
    expect(error.message).toContain("not_in_channel");
    expect(await harness.sent()).toEqual([]);
  });

  it("an empty text is connector_rejected", async () => {
    const error = await expectCode(harness.port.postMessage(CHANNEL, "  "), "connector_rejected");
    expect(error.message).toContain("no_text");
    await expectCode(harness.port.postMessage("", "hello"), "connector_rejected");
    expect(await harness.sent()).toEqual([]);
  });
});

describe("Slack fixtures", () => {
  it("appends each message to the writes file as one JSON line", async () => {
    const writesPath = join(dir, "lines", "writes.jsonl");
    const now = Date.parse("2026-05-22T08:00:00Z");
    const slack = createSlackFixtures({ writesPath, now: () => now });
    const first = await slack.postMessage(CHANNEL, "first");
    const second = await slack.postMessage(CHANNEL, "second");
    expect([first.ts, second.ts]).toEqual(["1779436800.000000", "1779436800.000100"]);
    const lines = await readWrites(writesPath);
    expect(lines).toEqual([
      {
        time: expect.any(String) as unknown,
        connector: "slack",
        action: "post_message",
        channel: CHANNEL_ID,
        channel_name: CHANNEL,
        ts: first.ts,
        text: "first",
      },
      expect.objectContaining({ ts: second.ts, text: "second" }) as unknown,
    ]);
    expect(Number.isNaN(Date.parse(String(lines[0]?.["time"])))).toBe(false);
  });

  it("a writes file that cannot be written is connector_unavailable", async () => {
    const blocker = join(dir, "blocker");
    await writeFile(blocker, "a file, not a directory");
    await expectCode(
      createSlackFixtures({ writesPath: join(blocker, "writes.jsonl") }).postMessage(CHANNEL, "x"),
      "connector_unavailable",
    );
  });
});

describe("Slack Web API adapter against a fake Slack", () => {
  let server: FakeSlackServer;

  beforeAll(async () => {
    server = await startFakeSlackServer({ token: TOKEN });
  });
  afterEach(() => {
    server.reset();
  });
  afterAll(() => server.close());

  function web(options: Partial<SlackWebApiOptions> = {}): SlackPort {
    return createSlackWebApi({
      apiUrl: server.url,
      token: TOKEN,
      timeoutMs: 1_000,
      retries: 2,
      retryBaseDelayMs: 1,
      rateLimitRetries: 2,
      maxRetryAfterMs: 2_000,
      ...options,
    });
  }

  it("each of 120 concurrent posts reaches the network under its own call's deadline", async () => {
    // Slack's client queues requests past its concurrency; a queued one must not start in the
    // context (and under the deadline) of the request whose end released it.
    const deadlines = new Map<string, AbortSignal>();
    const mismatched: string[] = [];
    const watching: typeof fetch = async (input, init) => {
      const body = typeof init?.body === "string" ? init.body : "";
      const text = new URLSearchParams(body).get("text") ?? "";
      if (callDeadline() !== deadlines.get(text)) mismatched.push(text);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return fetch(input, init);
    };
    const port = web({ fetch: watching });
    await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        runWithDeadline(5_000 + i, async (mine) => {
          deadlines.set(`message ${String(i)}`, mine);
          await port.postMessage(CHANNEL, `message ${String(i)}`);
        }),
      ),
    );
    expect(server.requests).toHaveLength(120);
    expect(mismatched).toEqual([]);
  });

  it("sends chat.postMessage as the SDK does: POST, Bearer token, form-encoded, #name", async () => {
    await web().postMessage(CHANNEL, "hello");
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/api/chat.postMessage");
    expect(request?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request?.contentType).toBe("application/x-www-form-urlencoded");
    expect(request?.params).toEqual({
      channel: `#${CHANNEL}`,
      text: "hello",
      unfurl_links: "false",
      unfurl_media: "false",
    });
  });

  it("invalid_auth is connector_unauthorized, without the token", async () => {
    const wrong = "xoxb-0000-WrongToken";
    const error = await expectCode(
      web({ token: wrong }).postMessage(CHANNEL, "hello"),
      "connector_unauthorized",
    );
    expect(error.message).toContain("invalid_auth");
    expect(error.message).not.toContain(wrong);
    expect(server.requests).toHaveLength(1);
  });

  it("missing_scope is connector_forbidden", async () => {
    const narrow = await startFakeSlackServer({ token: TOKEN, scopes: ["channels:read"] });
    try {
      const error = await expectCode(
        createSlackWebApi({ apiUrl: narrow.url, token: TOKEN }).postMessage(CHANNEL, "hello"),
        "connector_forbidden",
      );
      expect(error.message).toContain("missing_scope");
    } finally {
      await narrow.close();
    }
  });

  it("other Slack errors are connector_rejected", async () => {
    server.fault({ status: 200, body: { ok: false, error: "is_archived" } });
    await expectCode(web().postMessage(CHANNEL, "hello"), "connector_rejected");
  });

  it("429 with Retry-After: waits as told, then posts once", async () => {
    server.fault({ status: 429, headers: { "retry-after": "1" } });
    const result = await web().postMessage(CHANNEL, "after the limit");
    expect(result.channel).toBe(CHANNEL_ID);
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect(server.messages.map((m) => m.text)).toEqual(["after the limit"]);
  });

  it("a Retry-After beyond the cap fails at once with connector_rate_limited", async () => {
    server.fault({ status: 429, headers: { "retry-after": "30" } });
    const started = Date.now();
    const error = await expectCode(web().postMessage(CHANNEL, "x"), "connector_rate_limited", 429);
    expect(error.message).toContain("retry after 30 s");
    expect(Date.now() - started).toBeLessThan(500);
    expect(server.requests).toHaveLength(1);
  });

  it("429 still after the bounded waits is connector_rate_limited", async () => {
    server.fault({ status: 429, headers: { "retry-after": "0" }, times: Infinity });
    await expectCode(
      web({ rateLimitRetries: 2 }).postMessage(CHANNEL, "x"),
      "connector_rate_limited",
    );
    expect(server.requests).toHaveLength(3);
    expect(server.messages).toEqual([]);
  });

  it("5xx is retried, then posts once", async () => {
    server.fault({ status: 503 });
    await web().postMessage(CHANNEL, "after a 503");
    expect(server.requests).toHaveLength(2);
    expect(server.messages).toHaveLength(1);
  });

  it("503 forever is connector_unavailable after the bounded attempts", async () => {
    server.fault({ status: 503, times: Infinity });
    await expectCode(web({ retries: 2 }).postMessage(CHANNEL, "x"), "connector_unavailable", 503);
    expect(server.requests).toHaveLength(3);
  });

  it.each([
    ["a 500 after posting", { status: 500, applied: true }, 500],
    ["a 502 after posting", { status: 502, applied: true }, 502],
    ["a connection lost after posting", { drop: true, applied: true }, undefined],
  ])(
    "%s is connector_unavailable, and the message is not posted twice",
    async (_, fault, status) => {
      server.fault(fault);
      const error = await expectCode(
        web({ retries: 2 }).postMessage(CHANNEL, "x"),
        "connector_unavailable",
        status,
      );
      expect(error.message).toMatch(/Slack/);
      expect(server.requests).toHaveLength(1);
      expect(server.messages).toHaveLength(1); // Slack's one, which the review must look for by hand
    },
  );

  it("no answer in time is connector_timeout, and the post is not sent twice", async () => {
    server.fault({ hang: true, times: Infinity });
    const started = Date.now();
    await expectCode(
      web({ timeoutMs: 150, retries: 2 }).postMessage(CHANNEL, "x"),
      "connector_timeout",
    );
    expect(server.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("an unreachable Slack is connector_unavailable", async () => {
    const gone = await startFakeSlackServer({ token: TOKEN });
    await gone.close();
    await expectCode(
      createSlackWebApi({
        apiUrl: gone.url,
        token: TOKEN,
        retries: 1,
        retryBaseDelayMs: 1,
      }).postMessage(CHANNEL, "x"),
      "connector_unavailable",
    );
  });

  it("an answer that is not Slack's JSON is connector_bad_response", async () => {
    server.fault({ status: 200, raw: { contentType: "text/html", text: "<html>proxy</html>" } });
    await expectCode(web().postMessage(CHANNEL, "x"), "connector_bad_response");
    server.fault({ status: 200, body: { ok: true, channel: CHANNEL_ID } });
    await expectCode(web().postMessage(CHANNEL, "x"), "connector_bad_response");
  });
});

describe("createSlackFromEnv", () => {
  let server: FakeSlackServer;

  beforeAll(async () => {
    server = await startFakeSlackServer({ token: TOKEN });
  });
  afterAll(() => server.close());

  it("without configuration: the fixtures, writing to ZYX_FIXTURE_WRITES", async () => {
    const writesPath = join(dir, "env", "writes.jsonl");
    const result = await createSlackFromEnv({ ZYX_FIXTURE_WRITES: writesPath }).postMessage(
      CHANNEL,
      "from env",
    );
    expect(result.channel).toBe(CHANNEL_ID);
    expect((await readWrites(writesPath)).map((line) => line["text"])).toEqual(["from env"]);
  });

  it("a URL without a token refuses at construction, naming the variable", () => {
    expect(() => createSlackFromEnv({ SLACK_API_URL: server.url })).toThrow(/SLACK_BOT_TOKEN/);
  });

  it("refuses both token variables, an unreadable token file, and clear-text URLs", () => {
    expect(() =>
      createSlackFromEnv({ SLACK_BOT_TOKEN: TOKEN, SLACK_BOT_TOKEN_FILE: join(dir, "t") }),
    ).toThrow(/not both/);
    expect(() => createSlackFromEnv({ SLACK_BOT_TOKEN_FILE: join(dir, "missing") })).toThrow(
      /SLACK_BOT_TOKEN_FILE .*ENOENT/,
    );
    expect(() =>
      createSlackFromEnv({
        SLACK_BOT_TOKEN: TOKEN,
        SLACK_API_URL: "http://slack.example.com/api/",
      }),
    ).toThrow(/SLACK_API_URL must be an https URL/);
  });

  it("a token (or token file) and a URL: the real adapter", async () => {
    await writeFile(join(dir, "slack-token"), `${TOKEN}\n`);
    for (const env of [
      { SLACK_BOT_TOKEN: TOKEN, SLACK_API_URL: server.url },
      { SLACK_BOT_TOKEN_FILE: join(dir, "slack-token"), SLACK_API_URL: server.url },
    ]) {
      server.reset();
      await createSlackFromEnv(env).postMessage(CHANNEL, "real");
      expect(server.messages).toHaveLength(1);
      expect(server.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    }
  });

  it("a token alone: the real adapter on https://slack.com/api/", async () => {
    const urls: string[] = [];
    const fetchStub: typeof fetch = (input) => {
      urls.push(input instanceof Request ? input.url : String(input));
      return Promise.resolve(Response.json({ ok: false, error: "invalid_auth" }));
    };
    await expectCode(
      createSlackFromEnv({ SLACK_BOT_TOKEN: TOKEN }, { fetch: fetchStub }).postMessage(
        CHANNEL,
        "x",
      ),
      "connector_unauthorized",
    );
    expect(urls).toEqual(["https://slack.com/api/chat.postMessage"]);
  });
});
