// Run by the contract test as a separate process: opens the store named by $APPROVAL_STORE,
// records a two-approver request with one approval, prints {"id"} and exits. The parent then
// reads it back: the request outlived the process that wrote it.
import { createApprovalService } from "../../src/approvals/service.ts";
import type { ApprovalStoreConfig } from "../../src/approvals/store.ts";
import { openApprovalStore } from "../../src/approvals/store.ts";
import { ALICE, T0, requestInput } from "./fixtures.ts";

const config = JSON.parse(process.env["APPROVAL_STORE"] ?? "") as ApprovalStoreConfig;
const store = await openApprovalStore(config);
const approvals = createApprovalService({
  store,
  now: () => T0,
  expirySeconds: 300,
  escalationSeconds: 300,
  audit: () => Promise.resolve(),
});
const { id } = await approvals.request(requestInput({ risk_score: 9, approvers_required: 2 }));
await approvals.approve(id, ALICE, true);
await store.close();
process.stdout.write(JSON.stringify({ id }));
