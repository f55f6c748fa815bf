// Slow clients against the real processes: a stalled request body or a trickle of headers is
// cut off by the server's request timeouts (common/service.ts), not held for Node's five
// minutes. Each process of the project is started with short timeouts and probed with a raw
// socket.
import { connect } from "node:net";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../gateway/test/support/opa-server.ts";
import { REPO_ROOT, startNode, waitFor, type Started } from "../support/processes.ts";

const TIMEOUTS = { SERVER_REQUEST_TIMEOUT_MS: "1000", SERVER_HEADERS_TIMEOUT_MS: "500" };
const started: Started[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

/** Sends `head` then nothing more; resolves with how long the server kept the socket open. */
function stall(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = connect(port, "127.0.0.1", () => socket.write(head));
    socket.on("data", () => undefined);
    socket.on("close", () => {
      resolve(Date.now() - t0);
    });
    socket.on("error", () => undefined);
    setTimeout(() => {
      socket.destroy();
      reject(new Error("the server held a stalled request for 15 s"));
    }, 15_000).unref();
  });
}

const servers: [string, string, string, (port: number, state: string) => Record<string, string>][] =
  [
    [
      "gateway",
      "gateway/src/main.ts",
      "/healthz",
      (port, state) => ({
        GATEWAY_PORT: String(port),
        ZYX_STATE_DIR: state,
        POLICY_BUNDLE: join(REPO_ROOT, "policy-bundle/bundle.tar.gz"),
      }),
    ],
    [
      "identity provider",
      "idp/src/main.ts",
      "/.well-known/jwks.json",
      (port, state) => ({ IDP_PORT: String(port), ZYX_STATE_DIR: state }),
    ],
  ];

describe.each(servers)("the %s cuts off slow clients", (_name, script, ready, env) => {
  it("a stalled body and trickled headers are closed within the bound", async () => {
    const port = await freePort();
    const state = mkdtempSync(join(tmpdir(), "zyx-slow-"));
    const process = startNode(script, { ...env(port, state), ...TIMEOUTS });
    started.push(process);
    await waitFor(`http://127.0.0.1:${String(port)}${ready}`, process);
    const body = await stall(
      port,
      "POST /v1/tools/jira_read HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
    );
    expect(body).toBeLessThan(5_000);
    const headers = await stall(port, "GET /healthz HTTP/1.1\r\nhost: x\r\n");
    expect(headers).toBeLessThan(5_000);
  });
});
