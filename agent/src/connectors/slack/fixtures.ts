// The offline Slack adapter: the fixture workspace (agent/fixtures/slack/workspace.json) answers
// as Slack would (shared.ts simulatePostMessage), and each posted message is appended as one JSON
// line to `writesPath` so that a demo can show what would have reached Slack:
//
//   {"time","connector":"slack","action":"post_message","channel","channel_name","ts","text"}
//
// `channel` is the channel's ID, as Slack answers; `text` is the text as sent (escaped). A deleted
// message (a compensation) is the line {"time","connector":"slack","action":"delete_message",
// "channel","ts"}; only a message the file shows posted and not yet deleted can be deleted.
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { SlackPort } from "../port.ts";
import {
  DEFAULT_SLACK_WORKSPACE,
  channelArgument,
  createTsClock,
  escapeSlackText,
  loadWorkspace,
  platformError,
  simulateDelete,
  simulatePostMessage,
  slackError,
  type PostedMessage,
} from "./shared.ts";

export interface SlackFixturesOptions {
  /** JSON Lines file that records each posted message. */
  writesPath: string;
  /** The fixture workspace file; defaults to agent/fixtures/slack/workspace.json. */
  workspacePath?: string;
  /** Clock for message timestamps (milliseconds); defaults to Date.now. */
  now?: () => number;
}

export function createSlackFixtures(options: SlackFixturesOptions): SlackPort {
  const { writesPath } = options;
  if (writesPath === "") throw new TypeError("writesPath must not be empty");
  const workspace = loadWorkspace(options.workspacePath ?? DEFAULT_SLACK_WORKSPACE);
  const nextTs = createTsClock(options.now);

  /** The messages the file shows posted and not deleted since. */
  async function postedMessages(): Promise<PostedMessage[]> {
    let text = "";
    try {
      text = await readFile(writesPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const live = new Map<string, PostedMessage>();
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const record = JSON.parse(line) as Record<string, unknown>;
      const { connector, action, channel, ts } = record;
      if (connector !== "slack" || typeof channel !== "string" || typeof ts !== "string") continue;
      if (action === "post_message") live.set(`${channel} ${ts}`, { channel, ts });
      if (action === "delete_message") live.delete(`${channel} ${ts}`);
    }
    return [...live.values()];
  }

  async function record(line: Record<string, unknown>): Promise<void> {
    try {
      await mkdir(dirname(writesPath), { recursive: true });
      await appendFile(writesPath, `${JSON.stringify(line)}\n`, "utf8");
    } catch (error) {
      throw slackError(
        "connector_unavailable",
        `the fixture Slack could not record the ${String(line["action"])} (${(error as NodeJS.ErrnoException).code ?? "write failed"})`,
        { cause: error },
      );
    }
  }

  return {
    async deleteMessage(channel: string, ts: string): Promise<{ channel: string; ts: string }> {
      let posted: PostedMessage[];
      try {
        posted = await postedMessages();
      } catch (error) {
        throw slackError("connector_unavailable", "the fixture Slack cannot read its writes", {
          cause: error,
        });
      }
      const result = simulateDelete(workspace, posted, channel, ts);
      if (!result.ok) throw platformError(result.error, "chat.delete");
      await record({
        time: new Date().toISOString(),
        connector: "slack",
        action: "delete_message",
        channel,
        ts,
      });
      return { channel, ts };
    },

    async postMessage(channel, text, blocks): Promise<{ channel: string; ts: string }> {
      const sent = escapeSlackText(text);
      const result = simulatePostMessage(workspace, nextTs, channelArgument(channel), sent);
      if (!result.ok) throw platformError(result.error);
      const line = {
        time: new Date().toISOString(),
        connector: "slack",
        action: "post_message",
        channel: result.channel,
        channel_name: result.channel_name,
        ts: result.ts,
        text: sent,
        ...(blocks === undefined ? {} : { blocks }),
      };
      try {
        await mkdir(dirname(writesPath), { recursive: true });
        await appendFile(writesPath, `${JSON.stringify(line)}\n`, "utf8");
      } catch (error) {
        throw slackError(
          "connector_unavailable",
          `the fixture Slack could not record the message (${(error as NodeJS.ErrnoException).code ?? "write failed"})`,
          { cause: error },
        );
      }
      return { channel: result.channel, ts: result.ts };
    },
  };
}
