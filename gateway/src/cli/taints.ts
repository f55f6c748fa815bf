// npm run -s taints -- list [--limit N]                              the tainted agents, and counts
// npm run -s taints -- clear-actor <user> <agent> --reason R          clear a user's agent's taint
// npm run -s taints -- clear-session <session id> --reason R          clear one session's taint
// Calls the gateway's admin API (/v1/admin/taints) with a security admin's access and posture
// tokens; every clear is audited by the gateway before it happens.
// Exit status: 0 done, 1 refused (the problem's code and detail on stderr) or unreachable, 2 bad usage.
import { runAdminCommand, type AdminRequest, type AdminValues } from "./admin-request.ts";

const USAGE = `usage: npm run -s taints -- <command> [arguments] [options]

commands:
  list [--limit N]                         the tainted agents (user and agent) and the counts
  clear-actor <user> <agent> --reason R    clear a user's agent: its writes run again in new
                                           sessions (the sessions that read the injection stay held)
  clear-session <session id> --reason R    clear one session

options:
  --reason <text>    why (required to clear, 1 to 500 characters; audited)
  --limit <n>        how many agents to list (default 100, at most 1000)
  --gateway <url>    the gateway (default http://127.0.0.1:8080)
  --token <jwt>      a security admin's access token (default: $ZYX_ADMIN_TOKEN)
  --posture <jwt>    that admin's device posture token (default: $ZYX_ADMIN_POSTURE)
  --json             print the gateway's JSON answer as it is

exit status: 0 done, 1 refused or unreachable, 2 bad usage`;

interface Listing {
  actors: { user: string; agent: string }[];
  actors_total: number;
  sessions_total: number;
  max_actors: number;
  saturated: boolean;
}

/** What to send, or a usage error's message. */
function plan(
  command: string | undefined,
  args: string[],
  values: AdminValues,
): AdminRequest | string {
  if (command === "list") {
    if (args.length > 0) return "list takes no arguments";
    const limit = values["limit"] as string | undefined;
    if (limit !== undefined && !/^\d{1,4}$/.test(limit)) return "--limit is a number";
    return {
      method: "GET",
      path: `/v1/admin/taints${limit === undefined ? "" : `?limit=${limit}`}`,
    };
  }
  const wanted = command === "clear-actor" ? 2 : command === "clear-session" ? 1 : undefined;
  if (wanted === undefined)
    return command === undefined ? "no command" : `unknown command ${command}`;
  if (args.length !== wanted) {
    return command === "clear-actor"
      ? "clear-actor needs <user> <agent>"
      : "clear-session needs <session id>";
  }
  const reason = values["reason"] as string | undefined;
  if (reason === undefined || reason.trim() === "") return `${command} needs --reason "why"`;
  const [first = "", second = ""] = args;
  return command === "clear-actor"
    ? {
        method: "DELETE",
        path: "/v1/admin/taints/actors",
        body: JSON.stringify({ user: first, agent: second, reason }),
      }
    : {
        method: "DELETE",
        path: "/v1/admin/taints/sessions",
        body: JSON.stringify({ session_id: first, reason }),
      };
}

function render(answer: Record<string, unknown>, command: string | undefined): string {
  if (command !== "list") {
    const cleared = answer["cleared"] === true ? "cleared" : "was not tainted (nothing to clear)";
    const still =
      answer["still_tainted"] === true
        ? "\nWARNING: still tainted here (the store saturated, or tainted again meanwhile)"
        : "";
    return `${cleared}${still}`;
  }
  const listing = answer as unknown as Listing;
  const lines = [
    `${String(listing.actors_total)} tainted agent(s), ${String(listing.sessions_total)} tainted session(s), bound ${String(listing.max_actors)} agents`,
    ...listing.actors.map((actor) => `  ${actor.user}  ${actor.agent}`),
  ];
  if (listing.actors.length < listing.actors_total) {
    lines.push(`  (${String(listing.actors_total - listing.actors.length)} more: --limit)`);
  }
  if (listing.saturated) lines.push("WARNING: saturated: every call reads as tainted");
  return lines.join("\n");
}

process.exitCode = await runAdminCommand(process.argv.slice(2), {
  usage: USAGE,
  options: { reason: { type: "string" }, limit: { type: "string" } },
  plan,
  unexpected: (answer) =>
    "cleared" in answer || "actors" in answer ? undefined : JSON.stringify(answer).slice(0, 500),
  print: (answer, command) => {
    console.log(render(answer as Record<string, unknown>, command));
  },
});
