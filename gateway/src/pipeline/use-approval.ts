// Step 4: a call that names an approval request must be the very call that humans approved
// (the approvals module's checkApprovalUse: the requester's own, same session, same tool, same arguments,
// approved, not used, within the window). Its approvers then go to the policy, which decides
// again now; the request is claimed for execution only after that decision allows it.
import { checkApprovalUse } from "../approvals/use.ts";
import type { Approved, GatewayPorts, Parsed, PipelineRuntime } from "./context.ts";

const DEFAULT_EXECUTION_WINDOW_MS = 300_000;

export async function useApproval(
  ports: Pick<GatewayPorts, "approvals" | "approvalExecutionWindowMs">,
  runtime: Pick<PipelineRuntime, "now">,
  ctx: Parsed,
): Promise<Approved> {
  const id = ctx.body.approval_id;
  if (id === undefined) return { ...ctx, approved: undefined };
  const approved = checkApprovalUse(await ports.approvals.get(id), {
    subject: ctx.principal.subject,
    agent: ctx.principal.agent,
    sessionId: ctx.sessionId,
    tool: ctx.tool,
    digest: ctx.digest,
    nowMs: runtime.now(),
    windowMs: ports.approvalExecutionWindowMs ?? DEFAULT_EXECUTION_WINDOW_MS,
  });
  return { ...ctx, approved };
}
