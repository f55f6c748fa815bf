// `node gateway/bench/profile.ts`: a CPU profile of the gateway under the bench's load (the stub
// worker, every control on, a repeated token pair, wrk at 16 connections), then its heaviest
// functions and files by self time. Not a test, not part of `make bench`: a tool to find what to
// cut. Environment: PROFILE_SECONDS (default 8), PROFILE_PAIRS=fresh (a new pair per call),
// PROFILE_TOP (default 40), PROFILE_CONNECTIONS (default 16), PROFILE_KEEP=<dir> (keep the .cpuprofile there), PROFILE_TARGET=worker
// (the real agent worker behind the gateway, fixture connectors and output guard on, is profiled
// instead of the gateway in front of the stub), PROFILE_TARGET=gateway-real (the gateway in front
// of the real worker), PROFILE_TARGET=runtime (the example change-review runtime, loaded with the
// seed's whole review: identity provider, gateway and real worker behind it),
// PROFILE_TARGET=review-gateway or review-worker (that process profiled under the same whole-review
// load; with PROFILE_CONNECTIONS=1 it shows what one review costs where the review target is set).
// Failure modes: as the bench's (a service that does not come up, wrk missing) it exits non-zero.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ensureDevKeys } from "../../common/keys.ts";
import { buildPolicyVariant, outOfTheWay } from "../../scripts/lib/policy-variant.ts";
import { freePort, ROOT, startService, stopAll, type Service } from "./stack.ts";
import { mintPairs } from "./tokens.ts";
import { runWrk } from "./wrk.ts";

const SECONDS = Number(process.env["PROFILE_SECONDS"] ?? "8");
const TOP = Number(process.env["PROFILE_TOP"] ?? "40");
const FRESH = process.env["PROFILE_PAIRS"] === "fresh";
const TARGET = process.env["PROFILE_TARGET"] ?? "gateway";
const CONNECTIONS = Number(process.env["PROFILE_CONNECTIONS"] ?? "16");
const TARGETS = ["gateway", "worker", "gateway-real", "runtime", "review-gateway", "review-worker"];
if (!TARGETS.includes(TARGET)) throw new Error(`PROFILE_TARGET is one of ${TARGETS.join(", ")}`);
/** The whole review is the load: the example runtime in front of the gateway. */
const RUNTIME = TARGET === "runtime" || TARGET.startsWith("review-");
/** The worker profiled, behind the gateway. */
const WORKER = TARGET === "worker" || TARGET === "review-worker";
/** The gateway profiled (the default target, or under the review's load). */
const GATEWAY = TARGET === "gateway" || TARGET === "gateway-real" || TARGET === "review-gateway";
/** The real worker upstream (profiled or not), rather than the stub. */
const REAL = TARGET !== "gateway";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("node_modules/");
  if (modules >= 0)
    return path
      .slice(modules + 13)
      .split("/")
      .slice(0, 2)
      .join("/");
  return path.startsWith("/") ? relative(ROOT, path) : path || "(native)";
}

function summarise(profile: Profile): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (node === undefined) return;
    total += dt;
    const { functionName, url, lineNumber } = node.callFrame;
    const place = where(url);
    const key = `${functionName || "(anonymous)"} ${place}:${String(lineNumber + 1)}`;
    fn.set(key, (fn.get(key) ?? 0) + dt);
    file.set(place, (file.get(place) ?? 0) + dt);
  });
  const print = (title: string, m: Map<string, number>) => {
    console.log(`\n${title} (self time, % of ${String(Math.round(total / 1000))} ms sampled)`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP))
      console.log(`${((100 * v) / total).toFixed(1).padStart(6)} %  ${k}`);
  };
  print("files", file);
  print("functions", fn);
}

const METRICS = "profile-metrics-token-0123456789";

/** The audit log's group commits: fdatasyncs per call and records per fdatasync. */
async function printAuditMetrics(url: string, calls: number): Promise<void> {
  const response = await fetch(`${url}/metrics`, {
    headers: { authorization: `Bearer ${METRICS}` },
  });
  const text = await response.text();
  const value = (name: string) =>
    Number(new RegExp(`^${name} ([0-9.e+-]+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  const syncs = value("zyx_gateway_audit_group_commit_records_count");
  const records = value("zyx_gateway_audit_group_commit_records_sum");
  const seconds = value("zyx_gateway_audit_fsync_seconds_sum");
  console.log(
    `audit (since start, ${String(calls)} calls measured): ${String(records)} records in ${String(syncs)} syncs (${(records / syncs).toFixed(1)} per sync), mean sync ${((1e6 * seconds) / syncs).toFixed(0)} µs`,
  );
  const steps = [
    ...text.matchAll(
      /^zyx_gateway_step_duration_seconds_sum\{step="([a-z]+)",result="ok"\} ([0-9.e+-]+)$/gm,
    ),
  ].map(([, step, sum]) => {
    const count = value(
      `zyx_gateway_step_duration_seconds_count\\{step="${step ?? ""}",result="ok"\\}`,
    );
    return `${step ?? "?"} ${((1e6 * Number(sum)) / count).toFixed(0)}`;
  });
  console.log(`mean wall-clock µs per pipeline step (since start): ${steps.join(", ")}`);
}

function startStub(): Promise<Service> {
  return freePort().then((port) =>
    startService("stub", "gateway/bench/stub-worker.ts", port, "/", { PORT: String(port) }),
  );
}

/** The agent worker as the bench runs it: fixture connectors, its writes to a scratch file. */
async function startRealWorker(
  stateDir: string,
  dir: string,
  env: Record<string, string>,
): Promise<Service> {
  const port = await freePort();
  return startService("worker", "agent/src/main.ts", port, "/healthz", {
    ZYX_STATE_DIR: stateDir,
    WORKER_PORT: String(port),
    GATEWAY_CALL_JWKS: join(stateDir, "keys/gateway.jwks.json"),
    ZYX_FIXTURE_WRITES: join(dir, "fixture-writes.jsonl"),
    ...env,
  });
}

/** The identity provider and the example runtime in front of `gateway`, the runtime profiled. */
async function startRuntime(
  stateDir: string,
  gateway: Service,
  env: Record<string, string>,
): Promise<Service> {
  const idpPort = await freePort();
  const idp = await startService("idp", "idp/src/main.ts", idpPort, "/.well-known/jwks.json", {
    ZYX_STATE_DIR: stateDir,
    IDP_PORT: String(idpPort),
  });
  const port = await freePort();
  return startService("runtime", "examples/change-review/src/main.ts", port, "/healthz", {
    ZYX_STATE_DIR: stateDir,
    AGENT_PORT: String(port),
    GATEWAY_URL: gateway.url,
    IDP_URL: idp.url,
    ...env,
  });
}

async function main(): Promise<void> {
  const wrk = execFileSync(join(ROOT, "scripts/wrk.sh"), { encoding: "utf8" }).trim();
  const dir = mkdtempSync(join(tmpdir(), "zyx-profile-"));
  const stateDir = join(dir, "state");
  const profiles = join(dir, "profiles");
  mkdirSync(profiles);
  const variant = buildPolicyVariant((config) => {
    outOfTheWay(config);
    (config["limits"] as Record<string, unknown>)["window_seconds"] = 1;
  });
  try {
    const keys = (await ensureDevKeys(stateDir)).signers;
    const pairs = join(dir, "pairs.txt");
    writeFileSync(
      pairs,
      await mintPairs(keys, FRESH ? SECONDS * 3_000 : 1, RUNTIME ? "user" : "agent"),
    );
    const body = join(dir, "call.json");
    writeFileSync(
      body,
      JSON.stringify(
        RUNTIME
          ? { ticket: "CHG-18422", repository: "platform-infra", pull_request: "991" }
          : { arguments: { ticket: "CHG-18422" }, session_id: "p" },
      ),
    );
    const cpuProf = { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profiles}` };
    const upstream = REAL
      ? await startRealWorker(stateDir, dir, WORKER ? cpuProf : {})
      : await startStub();
    const port = await freePort();
    const gateway = await startService("gateway", "gateway/src/main.ts", port, "/healthz", {
      ZYX_STATE_DIR: stateDir,
      GATEWAY_PORT: String(port),
      WORKER_URL: `${upstream.url}/`,
      POLICY_BUNDLE: variant.bundle,
      AUDIT_LOG: join(dir, "audit.jsonl"),
      METRICS_TOKEN: METRICS,
      ...(GATEWAY ? cpuProf : {}),
    });
    const runtime = RUNTIME
      ? await startRuntime(stateDir, gateway, TARGET === "runtime" ? cpuProf : {})
      : undefined;
    const profiled = WORKER ? upstream : GATEWAY ? gateway : (runtime ?? gateway);
    const load = (seconds: number) =>
      runWrk(wrk, {
        url:
          runtime === undefined
            ? `${gateway.url}/v1/tools/jira_read`
            : `${runtime.url}/review-change`,
        bodyFile: body,
        pairsFile: pairs,
        connections: CONNECTIONS,
        seconds,
      });
    await load(2);
    const before = await profiled.usage();
    const result = await load(SECONDS);
    const after = await profiled.usage();
    console.log(
      `profile: ${result.rate.toFixed(0)} ${RUNTIME ? "reviews" : "calls"}/s, errors ${String(result.errors)}, ${profiled.name} CPU ${((after.cpuUs - before.cpuUs) / result.requests).toFixed(0)} µs per ${RUNTIME ? "review" : "call"}`,
    );
    await printAuditMetrics(gateway.url, result.requests);
    const exited = new Promise((r) => profiled.child.once("exit", r));
    profiled.child.kill("SIGTERM");
    await exited;
    const name = readdirSync(profiles).find((f) => f.endsWith(".cpuprofile"));
    if (name === undefined) throw new Error("no .cpuprofile written");
    const text = readFileSync(join(profiles, name), "utf8");
    const keep = process.env["PROFILE_KEEP"];
    if (keep !== undefined) {
      mkdirSync(keep, { recursive: true });
      writeFileSync(join(keep, name), text);
    }
    summarise(JSON.parse(text) as Profile);
  } finally {
    stopAll();
    variant.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  stopAll();
  process.exitCode = 1;
});
