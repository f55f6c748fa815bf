// The checkpoint gauge after a clean restart shows the closing checkpoint, not 0 (which the
// README's "log cut" alert would take for a cut log on every deploy).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateCheckpointJwk, signerFromPrivateJwk } from "../../src/audit/checkpoint.ts";
import { openAuditLog } from "../../src/audit/log.ts";
import { createGatewayMetrics } from "../../src/metrics/gateway-metrics.ts";

describe("zyx_gateway_audit_checkpoint_seq across a clean restart", () => {
  it("still shows the last durable checkpoint after the gateway reopens a cleanly closed log", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "zyx-gauge-")), "audit.jsonl");
    const signer = signerFromPrivateJwk(generateCheckpointJwk());
    // As main.ts wires it: every durable checkpoint's head goes to the gauge.
    const run = async () => {
      const metrics = createGatewayMetrics();
      const audit = await openAuditLog({
        path,
        fsync: false,
        checkpoints: { signer, everyRecords: 3, everySeconds: 3600 },
        onCheckpoint: (head) => {
          metrics.auditCheckpoint(head);
        },
      });
      const gauge = async () =>
        Number(
          /^zyx_gateway_audit_checkpoint_seq (\d+)$/m.exec((await metrics.render()).body)?.[1],
        );
      return { audit, gauge };
    };
    const first = await run();
    for (let i = 0; i < 4; i++) await first.audit.append({ event: "decision", tool: "jira_read" });
    await first.audit.close(); // a clean stop: the closing checkpoint is the head
    const lastSeq = (
      JSON.parse(readFileSync(path, "utf8").trim().split("\n").at(-1) ?? "{}") as { seq: number }
    ).seq;
    expect(await first.gauge()).toBe(lastSeq);

    // The restart (a new process): the README says the gauge "only grows, restarts included",
    // and the alert is `zyx_gateway_audit_checkpoint_seq < max_over_time(...[30d])`.
    const second = await run();
    expect(await second.gauge()).toBe(lastSeq);
    await second.audit.close();
  });
});
