// Starts the real processes (gateway, worker) on free loopback ports with a temporary state
// folder, and mints tokens with the real command, as a newcomer following the README would.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../../gateway/test/support/opa-server.ts";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
const NODE = process.execPath;

export interface Started {
  child: ChildProcess;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startNode(script: string, env: Record<string, string>): Started {
  const child = spawn(NODE, [join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return {
    child,
    output: () => output,
    stop: (signal = "SIGTERM") =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          done(child.exitCode);
          return;
        }
        child.once("exit", (code) => {
          done(code);
        });
        child.kill(signal);
      }),
  };
}

export async function waitFor(url: string, started: Started, status = 200): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.status === status) return;
    } catch {
      // not up yet
    }
    if (started.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${url} did not answer ${status}:\n${started.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Stack {
  stateDir: string;
  gatewayUrl: string;
  /** The gateway's environment, to start it again on the same state (a restart). */
  gatewayEnv: Record<string, string>;
  gateway: Started;
  worker: Started;
  /** The development identity provider, when started with `{ idp: true }`. */
  idp?: Started;
  idpUrl?: string;
  token(...args: string[]): string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Also start the development identity provider (token exchange) on the same state. */
  idp?: boolean;
  /** Another policy bundle than policy-bundle/bundle.tar.gz. */
  policyBundle?: string;
  /** More variables for the gateway and for the worker (tracing, decision logs, metrics...). */
  gatewayEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

/** The gateway and the worker (and the identity provider), wired as `make run` wires them. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const stateDir = mkdtempSync(join(tmpdir(), "zyx-stack-"));
  const [gatewayPort, workerPort] = [await freePort(), await freePort()];
  const idpPort = options.idp === true ? await freePort() : undefined;
  const gatewayEnv: Record<string, string> = {
    ...(idpPort === undefined ? {} : { CONSOLE_IDP_URL: `http://127.0.0.1:${String(idpPort)}` }),
    ZYX_STATE_DIR: stateDir,
    GATEWAY_PORT: String(gatewayPort),
    WORKER_URL: `http://127.0.0.1:${workerPort}/`,
    POLICY_BUNDLE: options.policyBundle ?? join(REPO_ROOT, "policy-bundle/bundle.tar.gz"),
    ...options.gatewayEnv,
  };
  const gateway = startNode("gateway/src/main.ts", gatewayEnv);
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  await waitFor(`${gatewayUrl}/healthz`, gateway);
  const worker = startNode("agent/src/main.ts", {
    ZYX_STATE_DIR: stateDir,
    WORKER_PORT: String(workerPort),
    GATEWAY_CALL_JWKS: join(stateDir, "keys/gateway.jwks.json"),
    ZYX_FIXTURE_WRITES: join(stateDir, "fixture-writes.jsonl"),
    ...options.workerEnv,
  });
  await waitFor(`${gatewayUrl}/readyz`, gateway);
  let idp: Started | undefined;
  let idpUrl: string | undefined;
  if (idpPort !== undefined) {
    idp = startNode("idp/src/main.ts", {
      ZYX_STATE_DIR: stateDir,
      IDP_PORT: String(idpPort),
      IDP_CONSOLE_REDIRECT_URIS: `${gatewayUrl}/console/callback`,
    });
    idpUrl = `http://127.0.0.1:${idpPort}`;
    await waitFor(`${idpUrl}/.well-known/jwks.json`, idp);
  }
  return {
    stateDir,
    gatewayUrl,
    gatewayEnv,
    gateway,
    worker,
    ...(idp === undefined ? {} : { idp }),
    ...(idpUrl === undefined ? {} : { idpUrl }),
    token: (...args) => {
      const run = spawnSync(
        NODE,
        [join(REPO_ROOT, "idp/src/cli/token.ts"), ...args, "--state-dir", stateDir],
        {
          encoding: "utf8",
        },
      );
      if (run.status !== 0) throw new Error(`token ${args.join(" ")}: ${run.stderr}`);
      return run.stdout.trim();
    },
    stop: async () => {
      await Promise.all([gateway.stop(), worker.stop(), idp?.stop()]);
    },
  };
}

/**
 * Starts the gateway with `env` on a fresh state folder and a free port; resolves with its exit
 * code, or "listening" once it serves (then killed): what a boot-time check of a setting needs.
 */
export async function bootGateway(
  env: Record<string, string>,
): Promise<{ outcome: number | string | null; output: string }> {
  const gateway = startNode("gateway/src/main.ts", {
    ZYX_STATE_DIR: mkdtempSync(join(tmpdir(), "zyx-boot-")),
    GATEWAY_PORT: String(await freePort()),
    ...env,
  });
  const deadline = Date.now() + 15_000;
  while (gateway.child.exitCode === null && Date.now() < deadline) {
    if (gateway.output().includes('"message":"listening"')) {
      await gateway.stop("SIGKILL");
      return { outcome: "listening", output: gateway.output() };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { outcome: await gateway.stop("SIGKILL"), output: gateway.output() };
}
