// Three gateway replicas as real processes on one real PostgreSQL (a private cluster; never
// skipped), with one worker, as `make run-cluster` wires them: the kill switch reaches every
// replica within 1 s (measured), an approval asked on one, approved on a second, runs exactly once
// on a third while a fourth attempt races it (one 200, one 409), PostgreSQL stopped refuses write
// tools within the bound while reads go on as the policy says, PostgreSQL back recovers without a
// restart, and a replica killed with SIGKILL leaves the others serving and its own audit chain
// intact (each replica writes its own chain, stamped with its replica id). The cluster trusts no
// connection (SCRAM): the replicas read its password from DATABASE_PASSWORD_FILE, as compose
// gives it, and their database URL carries none.
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../gateway/test/support/opa-server.ts";
import { startPostgres, type PrivatePostgres } from "../support/postgres.ts";
import {
  REPO_ROOT,
  startNode,
  startStack,
  waitFor,
  type Stack,
  type Started,
} from "../support/processes.ts";
import {
  ADMIN as ADMIN_PERSON,
  APPROVER as APPROVER_PERSON,
  ENGINEER as ENGINEER_PERSON,
  REMEDIATOR as REMEDIATOR_PERSON,
  SG_CHANGE,
  tokenArgs,
} from "../support/fixtures.ts";

const ENGINEER = tokenArgs(ENGINEER_PERSON);
const ADMIN = tokenArgs(ADMIN_PERSON);
const REQUESTER = tokenArgs(REMEDIATOR_PERSON);
const APPROVER = tokenArgs(APPROVER_PERSON);

const STALE_AFTER_MS = 1_500;

interface Replica {
  id: string;
  url: string;
  process: Started;
}

let postgres: PrivatePostgres;
let stack: Stack;
const replicas: Replica[] = [];
const headers = new Map<string, Record<string, string>>();

function as(who: string[]): Record<string, string> {
  const key = who.join(" ");
  let found = headers.get(key);
  if (found === undefined) {
    found = {
      authorization: `Bearer ${stack.token("access", ...who)}`,
      "x-device-posture": stack.token("posture", "--user", who[1] ?? "", "--compliant", "true"),
      "content-type": "application/json",
    };
    headers.set(key, found);
  }
  return found;
}

function replica(index: number): Replica {
  const found = replicas[index];
  if (found === undefined) throw new Error(`no replica ${String(index)}`);
  return found;
}

const call = (base: string, tool: string, args: unknown, who = ENGINEER, extra = {}) =>
  fetch(`${base}/v1/tools/${tool}`, {
    method: "POST",
    headers: as(who),
    body: JSON.stringify({ arguments: args, session_id: "replicas-1", ...extra }),
  });
const comment = (base: string) =>
  call(base, "jira_add_comment", { ticket: "CHG-18422", body: "Reviewed by the AI reviewer." });
const read = (base: string) => call(base, "jira_read", { ticket: "CHG-18422" });

async function killSwitchVersion(base: string): Promise<number> {
  const response = await fetch(`${base}/v1/admin/kill-switch`, { headers: as(ADMIN) });
  const body = (await response.json()) as { applied_version: number };
  return body.applied_version;
}

async function changeKillSwitch(
  base: string,
  method: "PUT" | "DELETE",
  value: string,
): Promise<number> {
  const response = await fetch(`${base}/v1/admin/kill-switch/agent`, {
    method,
    headers: as(ADMIN),
    body: JSON.stringify({ value, reason: "INC-77 replicas test" }),
  });
  const body = (await response.json()) as { version: number };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.version;
}

async function readyz(base: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

beforeAll(async () => {
  const password = randomBytes(18).toString("base64url");
  postgres = await startPostgres({ database: "replicas", password });
  const passwordFile = join(postgres.directory, "gateway-database.password");
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const withoutPassword = new URL(postgres.connectionString);
  withoutPassword.password = "";
  const shared = {
    APPROVAL_STORE: "postgres",
    APPROVAL_DATABASE_URL: withoutPassword.toString(),
    DATABASE_PASSWORD_FILE: passwordFile,
    KILL_SWITCH_STORE: "postgres",
    LIMITS_STORE: "postgres",
    SESSION_STORE: "postgres",
    KILL_SWITCH_SYNC_MS: "250",
    KILL_SWITCH_STALE_AFTER_MS: String(STALE_AFTER_MS),
  };
  stack = await startStack({ gatewayEnv: { ...shared, GATEWAY_REPLICA_ID: "gw-1" } });
  replicas.push({ id: "gw-1", url: stack.gatewayUrl, process: stack.gateway });
  const more = await Promise.all(
    ["gw-2", "gw-3"].map(async (id) => {
      const port = await freePort();
      const process = startNode("gateway/src/main.ts", {
        ...stack.gatewayEnv,
        GATEWAY_PORT: String(port),
        GATEWAY_REPLICA_ID: id,
      });
      const url = `http://127.0.0.1:${String(port)}`;
      await waitFor(`${url}/readyz`, process);
      return { id, url, process };
    }),
  );
  replicas.push(...more);
}, 90_000);

afterAll(async () => {
  await Promise.all(replicas.slice(1).map((r) => r.process.stop()));
  await stack.stop();
  await postgres.stop();
});

describe("three gateway replicas on shared PostgreSQL state", () => {
  it("a kill switch set on one replica is applied by the others within 1 s (measured)", async () => {
    // Let through (executed, or held for an approver: the risk score depends on the hour).
    expect([200, 202]).toContain((await comment(replica(2).url)).status);
    await Promise.all(replicas.map((r) => killSwitchVersion(r.url))); // warm: keys fetched once
    const sent = performance.now();
    const version = await changeKillSwitch(replica(0).url, "PUT", "change-reviewer");
    const answered = performance.now() - sent;
    const lagMs = await until(
      async () =>
        (await Promise.all([1, 2].map((i) => killSwitchVersion(replica(i).url)))).every(
          (applied) => applied >= version,
        ),
      5_000,
    );
    // From sending the change to one replica until both others report it applied.
    const propagationMs = answered + lagMs;
    console.error(
      `kill-switch propagation: ${propagationMs.toFixed(0)} ms (change answered in ${answered.toFixed(0)} ms)`,
    );
    expect(propagationMs).toBeLessThanOrEqual(1_000);
    const refused = await comment(replica(2).url);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      code: "policy_denied",
      reasons: expect.arrayContaining([
        expect.objectContaining({ code: "kill_switch_agent" }),
      ]) as unknown,
    });

    const cleared = await changeKillSwitch(replica(1).url, "DELETE", "change-reviewer");
    await until(async () => (await killSwitchVersion(replica(0).url)) >= cleared, 5_000);
    expect([200, 202]).toContain((await comment(replica(0).url)).status);
  });

  it("a 60-per-minute user limit allows exactly 60 calls whichever replica serves them", async () => {
    const busy = [
      "--user",
      "busy@zyxbank.example",
      "--groups",
      "grp-ai-users,grp-ai-devops-readonly",
      "--agent",
      "change-reviewer",
    ];
    const statuses: number[] = [];
    // 75 calls, 15 at a time, round robin over the three replicas.
    for (let wave = 0; wave < 5; wave++) {
      const answers = await Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          call(replica(i % 3).url, "jira_read", { ticket: "CHG-18422" }, busy),
        ),
      );
      statuses.push(...answers.map((r) => r.status));
    }
    const admitted = statuses.filter((status) => status === 200).length;
    const limited = statuses.filter((status) => status === 429).length;
    console.error(
      `limit exactness: 75 calls over 3 replicas, ${String(admitted)} admitted (limit 60)`,
    );
    expect({ admitted, limited }).toEqual({ admitted: 60, limited: 15 });
  });

  it("a session tainted on one replica is tainted on the others", async () => {
    const reader = [
      "--user",
      "taint@zyxbank.example",
      "--groups",
      "grp-ai-users,grp-ai-devops-readonly",
      "--agent",
      "change-reviewer",
    ];
    const injected = await call(replica(0).url, "jira_read", { ticket: "CHG-18433" }, reader, {
      session_id: "s-injected",
    });
    expect(await injected.json()).toMatchObject({ evidence: { injection: { suspected: true } } });
    const write = await call(
      replica(1).url,
      "jira_add_comment",
      { ticket: "CHG-18433", body: "AI security review: no findings." },
      reader,
      { session_id: "s-injected" },
    );
    expect(write.status).toBe(202);
    expect(await write.json()).toMatchObject({
      risk: {
        factors: expect.arrayContaining([{ factor: "tainted_session", points: 3 }]) as unknown,
      },
    });
  });

  it("a runaway agent is suspended at its threshold of denials summed over the replicas", async () => {
    const runaway = [
      "--user",
      "runaway@zyxbank.example",
      "--groups",
      "grp-ai-users,grp-ai-devops-readonly",
      "--agent",
      "change-reviewer",
    ];
    const suspended = async () => {
      const response = await fetch(`${replica(2).url}/v1/admin/kill-switch`, {
        headers: as(ADMIN),
      });
      const body = (await response.json()) as { state: { kill_switch: { agents: string[] } } };
      return body.state.kill_switch.agents.includes("change-reviewer");
    };
    // An account the policy does not allow: a policy denial about the agent's behaviour.
    const deny = (i: number) =>
      call(
        replica(i % 3).url,
        "aws_dev_read",
        { account: "999999999999", region: "ap-southeast-1" },
        runaway,
      );
    // The threshold is 10 within 300 s: nine, three on each replica, suspend nobody.
    for (let i = 0; i < 9; i++) expect((await deny(i)).status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await suspended()).toBe(false);
    try {
      // The tenth does, on whichever replica counts it.
      expect((await deny(9)).status).toBe(403);
      const took = await until(suspended, 5_000);
      console.error(`denials over 3 replicas: suspended ${took.toFixed(0)} ms after the 10th`);
      // One more denial on each replica: each finds the agent suspended; one alert in all.
      for (let i = 10; i < 13; i++) expect((await deny(i)).status).toBe(403);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const alerts = replicas
        .map((r) => join(stack.stateDir, "audit", `audit-${r.id}.jsonl`))
        .flatMap((file) => readFileSync(file, "utf8").split("\n"))
        .filter((l) => l.includes('"kind":"agent_suspended"') && l.includes("change-reviewer"));
      expect(alerts).toHaveLength(1);
    } finally {
      // Lifted again for the tests that follow, and applied by every replica.
      const version = await changeKillSwitch(replica(0).url, "DELETE", "change-reviewer");
      await until(
        async () =>
          (await Promise.all(replicas.map((r) => killSwitchVersion(r.url)))).every(
            (v) => v >= version,
          ),
        5_000,
      );
    }
  });

  it("an approval asked on one replica, approved on a second, runs once: racing executions give one 200 and one 409", async () => {
    const requested = await call(replica(0).url, "aws_modify_security_group", SG_CHANGE, REQUESTER);
    expect(requested.status).toBe(202);
    const { approval_id: id } = (await requested.json()) as { approval_id: string };
    const approved = await fetch(`${replica(1).url}/v1/approvals/${id}/approve`, {
      method: "POST",
      headers: as(APPROVER),
    });
    expect(approved.status).toBe(200);
    const executions = await Promise.all(
      [2, 0].map((i) =>
        call(replica(i).url, "aws_modify_security_group", SG_CHANGE, REQUESTER, {
          approval_id: id,
        }),
      ),
    );
    expect(executions.map((r) => r.status).sort()).toEqual([200, 409]);
    const writes = readFileSync(join(stack.stateDir, "fixture-writes.jsonl"), "utf8")
      .split("\n")
      .filter((line) => line.includes('"action":"modify_security_group"'));
    // One change of the group (the approvers' Slack notice is a write of its own, not counted).
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain('"group_id":"sg-0a1b2c3d4e5f60718"');
  });

  it("PostgreSQL stopped: write tools refused within the bound, reads served; back: recovery without a restart", async () => {
    const target = replica(1).url;
    await postgres.halt();
    const lostAfterMs = await until(
      async () => (await readyz(target)).status === 503,
      STALE_AFTER_MS + 3_000,
    );
    console.error(
      `PostgreSQL stopped -> /readyz not ready, write tools refused by the kill switch after ${lostAfterMs.toFixed(0)} ms (bound ${String(STALE_AFTER_MS)} ms)`,
    );
    // The bound, plus one re-read period and the store's query timeout at most.
    expect(lostAfterMs).toBeLessThanOrEqual(STALE_AFTER_MS + 1_000);
    expect((await readyz(target)).body).toMatchObject({ checks: { kill_switch_store: false } });
    // Writes refused (the limit store is unreachable: fail closed), reads served.
    const refused = await comment(target);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: "limits_unavailable" });
    expect((await read(target)).status).toBe(200);

    await postgres.resume();
    await until(async () => (await readyz(target)).status === 200, 10_000);
    expect([200, 202]).toContain((await comment(target)).status);
  });

  it("a replica killed with SIGKILL: the others keep serving and its acknowledged records are in its chain", async () => {
    const victim = replica(2);
    const acknowledged = await read(victim.url);
    expect(acknowledged.status).toBe(200);
    const traceId =
      acknowledged.headers.get("x-request-id") ?? acknowledged.headers.get("traceparent");
    await victim.process.stop("SIGKILL");
    for (const survivor of [replica(0), replica(1)])
      expect((await read(survivor.url)).status).toBe(200);
    const version = await changeKillSwitch(replica(0).url, "PUT", "change-reviewer");
    await until(async () => (await killSwitchVersion(replica(1).url)) >= version, 2_000);
    await changeKillSwitch(replica(1).url, "DELETE", "change-reviewer");

    const files = replicas.map((r) => join(stack.stateDir, "audit", `audit-${r.id}.jsonl`));
    const verify = spawnSync(
      process.execPath,
      [join(REPO_ROOT, "gateway/src/cli/audit.ts"), "verify", ...files],
      {
        encoding: "utf8",
      },
    );
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    const victimLog = readFileSync(files[2] ?? "", "utf8")
      .trim()
      .split("\n");
    const records = victimLog.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.every((record) => record["replica"] === "gw-3")).toBe(true);
    const decisions = records.filter(
      (r) => r["event"] === "decision" && JSON.stringify(r).includes("jira_read"),
    );
    // The read it answered 200 for is in its chain, though it was killed right after.
    expect(decisions.length).toBeGreaterThan(0);
    if (traceId !== null) expect(JSON.stringify(records)).toContain(traceId);
  });
});
