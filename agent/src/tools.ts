// The nine tools, each narrow and typed, on top of the connector port. What a tool returns is
// data for the agent; write tools also return a compensation handle (what undoing them needs).
// A rollback is itself a tool call through the gateway, decided and audited like any other.
import type { Catalog } from "../../common/catalog.ts";
import type { ToolCall } from "../../common/tool-arguments.ts";
import type { Connectors, SecurityGroupChange } from "./connectors/port.ts";

export interface ToolOutput {
  result: unknown;
  /** For write tools: what undoing the write needs. */
  compensation?: Record<string, unknown>;
}

export type ToolExecutor = (call: ToolCall) => Promise<ToolOutput>;

function inverse(change: SecurityGroupChange): SecurityGroupChange {
  return {
    ...change,
    action: change.action === "authorize_ingress" ? "revoke_ingress" : "authorize_ingress",
  };
}

/** A comment or a message, with its undo as a tool call the gateway can make (a compensation). */
async function postWithUndo(
  connectors: Connectors,
  call: Extract<ToolCall, { tool: "jira_add_comment" | "slack_post_message" }>,
): Promise<ToolOutput> {
  if (call.tool === "jira_add_comment") {
    const created = await connectors.jira.addComment(call.arguments.ticket, call.arguments.body);
    return {
      result: created,
      compensation: {
        kind: "jira_comment",
        ticket: created.ticket,
        comment_id: created.comment_id,
        rollback: {
          tool: "jira_delete_comment",
          arguments: { ticket: created.ticket, comment_id: created.comment_id },
        },
      },
    };
  }
  const { channel, text, blocks } = call.arguments;
  const posted = await connectors.slack.postMessage(channel, text, blocks);
  return {
    result: posted,
    compensation: {
      kind: "slack_message",
      channel: posted.channel,
      ts: posted.ts,
      rollback: {
        tool: "slack_delete_message",
        arguments: { channel: posted.channel, ts: posted.ts },
      },
    },
  };
}

/** The compensations: each deletes one write that a write tool made. */
function compensate(
  connectors: Connectors,
  call: Extract<ToolCall, { tool: "jira_delete_comment" | "slack_delete_message" }>,
): Promise<unknown> {
  return call.tool === "jira_delete_comment"
    ? connectors.jira.deleteComment(call.arguments.ticket, call.arguments.comment_id)
    : connectors.slack.deleteMessage(call.arguments.channel, call.arguments.ts);
}

export function createToolExecutor(
  connectors: Connectors,
  catalog: Pick<Catalog, "aws_accounts">,
): ToolExecutor {
  const accountById = (id: string) => {
    const entry = Object.entries(catalog.aws_accounts).find(([, account]) => account.id === id);
    return entry === undefined
      ? { id, alias: null, name: null, environment: null }
      : { id, alias: entry[0], name: entry[1].name, environment: entry[1].environment };
  };

  return async (call) => {
    switch (call.tool) {
      case "jira_read":
        return { result: await connectors.jira.getIssue(call.arguments.ticket) };
      case "github_read_pr":
        return {
          result: await connectors.github.getPullRequest(
            call.arguments.repository,
            call.arguments.pull_request,
          ),
        };
      case "confluence_read": {
        const { space, label } = call.arguments;
        const pages = await connectors.confluence.findPages({
          ...(space === undefined ? {} : { space }),
          ...(label === undefined ? {} : { label }),
        });
        return { result: { pages } };
      }
      case "aws_dev_read": {
        const { account, region, group_ids: groupIds } = call.arguments;
        const groups = await connectors.aws.describeSecurityGroups(account, region, groupIds);
        return { result: { account: accountById(account), region, security_groups: groups } };
      }
      case "jira_add_comment":
      case "slack_post_message":
        return await postWithUndo(connectors, call);
      case "jira_delete_comment":
      case "slack_delete_message":
        return { result: await compensate(connectors, call) };
      case "aws_modify_security_group": {
        const { account, region, group_id: groupId, change } = call.arguments;
        const applied: SecurityGroupChange = {
          action: change.action,
          protocol: change.protocol,
          port_range: change.port_range,
          cidr: change.cidr,
          ...(change.description === undefined ? {} : { description: change.description }),
        };
        const { before, after, unverified } = await connectors.aws.modifySecurityGroup(
          account,
          region,
          groupId,
          applied,
        );
        return {
          result: {
            account: accountById(account),
            region,
            group_id: groupId,
            applied,
            rules_before: before,
            // null when the read-back failed after the change went through (`warning` says so).
            rules_after: after,
            ...(unverified === undefined ? {} : { warning: unverified }),
          },
          compensation: {
            kind: "security_group_change",
            rules_before: before,
            // The rollback, as a tool call to make through the gateway (decided and approved anew).
            rollback: {
              tool: "aws_modify_security_group",
              arguments: {
                account,
                region,
                group_id: groupId,
                change: inverse(applied),
                ...(call.arguments.change_ticket === undefined
                  ? {}
                  : { change_ticket: call.arguments.change_ticket }),
                rollback_plan: `Re-apply ${applied.action} ${applied.protocol} ${applied.port_range} ${applied.cidr} on ${groupId}.`,
              },
            },
          },
        };
      }
    }
  };
}
