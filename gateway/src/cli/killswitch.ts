// npm run -s killswitch -- status                         the kill switch's state
// npm run -s killswitch -- set <scope> [value] --reason   turn a scope on
// npm run -s killswitch -- clear <scope> [value] --reason turn it off
// Calls the gateway's admin API (/v1/admin/kill-switch) with an admin's access and posture tokens.
// Exit status: 0 done, 1 refused (the problem's code and detail on stderr) or unreachable, 2 bad usage.
import { KILL_SWITCH_SCOPES, scopeFromSlug, scopeSlug } from "../killswitch/scopes.ts";
import { runAdminCommand, type AdminRequest } from "./admin-request.ts";

const SCOPES = KILL_SWITCH_SCOPES.map(scopeSlug).join(", ");

const USAGE = `usage: npm run -s killswitch -- <command> [scope] [value] [options]

commands:
  status                           print the state, its version and who changed it last
  set <scope> [value] --reason R   turn a scope on
  clear <scope> [value] --reason R turn a scope off

scopes: all-writes (no value), read-only <agent>, connector <connector>,
        user <subject or email>, agent <agent>, workflow <workflow>

options:
  --reason <text>    why (required for set and clear, at most 500 characters)
  --gateway <url>    the gateway (default http://127.0.0.1:8080)
  --token <jwt>      a security admin's access token (default: $ZYX_ADMIN_TOKEN)
  --posture <jwt>    that admin's device posture token (default: $ZYX_ADMIN_POSTURE)
  --json             print the gateway's JSON answer as it is

exit status: 0 done, 1 refused or unreachable, 2 bad usage`;

interface Snapshot {
  version: number;
  applied_version: number;
  updated_at: string | null;
  updated_by: string | null;
  reason: string | null;
  changed?: boolean;
  state: {
    kill_switch: {
      all_writes: boolean;
      read_only_agents: string[];
      connectors: string[];
      users: string[];
      agents: string[];
      workflows: string[];
    };
  };
}

function render(snapshot: Snapshot): string {
  const ks = snapshot.state.kill_switch;
  const list = (items: readonly string[]) => (items.length === 0 ? "-" : items.join(", "));
  const last =
    snapshot.updated_at === null
      ? "never changed"
      : `last change ${snapshot.updated_at} by ${snapshot.updated_by ?? "?"}: ${snapshot.reason ?? ""}`;
  const lines = [
    `kill switch version ${snapshot.version}, ${last}`,
    `  all-writes  ${ks.all_writes ? "ON" : "off"}`,
    `  read-only   ${list(ks.read_only_agents)}`,
    `  connector   ${list(ks.connectors)}`,
    `  user        ${list(ks.users)}`,
    `  agent       ${list(ks.agents)}`,
    `  workflow    ${list(ks.workflows)}`,
  ];
  if (snapshot.applied_version !== snapshot.version) {
    lines.push(
      `WARNING: the policy runs version ${snapshot.applied_version}, not ${snapshot.version}`,
    );
  }
  return lines.join("\n");
}

/** A usage error's message, or what to send. */
type Planned = string | AdminRequest;

function plan(command: string | undefined, positionals: string[], reason?: string): Planned {
  const [slug, value, ...extra] = positionals;
  const base = "/v1/admin/kill-switch";
  if (command === "status") {
    return slug === undefined ? { method: "GET", path: base } : "status takes no scope";
  }
  if (command !== "set" && command !== "clear") {
    return command === undefined ? "no command" : `unknown command ${command}`;
  }
  if (slug === undefined) return `${command} needs a scope: ${SCOPES}`;
  if (extra.length > 0) return `too many arguments: ${extra.join(" ")}`;
  const scope = scopeFromSlug(slug.replaceAll("_", "-"));
  if (scope === undefined) return `unknown scope ${slug}: one of ${SCOPES}`;
  if (scope === "all_writes" && value !== undefined) return "all-writes takes no value";
  if (scope !== "all_writes" && value === undefined) return `${scopeSlug(scope)} needs a value`;
  if (reason === undefined || reason.trim() === "") return `${command} needs --reason "why"`;
  return {
    method: command === "set" ? "PUT" : "DELETE",
    path: `${base}/${scopeSlug(scope)}`,
    body: JSON.stringify(value === undefined ? { reason } : { value, reason }),
  };
}

function report(snapshot: Snapshot, command: string | undefined, target: string): void {
  if (snapshot.changed === false) {
    console.log(`no change: ${target} was already ${command === "set" ? "set" : "clear"}`);
  } else if (snapshot.changed === true) {
    console.log(`${command === "set" ? "set" : "cleared"}: now version ${snapshot.version}`);
  }
  console.log(render(snapshot));
}

process.exitCode = await runAdminCommand(process.argv.slice(2), {
  usage: USAGE,
  options: { reason: { type: "string" } },
  plan: (command, args, values) => plan(command, args, values["reason"] as string | undefined),
  unexpected: (answer) => ("state" in answer ? undefined : JSON.stringify(answer).slice(0, 500)),
  print: (answer, command, args) => {
    report(answer as Snapshot, command, args.slice(0, 2).join(" "));
  },
});
