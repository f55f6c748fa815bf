// `node gateway/bench/compare.ts <git revision> [<other revision>]`: the gateway at that revision
// against the one in this working tree (or at the other revision), side by side in one run, behind the same stub worker with the same policy
// and a repeated token pair, next to the bare proxy. Rounds alternate between the set-ups (wrk,
// 16 connections) so that the machine's other load falls on all of them; then one connection
// each. Prints per set-up the median calls/s, its ratio to the bare proxy, the gateway's CPU µs
// per call and the p50 at one connection. A tool for deciding whether a change pays, not a test.
// Each revision's tree is extracted (git archive) under .bench-base/ in this repository, where it
// resolves this tree's node_modules; removed at the end. Environment: COMPARE_ROUNDS (3),
// COMPARE_SECONDS (4), COMPARE_PAIRS=fresh (a new token pair per call), COMPARE_OTHER_NODE_OPTIONS
// (NODE_OPTIONS for the second gateway only: `compare.ts HEAD` then measures a flag alone),
// COMPARE_OTHER_ENV ("NAME=value NAME2=value" for the second gateway only, as UV_THREADPOOL_SIZE),
// COMPARE_TARGET=review (the seed's whole review instead: each revision's example runtime, gateway
// and real worker, fixtures and output guard on, behind one identity provider; every round at one
// connection, the review target; prints the median p50 and each process's CPU µs per review).
// Failure modes: an unknown revision, a set-up that does not answer 200: exits non-zero.
import { execFileSync, execSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDevKeys } from "../../common/keys.ts";
import { buildPolicyVariant, outOfTheWay } from "../../scripts/lib/policy-variant.ts";
import { freePort, ROOT, startService, stopAll, type Service } from "./stack.ts";
import { mintPairs } from "./tokens.ts";
import { runWrk, type LoadResult } from "./wrk.ts";

const ROUNDS = Number(process.env["COMPARE_ROUNDS"] ?? "3");
const SECONDS = Number(process.env["COMPARE_SECONDS"] ?? "4");
const FRESH = process.env["COMPARE_PAIRS"] === "fresh";
/** Node options for the second gateway only (a runtime flag measured against none). */
const OTHER_NODE_OPTIONS = process.env["COMPARE_OTHER_NODE_OPTIONS"];
/** More environment for the second gateway only, as NAME=value pairs split on spaces. */
const OTHER_ENV: Record<string, string> = {
  ...(OTHER_NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: OTHER_NODE_OPTIONS }),
  ...Object.fromEntries(
    (process.env["COMPARE_OTHER_ENV"] ?? "")
      .split(" ")
      .filter((pair) => pair.includes("="))
      .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
  ),
};
const BASE_DIR = join(ROOT, ".bench-base");
const TARGET = process.env["COMPARE_TARGET"] ?? "stub";
if (!["stub", "review"].includes(TARGET)) throw new Error("COMPARE_TARGET is stub or review");

interface Setup {
  label: string;
  service: Service;
  url: string;
  rates: number[];
  cpu: number[];
  offset: number;
  one?: LoadResult;
}

/** One revision's whole review: its runtime, gateway and worker; CPU per review of each. */
interface ReviewSetup {
  label: string;
  services: Service[];
  url: string;
  p50s: number[];
  rates: number[];
  cpu: Map<string, number[]>;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** The revision's tree under .bench-base/<short>, relative to ROOT (ends in "/"). */
function extract(short: string): string {
  const into = join(BASE_DIR, short);
  mkdirSync(into, { recursive: true });
  execSync(`git archive ${short} | tar -x -C ${JSON.stringify(into)}`, {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return `.bench-base/${short}/`;
}

function shortOf(revision: string): string {
  return execFileSync("git", ["rev-parse", "--short", revision], { cwd: ROOT }).toString().trim();
}

interface Common {
  label: string;
  other: string | undefined;
  /** Tree prefixes (relative to ROOT, "" for this working tree) of the two revisions. */
  baseTree: string;
  otherTree: string;
  wrk: string;
  dir: string;
  stateDir: string;
  /** Each tree's bundle, built by its own script (a revision may not read another's format). */
  bundles: ReadonlyMap<string, string>;
  keys: Awaited<ReturnType<typeof ensureDevKeys>>["signers"];
}

async function main(): Promise<void> {
  const revision = process.argv[2];
  if (revision === undefined) throw new Error("usage: node gateway/bench/compare.ts <revision>");
  const label = shortOf(revision);
  const other = process.argv[3] === undefined ? undefined : shortOf(process.argv[3]);
  const wrk = execFileSync(join(ROOT, "scripts/wrk.sh"), { encoding: "utf8" }).trim();
  const dir = mkdtempSync(join(tmpdir(), "zyx-compare-"));
  const stateDir = join(dir, "state");
  const variants: ReturnType<typeof buildPolicyVariant>[] = [];
  /** The bench's policy (limits out of the way, a 1 s window), built from `tree`'s own files. */
  const benchBundle = (tree: string): string => {
    const variant = buildPolicyVariant(
      (config) => {
        outOfTheWay(config);
        (config["limits"] as Record<string, unknown>)["window_seconds"] = 1;
      },
      tree === "" ? {} : { tree: join(ROOT, tree) },
    );
    variants.push(variant);
    return variant.bundle;
  };
  try {
    rmSync(BASE_DIR, { recursive: true, force: true });
    const baseTree = extract(label);
    const otherTree = other === undefined ? "" : extract(other);
    const common: Common = {
      label,
      other,
      baseTree,
      otherTree,
      wrk,
      dir,
      stateDir,
      bundles: new Map([baseTree, otherTree].map((tree) => [tree, benchBundle(tree)])),
      keys: (await ensureDevKeys(stateDir)).signers,
    };
    await (TARGET === "review" ? compareReviews(common) : compareBehindStub(common));
  } finally {
    stopAll();
    for (const variant of variants) variant.remove();
    rmSync(dir, { recursive: true, force: true });
    rmSync(BASE_DIR, { recursive: true, force: true });
  }
}

/** Both gateways and the bare proxy behind one stub worker, 16 connections, then one. */
async function compareBehindStub(c: Common): Promise<void> {
  const pairs = join(c.dir, "pairs.txt");
  const needed = FRESH ? (ROUNDS + 1) * SECONDS * 4_000 : 1;
  writeFileSync(pairs, await mintPairs(c.keys, needed, "agent"));
  const body = join(c.dir, "call.json");
  writeFileSync(body, JSON.stringify({ arguments: { ticket: "CHG-18422" }, session_id: "c" }));
  const stubPort = await freePort();
  const stub = await startService("stub", "gateway/bench/stub-worker.ts", stubPort, "/", {
    PORT: String(stubPort),
  });
  const barePort = await freePort();
  const bare = await startService("bare", "gateway/bench/bare-proxy.ts", barePort, "/", {
    PORT: String(barePort),
    WORKER_URL: `${stub.url}/`,
  });
  const gateway = async (name: string, tree: string, env: Record<string, string> = {}) => {
    const port = await freePort();
    return startService(name, `${tree}gateway/src/main.ts`, port, "/healthz", {
      ZYX_STATE_DIR: c.stateDir,
      GATEWAY_PORT: String(port),
      WORKER_URL: `${stub.url}/`,
      POLICY_BUNDLE: c.bundles.get(tree) ?? "",
      AUDIT_LOG: join(c.dir, `audit-${name}.jsonl`),
      ...env,
    });
  };
  const setup = (label: string, service: Service): Setup => ({
    label,
    service,
    url: `${service.url}/v1/tools/jira_read`,
    rates: [],
    cpu: [],
    offset: 0,
  });
  const setups: Setup[] = [
    setup("bare Hono proxy", bare),
    setup(`gateway at ${c.label}`, await gateway("base", c.baseTree)),
    setup(
      c.other === undefined ? "gateway, this tree" : `gateway at ${c.other}`,
      await gateway("other", c.otherTree, OTHER_ENV),
    ),
  ];
  const load = (s: Setup, connections: number, seconds: number) =>
    runWrk(c.wrk, {
      url: s.url,
      bodyFile: body,
      pairsFile: pairs,
      offset: s.offset,
      connections,
      seconds,
    });
  for (const s of setups) {
    const warm = await load(s, 16, 1);
    if (warm.errors > 0 || warm.requests === 0) throw new Error(`${s.label} does not answer`);
  }
  console.log(`compare: ${String(ROUNDS)} rounds of ${String(SECONDS)} s, 16 connections…`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of setups) {
      const before = await s.service.usage();
      const result = await load(s, 16, SECONDS);
      const after = await s.service.usage();
      if (FRESH) s.offset += result.requests + 16;
      s.rates.push(result.rate);
      s.cpu.push((after.cpuUs - before.cpuUs) / Math.max(1, result.requests));
    }
  }
  for (const s of setups) s.one = await load(s, 1, SECONDS);
  const bareRate = median(setups[0]?.rates ?? []);
  console.log(`\n| set-up | calls/s | vs bare | CPU µs per call | p50 (1 conn.) |`);
  console.log(`|---|---:|---:|---:|---:|`);
  for (const s of setups) {
    const rate = median(s.rates);
    console.log(
      `| ${s.label} | ${rate.toFixed(0)} | ${((100 * rate) / bareRate).toFixed(1)} % | ${median(s.cpu).toFixed(0)} | ${String(Math.round(s.one?.p50us ?? Number.NaN))} µs |`,
    );
  }
}

/** One revision's runtime → gateway → real worker, all three from that revision's tree. */
async function startReview(c: Common, name: string, tree: string, idp: Service) {
  const workerPort = await freePort();
  const worker = await startService(
    `worker-${name}`,
    `${tree}agent/src/main.ts`,
    workerPort,
    "/healthz",
    {
      ZYX_STATE_DIR: c.stateDir,
      WORKER_PORT: String(workerPort),
      GATEWAY_CALL_JWKS: join(c.stateDir, "keys/gateway.jwks.json"),
      ZYX_FIXTURE_WRITES: join(c.dir, `fixture-writes-${name}.jsonl`),
    },
  );
  const gatewayPort = await freePort();
  const gateway = await startService(
    `gateway-${name}`,
    `${tree}gateway/src/main.ts`,
    gatewayPort,
    "/healthz",
    {
      ZYX_STATE_DIR: c.stateDir,
      GATEWAY_PORT: String(gatewayPort),
      WORKER_URL: `${worker.url}/`,
      POLICY_BUNDLE: c.bundles.get(tree) ?? "",
      AUDIT_LOG: join(c.dir, `audit-${name}.jsonl`),
      ...(name === "other" ? OTHER_ENV : {}),
    },
  );
  const runtimePort = await freePort();
  const runtime = await startService(
    `runtime-${name}`,
    `${tree}examples/change-review/src/main.ts`,
    runtimePort,
    "/healthz",
    {
      ZYX_STATE_DIR: c.stateDir,
      AGENT_PORT: String(runtimePort),
      GATEWAY_URL: gateway.url,
      IDP_URL: idp.url,
    },
  );
  return { runtime, gateway, worker };
}

/** The seed's whole review on each revision, one connection, rounds alternating. */
async function compareReviews(c: Common): Promise<void> {
  const pairs = join(c.dir, "user.txt");
  writeFileSync(pairs, await mintPairs(c.keys, 1, "user"));
  const body = join(c.dir, "review.json");
  writeFileSync(
    body,
    JSON.stringify({ ticket: "CHG-18422", repository: "platform-infra", pull_request: "991" }),
  );
  const idpPort = await freePort();
  const idp = await startService("idp", "idp/src/main.ts", idpPort, "/.well-known/jwks.json", {
    ZYX_STATE_DIR: c.stateDir,
    IDP_PORT: String(idpPort),
  });
  const setups: ReviewSetup[] = [];
  for (const [label, name, tree] of [
    [`review at ${c.label}`, "base", c.baseTree],
    [c.other === undefined ? "review, this tree" : `review at ${c.other}`, "other", c.otherTree],
  ] as const) {
    const { runtime, gateway, worker } = await startReview(c, name, tree, idp);
    setups.push({
      label,
      services: [runtime, gateway, worker],
      url: `${runtime.url}/review-change`,
      p50s: [],
      rates: [],
      cpu: new Map(),
    });
  }
  const load = (s: ReviewSetup, seconds: number) =>
    runWrk(c.wrk, { url: s.url, bodyFile: body, pairsFile: pairs, connections: 1, seconds });
  for (const s of setups) {
    const warm = await load(s, 2);
    if (warm.errors > 0 || warm.requests === 0) throw new Error(`${s.label} does not answer`);
  }
  console.log(`compare: ${String(ROUNDS)} rounds of ${String(SECONDS)} s, one connection…`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of setups) {
      const before = await Promise.all(s.services.map((service) => service.usage()));
      const result = await load(s, SECONDS);
      const after = await Promise.all(s.services.map((service) => service.usage()));
      s.p50s.push(result.p50us);
      s.rates.push(result.rate);
      s.services.forEach((service, i) => {
        const kind = service.name.replace(/-(base|other)$/, "");
        const spent = (after[i]?.cpuUs ?? 0) - (before[i]?.cpuUs ?? 0);
        s.cpu.set(kind, [...(s.cpu.get(kind) ?? []), spent / Math.max(1, result.requests)]);
      });
    }
  }
  console.log(`\n| set-up | reviews/s (1 conn.) | p50 | CPU µs per review |`);
  console.log(`|---|---:|---:|---|`);
  for (const s of setups) {
    const cpu = [...s.cpu].map(([kind, values]) => `${kind} ${median(values).toFixed(0)}`);
    console.log(
      `| ${s.label} | ${median(s.rates).toFixed(0)} | ${(median(s.p50s) / 1000).toFixed(2)} ms | ${cpu.join(", ")} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  stopAll();
  process.exitCode = 1;
});
