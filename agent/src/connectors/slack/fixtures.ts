// The offline Slack adapter: the fixture workspace (agent/fixtures/slack/workspace.json) answers
// as Slack would (shared.ts simulatePostMessage), and each posted message is appended as one JSON
// line to `writesPath` so that a demo can show what would have reached Slack:
//
//   {"time","connector":"slack","action":"post_message","channel","channel_name","ts","text"}
//
// `channel` is the channel's ID, as Slack answers; `text` is the text as sent (escaped).
import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { SlackPort } from "../port.ts";
import {
  DEFAULT_SLACK_WORKSPACE,
  channelArgument,
  createTsClock,
  escapeSlackText,
  loadWorkspace,
  platformError,
  simulatePostMessage,
  slackError,
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

  return {
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
