// `make bench`: one run, side by side on this machine, the load generator on it too.
// Set-ups in front of the same stub worker: a bare Hono proxy (the ceiling: no checks), the
// gateway with every control on (JWT + posture verification, zod, WASM decision, fdatasync'ed
// hash-chained audit, signed call token), the same gateway without its verified-token cache, and
// the gateway deciding through `opa run --server` over HTTP (the sidecar pattern).
// For each: calls/s at saturation, and latency p50/p99 at a fixed 2,000 calls/s with what it
// adds over calling the worker directly; for a new token pair on every call and a repeated one.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { buildPolicyVariant } from "../../scripts/lib/policy-variant.ts";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import {
  ensureDevKeys,
  readPrivateJwk,
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
} from "../../common/keys.ts";
import { mintAccessToken, mintPostureToken } from "../../idp/src/mint.ts";
import { fixedRate, saturate, type LoadResult, type Target } from "./load.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? "5");
const RATE = Number(process.env["BENCH_RATE"] ?? "2000");
const CONNECTIONS = Number(process.env["BENCH_CONNECTIONS"] ?? "32");
const TOKENS = Number(process.env["BENCH_TOKENS"] ?? "20000");

const children: ChildProcess[] = [];

function start(command: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  child.stderr.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    if (/"level":"error"|Error/.test(text))
      process.stderr.write(`[${args.at(-1) ?? command}] ${text}`);
  });
  return child;
}

async function portOf(child: ChildProcess): Promise<number> {
  if (child.stdout === null) throw new Error("no stdout");
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    try {
      const parsed = JSON.parse(line) as { port?: number };
      if (typeof parsed.port === "number") return parsed.port;
    } catch {
      // not our line
    }
  }
  throw new Error("process exited before telling its port");
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((done) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        done(typeof address === "object" && address !== null ? address.port : 0);
      });
    });
  });
}

async function waitUp(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.status < 500) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

function us(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value)} µs` : "n/a";
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "zyx-bench-"));
  const stateDir = join(dir, "state");
  // The policy with its call limits raised out of the way: the limiter still runs on every call
  // (every control on), but the load measures the controls' cost, not their refusals.
  const variant = buildPolicyVariant((config) => {
    const limits = config["limits"] as Record<string, unknown>;
    const perTool = limits["per_tool"] as Record<string, number>;
    for (const tool of Object.keys(perTool)) perTool[tool] = 100_000;
    Object.assign(limits, {
      per_agent: 100_000,
      per_user: 100_000,
      suspend_agent_after_denials: 10_000,
    });
  });
  const keys = (await ensureDevKeys(stateDir)).signers;

  const worker = start(process.execPath, [join(ROOT, "gateway/bench/stub-worker.ts")], {});
  const workerUrl = `http://127.0.0.1:${await portOf(worker)}/`;
  const bare = start(process.execPath, [join(ROOT, "gateway/bench/bare-proxy.ts")], {
    WORKER_URL: workerUrl,
  });
  const bareUrl = `http://127.0.0.1:${await portOf(bare)}`;

  const opaPort = await freePort();
  start(
    join(ROOT, ".tools/bin/opa"),
    [
      "run",
      "--server",
      "--addr",
      `127.0.0.1:${opaPort}`,
      "--log-level",
      "error",
      variant.regoBundle,
    ],
    {},
  );
  await waitUp(`http://127.0.0.1:${opaPort}/health`);

  const gateway = async (name: string, env: Record<string, string>): Promise<string> => {
    const port = await freePort();
    start(process.execPath, [join(ROOT, "gateway/src/main.ts")], {
      ZYX_STATE_DIR: stateDir,
      GATEWAY_PORT: String(port),
      WORKER_URL: workerUrl,
      POLICY_BUNDLE: variant.bundle,
      AUDIT_LOG: join(dir, `audit-${name}.jsonl`),
      ...env,
    });
    await waitUp(`http://127.0.0.1:${port}/healthz`);
    return `http://127.0.0.1:${port}`;
  };
  const gatewayUrl = await gateway("wasm", {});
  const noCacheUrl = await gateway("nocache", { IDP_TOKEN_CACHE_MAX: "0" });
  const sidecarUrl = await gateway("sidecar", { POLICY_OPA_URL: `http://127.0.0.1:${opaPort}/` });
  // Diagnostic only (never a deployment): what the fdatasync of the audit costs.
  const noFsyncUrl = await gateway("nofsync", { AUDIT_FSYNC: "false" });

  console.log(`bench: minting ${TOKENS} access and posture token pairs…`);
  const idp = await readPrivateJwk(keys.idp.privateJwk);
  const device = await readPrivateJwk(keys["device-trust"].privateJwk);
  const user = "engineer@zyxbank.example";
  const now = Math.floor(Date.now() / 1000);
  const pair = async () => [
    await mintAccessToken({
      privateJwk: idp,
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user,
      groups: ["grp-ai-users", "grp-ai-devops-readonly"],
      agent: "change-reviewer",
      ttlSec: 3_600,
      now,
    }),
    await mintPostureToken({
      privateJwk: device,
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user,
      compliant: true,
      checkedAt: now,
      ttlSec: 3_600,
      now,
    }),
  ];
  const fresh: string[][] = [];
  for (let i = 0; i < TOKENS; i++) fresh.push(await pair());
  const repeated = await pair();
  const headersFor = (mode: "new" | "repeated") => (i: number) => {
    const [access, posture] = mode === "new" ? (fresh[i % fresh.length] ?? repeated) : repeated;
    return { authorization: `Bearer ${access ?? ""}`, "x-device-posture": posture ?? "" };
  };
  const body = JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "bench" });
  const tool = (base: string, path = "/v1/tools/jira_read"): URL => new URL(path, base);

  // Every set-up must answer 200 before it is measured: a benchmark of refusals measures nothing.
  for (const base of [bareUrl, gatewayUrl, noCacheUrl, sidecarUrl, noFsyncUrl]) {
    const response = await fetch(tool(base), {
      method: "POST",
      headers: { "content-type": "application/json", ...headersFor("repeated")(0) },
      body,
    });
    if (response.status !== 200)
      throw new Error(`${base} answered ${response.status}: ${await response.text()}`);
  }

  const measure = async (target: Target): Promise<{ sat: LoadResult; fixed: LoadResult }> => {
    await saturate(target, CONNECTIONS, 1); // warm-up: JIT, connections, caches
    const sat = await saturate(target, CONNECTIONS, SECONDS);
    const fixed = await fixedRate(target, RATE, SECONDS);
    return { sat, fixed };
  };

  console.log(
    `bench: ${SECONDS} s per measurement, ${CONNECTIONS} connections at saturation, ${RATE} calls/s fixed`,
  );
  const direct = await measure({
    url: tool(workerUrl, "/v1/execute/jira_read"),
    headers: () => ({}),
    body,
  });
  const rows: { setup: string; tokens: string; r: { sat: LoadResult; fixed: LoadResult } }[] = [];
  for (const [setup, base] of [
    ["bare Hono proxy (ceiling)", bareUrl],
    ["gateway, every control on", gatewayUrl],
    ["gateway, token cache off", noCacheUrl],
    ["gateway via OPA sidecar", sidecarUrl],
    ["diagnostic: gateway, audit without fdatasync", noFsyncUrl],
  ] as const) {
    for (const mode of ["new", "repeated"] as const) {
      rows.push({
        setup,
        tokens: mode === "new" ? "new per call" : "repeated",
        r: await measure({ url: tool(base), headers: headersFor(mode), body }),
      });
      const last = rows.at(-1);
      console.log(
        `  done: ${setup}, ${mode} tokens (${last?.r.sat.rate.toFixed(0) ?? "?"} calls/s)`,
      );
    }
  }

  const bareRate = (mode: string) =>
    rows.find((r) => r.setup.startsWith("bare") && r.tokens === mode)?.r.sat.rate ?? Number.NaN;
  console.log("");
  console.log(
    `direct to the stub worker: ${direct.sat.rate.toFixed(0)} calls/s at saturation; at ${RATE}/s p50 ${us(direct.fixed.p50us)}, p99 ${us(direct.fixed.p99us)}`,
  );
  console.log("");
  console.log(
    `| set-up | tokens | calls/s (saturation) | vs bare | p50 @${RATE}/s | p99 @${RATE}/s | added p50 | added p99 | errors |`,
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const { setup, tokens, r } of rows) {
    const ratio = r.sat.rate / bareRate(tokens);
    console.log(
      `| ${setup} | ${tokens} | ${r.sat.rate.toFixed(0)} | ${(ratio * 100).toFixed(0)}% | ${us(r.fixed.p50us)} | ${us(r.fixed.p99us)} | ${us(r.fixed.p50us - direct.fixed.p50us)} | ${us(r.fixed.p99us - direct.fixed.p99us)} | ${r.sat.errors + r.fixed.errors} |`,
    );
  }
  const find = (setup: string, tokens: string) =>
    rows.find((r) => r.setup.startsWith(setup) && r.tokens === tokens)?.r;
  console.log("");
  for (const tokens of ["new per call", "repeated"]) {
    const g = find("gateway, every", tokens);
    const s = find("gateway via OPA", tokens);
    if (g === undefined || s === undefined) continue;
    console.log(
      `targets (${tokens} tokens): ${((g.sat.rate / bareRate(tokens)) * 100).toFixed(0)}% of bare (target >= 40%); ` +
        `added p50 ${us(g.fixed.p50us - direct.fixed.p50us)} (<= 250 µs); added p99 ${us(g.fixed.p99us - direct.fixed.p99us)} (<= 1000 µs); ` +
        `vs sidecar ${(g.sat.rate / s.sat.rate).toFixed(2)}x calls/s, p50 ${us(g.fixed.p50us)} vs ${us(s.fixed.p50us)}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  variant.remove();
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of children) child.kill("SIGTERM");
  });
