// Every 2xx the client saw has its outcome record on disk, even when the gateway is killed with
// SIGKILL the moment the answer arrives: the outcome is durable before the answer leaves.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/processes.ts";

const ENGINEER = [
  "--user",
  "engineer@zyxbank.example",
  "--groups",
  "grp-ai-users,grp-ai-devops-readonly",
  "--agent",
  "change-reviewer",
];

function outcomes(stateDir: string): Map<string, string> {
  const lines = readFileSync(join(stateDir, "audit/audit.jsonl"), "utf8").split("\n");
  const found = new Map<string, string>();
  for (const line of lines) {
    if (line === "") continue;
    let record: { event?: string; decision_id?: string; outcome?: { status?: string } };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      continue; // a torn last line, as a SIGKILL may leave: not a record
    }
    if (record.event === "outcome" && record.decision_id !== undefined) {
      found.set(record.decision_id, record.outcome?.status ?? "");
    }
  }
  return found;
}

describe("the outcome record survives SIGKILL", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.stop();
  });

  it("a 200 seen by the client has its executed outcome on disk after kill -9", async () => {
    const headers = {
      authorization: `Bearer ${stack.token("access", ...ENGINEER)}`,
      "x-device-posture": stack.token("posture", "--user", "engineer@zyxbank.example"),
      "content-type": "application/json",
    };
    const call = () =>
      fetch(`${stack.gatewayUrl}/v1/tools/jira_read`, {
        method: "POST",
        headers,
        body: JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "kill-9" }),
      });
    // Several calls in flight, the gateway killed as soon as the first answer is in.
    const inFlight = Array.from({ length: 8 }, call);
    const first = await Promise.race(inFlight);
    stack.gateway.child.kill("SIGKILL");
    const seen = [
      first,
      ...(await Promise.allSettled(inFlight)).flatMap((r) =>
        r.status === "fulfilled" ? [r.value] : [],
      ),
    ];
    const ok = await Promise.all(
      seen
        .filter((r) => r.status === 200)
        .map(async (r) => ((await r.clone().json()) as { decision_id: string }).decision_id),
    );
    expect(ok.length).toBeGreaterThan(0);
    const durable = outcomes(stack.stateDir);
    for (const id of new Set(ok)) expect(durable.get(id)).toBe("executed");
  });
});
