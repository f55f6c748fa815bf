// `make bench`: one run, side by side on this machine, the load generator (wrk, C, one thread)
// on it too. Set-ups, each answering the same tool call (jira_read) or the seed's whole review:
//   the stub worker called directly; a bare Hono proxy in front of it (the ceiling: no checks);
//   the same proxy making only the gateway's two audit records durable per call (the floor of any
//   design that keeps them durable: what the targets are read against);
//   the gateway with every control on (JWT + posture verification with the verified-token cache,
//   zod, WASM decision, durable (O_DSYNC) hash-chained audit, signed call token) in front of the
//   stub, with a repeated token pair and with a new pair on every call; the same without its
//   token cache; deciding through `opa run --server` (the sidecar pattern); without the audit's
//   sync (a diagnostic, never a deployment); in front of the real worker (fixture connectors, output
//   guard); and the seed's review through the example runtime, the gateway and the worker.
// For each: calls/s at saturation (16 connections), p50/p99 at one connection, and CPU µs per
// call of each process (process.cpuUsage deltas through gateway/bench/probe.ts). Then p99 at half
// the bare proxy's saturation rate and at half the gateway's own (capacity planning), a soak for
// RSS, a `targets:` line, met or missed each, and a `floor:` line.
// Absolute figures on a shared machine are noise: read the ratios, all from this one run.
// Environment: BENCH_QUICK=1 (2 s per measurement, 20 s soak), BENCH_SECONDS, BENCH_CONNECTIONS,
// BENCH_SOAK_SECONDS (default 300: the target's five minutes), WRK (a wrk executable).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPolicyVariant, outOfTheWay } from "../../scripts/lib/policy-variant.ts";
import { ensureDevKeys } from "../../common/keys.ts";
import { mintPairs } from "./tokens.ts";
import { printReport, type Row, type Soak } from "./report.ts";
import {
  freePort,
  ROOT,
  spawnDrained,
  startService,
  stopAll,
  waitUp,
  type Service,
} from "./stack.ts";
import { runWrk, type Load, type LoadResult } from "./wrk.ts";

const QUICK = process.env["BENCH_QUICK"] === "1";
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? (QUICK ? "2" : "5"));
const CONNECTIONS = Number(process.env["BENCH_CONNECTIONS"] ?? "16");
const SOAK_SECONDS = Number(process.env["BENCH_SOAK_SECONDS"] ?? (QUICK ? "20" : "300"));
/** Enough new pairs that no measurement with "a new pair per call" sees a pair twice. */
const FRESH_PAIRS = Number(process.env["BENCH_TOKENS"] ?? String(Math.max(4_000, SECONDS * 7_000)));

interface Files {
  dir: string;
  call: string;
  review: string;
  repeated: string;
  fresh: string;
  user: string;
}

interface Setups {
  stub: Service;
  bare: Service;
  floor: Service;
  gateway: Service;
  noCache: Service;
  sidecar: Service;
  noFsync: Service;
  real: Service;
  worker: Service;
  idp: Service;
  runtime: Service;
}

/**
 * The policy data the chaos run uses too (limits, suspension and recent-denial risk out of the
 * way, business hours that never end), with a 1 s limit window: the limiter still runs on every
 * call, and its sliding-window log stays short at these rates.
 */
function benchPolicy(config: Record<string, unknown>): void {
  outOfTheWay(config);
  (config["limits"] as Record<string, unknown>)["window_seconds"] = 1;
}

async function startSetups(
  dir: string,
  stateDir: string,
  bundle: string,
  rego: string,
): Promise<Setups> {
  const stubPort = await freePort();
  const stub = await startService("stub", "gateway/bench/stub-worker.ts", stubPort, "/", {
    PORT: String(stubPort),
  });
  const stubUrl = `${stub.url}/`;
  const barePort = await freePort();
  const bare = await startService("bare", "gateway/bench/bare-proxy.ts", barePort, "/", {
    PORT: String(barePort),
    WORKER_URL: stubUrl,
  });
  const floorPort = await freePort();
  const floor = await startService("floor", "gateway/bench/bare-proxy.ts", floorPort, "/", {
    PORT: String(floorPort),
    WORKER_URL: stubUrl,
    BARE_AUDIT_LOG: join(dir, "audit-floor.jsonl"),
  });
  const opaPort = await freePort();
  const opa = spawnDrained(
    "opa",
    join(ROOT, ".tools/bin/opa"),
    ["run", "--server", "--addr", `127.0.0.1:${opaPort}`, "--log-level", "error", rego],
    {},
  );
  await waitUp(`http://127.0.0.1:${opaPort}/health`, opa);
  const gateway = async (name: string, workerUrl: string, env: Record<string, string> = {}) => {
    const port = await freePort();
    return startService(name, "gateway/src/main.ts", port, "/healthz", {
      ZYX_STATE_DIR: stateDir,
      GATEWAY_PORT: String(port),
      WORKER_URL: workerUrl,
      POLICY_BUNDLE: bundle,
      AUDIT_LOG: join(dir, `audit-${name}.jsonl`),
      ...env,
    });
  };
  const workerPort = await freePort();
  const worker = await startService("worker", "agent/src/main.ts", workerPort, "/healthz", {
    ZYX_STATE_DIR: stateDir,
    WORKER_PORT: String(workerPort),
    GATEWAY_CALL_JWKS: join(stateDir, "keys/gateway.jwks.json"),
    ZYX_FIXTURE_WRITES: join(dir, "fixture-writes.jsonl"),
  });
  const idpPort = await freePort();
  const idp = await startService("idp", "idp/src/main.ts", idpPort, "/.well-known/jwks.json", {
    ZYX_STATE_DIR: stateDir,
    IDP_PORT: String(idpPort),
  });
  const real = await gateway("real", `${worker.url}/`);
  const runtimePort = await freePort();
  const runtime = await startService(
    "runtime",
    "examples/change-review/src/main.ts",
    runtimePort,
    "/healthz",
    {
      ZYX_STATE_DIR: stateDir,
      AGENT_PORT: String(runtimePort),
      GATEWAY_URL: real.url,
      IDP_URL: idp.url,
    },
  );
  return {
    stub,
    bare,
    floor,
    gateway: await gateway("wasm", stubUrl),
    noCache: await gateway("nocache", stubUrl, { IDP_TOKEN_CACHE_MAX: "0" }),
    sidecar: await gateway("sidecar", stubUrl, { POLICY_OPA_URL: `http://127.0.0.1:${opaPort}/` }),
    noFsync: await gateway("nofsync", stubUrl, { AUDIT_FSYNC: "false" }),
    real,
    worker,
    idp,
    runtime,
  };
}

async function writeFiles(dir: string, stateDir: string): Promise<Files> {
  const files: Files = {
    dir,
    call: join(dir, "call.json"),
    review: join(dir, "review.json"),
    repeated: join(dir, "repeated.txt"),
    fresh: join(dir, "fresh.txt"),
    user: join(dir, "user.txt"),
  };
  writeFileSync(
    files.call,
    JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "bench" }),
  );
  writeFileSync(
    files.review,
    JSON.stringify({ ticket: "CHG-18422", repository: "platform-infra", pull_request: "991" }),
  );
  const keys = (await ensureDevKeys(stateDir)).signers;
  console.log(`bench: minting ${FRESH_PAIRS} access and posture token pairs…`);
  writeFileSync(files.repeated, await mintPairs(keys, 1, "agent"));
  writeFileSync(files.user, await mintPairs(keys, 1, "user"));
  writeFileSync(files.fresh, await mintPairs(keys, FRESH_PAIRS, "agent"));
  return files;
}

/** Every set-up must answer 200 before it is measured: a benchmark of refusals measures nothing. */
async function checkAnswers(files: Files, targets: readonly [string, string][]): Promise<void> {
  const { readFileSync } = await import("node:fs");
  for (const [url, kind] of targets) {
    const [access, posture] = readFileSync(kind === "review" ? files.user : files.repeated, "utf8")
      .trim()
      .split(" ");
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${access ?? ""}`,
        "x-device-posture": posture ?? "",
      },
      body: readFileSync(kind === "review" ? files.review : files.call, "utf8"),
    });
    if (response.status !== 200)
      throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
    await response.body?.cancel();
  }
}

class Bench {
  readonly rows: Row[] = [];
  /** Per URL, how many of the fresh pairs were used: a pair is never sent twice. */
  readonly #freshUsed = new Map<string, number>();

  readonly wrk: string;
  readonly files: Files;

  constructor(wrk: string, files: Files) {
    this.wrk = wrk;
    this.files = files;
  }

  load(
    url: string,
    pairs: "repeated" | "fresh" | "user",
    connections: number,
    seconds: number,
    delayMs = 0,
  ): Load {
    const offset = pairs === "fresh" ? (this.#freshUsed.get(url) ?? 0) : 0;
    return {
      url,
      bodyFile: pairs === "user" ? this.files.review : this.files.call,
      pairsFile: this.files[pairs],
      offset,
      connections,
      seconds,
      delayMs,
    };
  }

  async run(load: Load): Promise<LoadResult> {
    const result = await runWrk(this.wrk, load);
    if (load.pairsFile === this.files.fresh) {
      this.#freshUsed.set(load.url, (load.offset ?? 0) + result.requests + load.connections);
      if ((load.offset ?? 0) + result.requests > FRESH_PAIRS)
        console.log(`bench: warning: ${load.url} saw some token pairs twice (raise BENCH_TOKENS)`);
    }
    return result;
  }

  /** Saturation (after a 1 s warm-up on the repeated pair), CPU per call of `watched`. */
  async saturate(
    url: string,
    pairs: "repeated" | "fresh" | "user",
    watched: Service[],
    connections = CONNECTIONS,
  ) {
    await this.run(this.load(url, pairs === "fresh" ? "repeated" : pairs, connections, 1));
    const before = await Promise.all(watched.map((s) => s.usage()));
    const sat = await this.run(this.load(url, pairs, connections, SECONDS));
    const after = await Promise.all(watched.map((s) => s.usage()));
    const cpu: Record<string, number> = {};
    watched.forEach((service, i) => {
      cpu[service.name] =
        ((after[i]?.cpuUs ?? 0) - (before[i]?.cpuUs ?? 0)) / Math.max(1, sat.requests);
    });
    return { sat, cpu };
  }

  async measure(
    setup: string,
    tokens: string,
    url: string,
    pairs: "repeated" | "fresh" | "user",
    watched: Service[],
    oneConnection = true,
  ): Promise<Row> {
    const { sat, cpu } = await this.saturate(url, pairs, watched);
    const one = oneConnection ? await this.run(this.load(url, pairs, 1, SECONDS)) : undefined;
    const row: Row = { setup, tokens, sat, cpu, ...(one === undefined ? {} : { one }) };
    this.rows.push(row);
    console.log(`  done: ${setup}, ${tokens} (${sat.rate.toFixed(0)} calls/s)`);
    return row;
  }
}

/** p99 at `rate` calls/s: paced connections (each pauses 2 ms after an answer), calibrated once. */
async function paced(bench: Bench, url: string, rate: number, p50us: number): Promise<LoadResult> {
  const delayMs = 2;
  let connections = Math.max(1, Math.round(rate * (delayMs / 1000 + p50us / 1e6)));
  const trial = await bench.run(bench.load(url, "repeated", connections, 1, delayMs));
  connections = Math.max(1, Math.round((connections * rate) / Math.max(1, trial.rate)));
  return bench.run(bench.load(url, "repeated", connections, SECONDS, delayMs));
}

/** RSS of `service` every 5 s under saturation; the first fifth of the run is its warm-up. */
async function soak(bench: Bench, service: Service): Promise<Soak> {
  const samples: number[] = [];
  const heapUsed: number[] = [];
  const heapTotal: number[] = [];
  const external: number[] = [];
  const running = bench.run(
    bench.load(`${service.url}/v1/tools/jira_read`, "repeated", CONNECTIONS, SOAK_SECONDS),
  );
  const start = Date.now();
  const every = Math.min(5_000, (SOAK_SECONDS * 1000) / 10);
  while (Date.now() - start < SOAK_SECONDS * 1000 - every / 2) {
    await new Promise((r) => setTimeout(r, every));
    const usage = await service.usage();
    samples.push(usage.rss);
    heapUsed.push(usage.heapUsed);
    heapTotal.push(usage.heapTotal);
    external.push(usage.external);
  }
  const load = await running;
  const warm = Math.floor(samples.length / 5);
  return {
    seconds: SOAK_SECONDS,
    rate: load.rate,
    samples: samples.slice(warm),
    heapUsed: heapUsed.slice(warm),
    heapTotal: heapTotal.slice(warm),
    external: external.slice(warm),
  };
}

async function measureAll(
  bench: Bench,
  s: Setups,
): Promise<{ half: LoadResult; ownHalf: LoadResult; soak: Soak }> {
  const call = (service: Service) => `${service.url}/v1/tools/jira_read`;
  await bench.measure(
    "stub worker, direct",
    "-",
    `${s.stub.url}/v1/execute/jira_read`,
    "repeated",
    [s.stub],
  );
  const bare = await bench.measure(
    "bare Hono proxy → stub (ceiling)",
    "-",
    call(s.bare),
    "repeated",
    [s.bare],
  );
  await bench.measure(
    "floor: bare proxy + the two durable audit records",
    "-",
    call(s.floor),
    "repeated",
    [s.floor],
  );
  const gw = await bench.measure(
    "gateway, every control on → stub",
    "repeated",
    call(s.gateway),
    "repeated",
    [s.gateway],
  );
  await bench.measure(
    "gateway, every control on → stub",
    "new per call",
    call(s.gateway),
    "fresh",
    [s.gateway],
  );
  await bench.measure(
    "gateway, token cache off → stub",
    "repeated",
    call(s.noCache),
    "repeated",
    [s.noCache],
    false,
  );
  await bench.measure("gateway via OPA sidecar → stub", "repeated", call(s.sidecar), "repeated", [
    s.sidecar,
  ]);
  await bench.measure(
    "diagnostic: audit without fdatasync → stub",
    "repeated",
    call(s.noFsync),
    "repeated",
    [s.noFsync],
    false,
  );
  await bench.measure(
    "gateway → real worker (fixtures, output guard)",
    "repeated",
    call(s.real),
    "repeated",
    [s.real, s.worker],
  );
  await bench.measure(
    "whole review (runtime → idp, gateway ×6 → worker)",
    "user's, exchanged",
    `${s.runtime.url}/review-change`,
    "user",
    [s.runtime, s.idp, s.real, s.worker],
  );
  const half = await paced(bench, call(s.gateway), bare.sat.rate / 2, gw.one?.p50us ?? 1_000);
  console.log(`  done: p99 at half the bare proxy's rate (${half.rate.toFixed(0)} calls/s)`);
  // Below its own saturation the paced line above measures a queue; this one, the tail a caller
  // sees at half the load the gateway itself can carry (for capacity planning, not a target).
  const ownHalf = await paced(bench, call(s.gateway), gw.sat.rate / 2, gw.one?.p50us ?? 1_000);
  console.log(`  done: p99 at half the gateway's own rate (${ownHalf.rate.toFixed(0)} calls/s)`);
  console.log(`bench: soak, ${SOAK_SECONDS} s at saturation, RSS of the gateway every 5 s…`);
  return { half, ownHalf, soak: await soak(bench, s.gateway) };
}

async function main(): Promise<void> {
  const wrk = execFileSync(join(ROOT, "scripts/wrk.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  const dir = mkdtempSync(join(tmpdir(), "zyx-bench-"));
  const stateDir = join(dir, "state");
  const variant = buildPolicyVariant(benchPolicy);
  try {
    const files = await writeFiles(dir, stateDir);
    const setups = await startSetups(dir, stateDir, variant.bundle, variant.regoBundle);
    const call = (service: Service) => `${service.url}/v1/tools/jira_read`;
    await checkAnswers(files, [
      ...[
        setups.bare,
        setups.floor,
        setups.gateway,
        setups.noCache,
        setups.sidecar,
        setups.noFsync,
        setups.real,
      ].map((s) => [call(s), "call"] as [string, string]),
      [`${setups.runtime.url}/review-change`, "review"],
    ]);
    console.log(
      `bench: wrk -t1, ${SECONDS} s per measurement, ${CONNECTIONS} connections at saturation${QUICK ? " (quick mode: indicative only)" : ""}`,
    );
    const bench = new Bench(wrk, files);
    const { half, ownHalf, soak: soaked } = await measureAll(bench, setups);
    printReport(bench.rows, { half, ownHalf }, soaked, QUICK);
  } finally {
    stopAll();
    rmSync(dir, { recursive: true, force: true });
    variant.remove();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  stopAll();
  process.exitCode = 1;
});
