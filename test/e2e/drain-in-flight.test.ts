// A graceful stop (SIGTERM) lets the calls in flight finish and records them: the drain waits for
// the calls, not for their sockets. A client that closes its socket while its write is at the
// worker (an agent runtime cancelling, a load balancer's idle cut) must not let the gateway close
// its audit log and exit while the write it handed off still runs: the write happens and nothing
// records it (the decision says allowed, no outcome, not even "unknown").
import { createServer, type Server } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { freePort } from "../../gateway/test/support/opa-server.ts";
import { ENGINEER, tokenArgs } from "../support/fixtures.ts";
import { REPO_ROOT, startNode, waitFor, type Started } from "../support/processes.ts";

type Line = Record<string, unknown>;

/** A worker that takes `delayMs` to run each call, then answers a valid success. */
function slowWorker(delayMs: number): {
  server: Server;
  received: Promise<void>;
  executed: Promise<void>;
} {
  const received = Promise.withResolvers<undefined>();
  const executed = Promise.withResolvers<undefined>();
  const server = createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    req.resume();
    req.on("end", () => {
      received.resolve(undefined);
      setTimeout(() => {
        // The write is made (Jira has the comment) whatever becomes of the answer.
        executed.resolve(undefined);
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            result: { ticket: "CHG-18422", comment_id: "10001" },
            compensation: {
              rollback: {
                tool: "jira_delete_comment",
                arguments: { ticket: "CHG-18422", comment_id: "10001" },
              },
            },
            evidence: {
              untrusted: true,
              redactions: 0,
              injection: { suspected: false, indicators: [] },
            },
          }),
        );
      }, delayMs);
    });
  });
  return { server, received: received.promise, executed: executed.promise };
}

const started: Started[] = [];
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop("SIGKILL")));
  for (const s of servers) s.close();
});

describe("graceful stop with a write in flight", () => {
  it("a client that hangs up mid-call does not let the gateway exit before recording it", async () => {
    const worker = slowWorker(1_500);
    servers.push(worker.server);
    worker.server.listen(0, "127.0.0.1");
    await new Promise((done) => worker.server.once("listening", done));
    const workerPort = (worker.server.address() as AddressInfo).port;

    const stateDir = mkdtempSync(join(tmpdir(), "zyx-drain-"));
    const port = await freePort();
    const gateway = startNode("gateway/src/main.ts", {
      ZYX_STATE_DIR: stateDir,
      GATEWAY_PORT: String(port),
      WORKER_URL: `http://127.0.0.1:${String(workerPort)}/`,
      WORKER_TIMEOUT_MS: "5000",
      POLICY_BUNDLE: join(REPO_ROOT, "policy-bundle/bundle.tar.gz"),
    });
    started.push(gateway);
    const url = `http://127.0.0.1:${String(port)}`;
    await waitFor(`${url}/readyz`, gateway);
    const token = (...args: string[]) => {
      const run = spawnSync(
        process.execPath,
        [join(REPO_ROOT, "idp/src/cli/token.ts"), ...args, "--state-dir", stateDir],
        { encoding: "utf8" },
      );
      if (run.status !== 0) throw new Error(run.stderr);
      return run.stdout.trim();
    };

    const client = new AbortController();
    const call = fetch(`${url}/v1/tools/jira_add_comment`, {
      method: "POST",
      signal: client.signal,
      headers: {
        authorization: `Bearer ${token("access", ...tokenArgs(ENGINEER))}`,
        "x-device-posture": token("posture", "--user", ENGINEER.user),
        "content-type": "application/json",
      },
      body: JSON.stringify({
        arguments: { ticket: "CHG-18422", body: "AI security review: no findings." },
        session_id: "drain-1",
      }),
    }).catch(() => undefined);

    // The write is at the worker; the platform stops the gateway; the client hangs up.
    await worker.received;
    const exited = new Promise<number | null>((done) => gateway.child.once("exit", done));
    gateway.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 100));
    client.abort();
    await call;
    await worker.executed;
    const code = await exited;

    const records = readFileSync(join(stateDir, "audit/audit.jsonl"), "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Line)
      .filter((r) => r["tool"] === "jira_add_comment");
    const decision = records.find((r) => r["event"] === "decision");
    expect(decision).toMatchObject({ decision: { allow: true } });
    const outcome = records.find(
      (r) => r["event"] === "outcome" && r["decision_id"] === decision?.["decision_id"],
    );
    // The write ran: its outcome is on record (executed, or at least unknown), and a stop that
    // lost it would not exit 0.
    expect({ code, outcome: outcome?.["outcome"] }).toMatchObject({
      code: 0,
      outcome: { status: "executed" },
    });
  }, 30_000);
});
