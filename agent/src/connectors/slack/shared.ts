// What both Slack adapters (and the fake Slack server) share: the fixture workspace, Slack's own
// answer to chat.postMessage simulated once, the text encoding, and the mapping of Slack's error
// strings to the port's codes.
//
// Channels: the port receives a channel NAME (the policy allow-lists names, such as
// devsecops-change-review). The real adapter sends it as "#name": chat.postMessage accepts a
// channel name for a channel the bot is in, and it saves a conversations.list round trip (and
// its channels:read scope). Slack answers with the channel's ID, which is what we return. A
// name the workspace does not know is channel_not_found (connector_not_found) on both adapters;
// a channel the bot is not in is not_in_channel (connector_forbidden). The fixture workspace
// (agent/fixtures/slack/workspace.json) has both cases.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ConnectorError, type ConnectorErrorCode } from "../port.ts";

export const DEFAULT_SLACK_WORKSPACE = fileURLToPath(
  new URL("../../../fixtures/slack/workspace.json", import.meta.url),
);

/** Slack truncates longer messages; it refuses over 40,000 characters (msg_too_long). */
export const SLACK_MAX_TEXT_CHARS = 40_000;

const Workspace = z.strictObject({
  team: z.strictObject({ id: z.string(), name: z.string(), domain: z.string() }),
  bot: z.strictObject({
    user_id: z.string(),
    bot_id: z.string(),
    app_id: z.string(),
    name: z.string(),
  }),
  channels: z.array(
    z.strictObject({
      id: z.string().regex(/^[CG][A-Z0-9]{8,}$/),
      name: z.string(),
      is_private: z.boolean(),
      is_member: z.boolean(),
    }),
  ),
});
export type Workspace = z.infer<typeof Workspace>;

export function loadWorkspace(path: string = DEFAULT_SLACK_WORKSPACE): Workspace {
  return Workspace.parse(JSON.parse(readFileSync(path, "utf8")));
}

export function slackError(
  code: ConnectorErrorCode,
  message: string,
  options: { status?: number; cause?: unknown } = {},
): ConnectorError {
  return new ConnectorError("slack", code, message, options);
}

/** A Slack channel ID (public C…, private G…, direct D…), passed through as it is. */
const CHANNEL_ID = /^[CGD][A-Z0-9]{8,}$/;

/** What we send as chat.postMessage's `channel`. */
export function channelArgument(channel: string): string {
  const name = channel.replace(/^#/, "");
  if (name === "" || /[\s,]/.test(name)) {
    throw slackError("connector_rejected", "the Slack channel must be a channel name");
  }
  return CHANNEL_ID.test(name) ? name : `#${name}`;
}

/**
 * Slack reads `text` as mrkdwn, where "<!channel>", "<@U123>" and "<https://x|label>" are
 * mentions and disguised links. The text comes from an agent that may have read hostile
 * content, so it is sent as plain text: Slack's documented escaping of &, < and >.
 */
export function escapeSlackText(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** Message timestamps as Slack writes them ("1716345600.000100"), strictly increasing. */
export function createTsClock(now: () => number = Date.now): () => string {
  let last = 0;
  return () => {
    const micros = Math.max(Math.floor(now()) * 1000, last + 100);
    last = micros;
    const seconds = Math.floor(micros / 1_000_000);
    return `${seconds}.${String(micros % 1_000_000).padStart(6, "0")}`;
  };
}

export type PostResult =
  | {
      ok: true;
      channel: string;
      channel_name: string;
      ts: string;
      message: Record<string, unknown>;
    }
  | { ok: false; error: string };

/** Slack's own answer to chat.postMessage from the bot of `workspace`. */
export function simulatePostMessage(
  workspace: Workspace,
  nextTs: () => string,
  channel: string,
  text: string,
): PostResult {
  const wanted = channel.replace(/^#/, "");
  const found = workspace.channels.find((c) => c.id === wanted || c.name === wanted);
  if (found === undefined) return { ok: false, error: "channel_not_found" };
  if (!found.is_member) return { ok: false, error: "not_in_channel" };
  if (text.trim() === "") return { ok: false, error: "no_text" };
  if (text.length > SLACK_MAX_TEXT_CHARS) return { ok: false, error: "msg_too_long" };
  const ts = nextTs();
  return {
    ok: true,
    channel: found.id,
    channel_name: found.name,
    ts,
    message: {
      user: workspace.bot.user_id,
      type: "message",
      ts,
      bot_id: workspace.bot.bot_id,
      app_id: workspace.bot.app_id,
      text,
      team: workspace.team.id,
      bot_profile: {
        id: workspace.bot.bot_id,
        app_id: workspace.bot.app_id,
        name: workspace.bot.name,
        deleted: false,
        team_id: workspace.team.id,
      },
      blocks: [],
    },
  };
}

const UNAUTHORIZED = new Set([
  "not_authed",
  "invalid_auth",
  "token_revoked",
  "token_expired",
  "account_inactive",
]);
const FORBIDDEN = new Set([
  "missing_scope",
  "not_in_channel",
  "restricted_action",
  "restricted_action_read_only_channel",
  "restricted_action_thread_only_channel",
  "restricted_action_non_threadable_channel",
  "no_permission",
  "not_allowed_token_type",
  "ekm_access_denied",
  "team_access_not_granted",
  "access_denied",
]);
const UNAVAILABLE = new Set(["fatal_error", "internal_error", "service_unavailable"]);

/** A Slack `{"ok": false, "error": ...}` answer as a ConnectorError. */
export function platformError(error: string, action = "chat.postMessage"): ConnectorError {
  const message = `Slack refused ${action}: ${error}`;
  if (UNAUTHORIZED.has(error)) return slackError("connector_unauthorized", message);
  if (FORBIDDEN.has(error)) return slackError("connector_forbidden", message);
  if (error === "channel_not_found" || error === "message_not_found")
    return slackError("connector_not_found", message);
  if (error === "ratelimited" || error === "rate_limited")
    return slackError("connector_rate_limited", message);
  if (UNAVAILABLE.has(error)) return slackError("connector_unavailable", message);
  return slackError("connector_rejected", message);
}

/** A message this bot posted, as the fixture file or the fake server remembers it. */
export interface PostedMessage {
  channel: string;
  ts: string;
}

/**
 * Slack's own answer to chat.delete of `ts` in channel ID `channel`, given the messages the bot
 * posted and has not deleted yet. Slack answers message_not_found for one it does not have.
 */
export function simulateDelete(
  workspace: Workspace,
  posted: readonly PostedMessage[],
  channel: string,
  ts: string,
): { ok: true; channel: string; ts: string } | { ok: false; error: string } {
  const found = workspace.channels.find((c) => c.id === channel);
  if (found === undefined) return { ok: false, error: "channel_not_found" };
  if (!posted.some((m) => m.channel === channel && m.ts === ts)) {
    return { ok: false, error: "message_not_found" };
  }
  return { ok: true, channel, ts };
}
