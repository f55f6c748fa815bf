// The bench's processes: each service started on a free loopback port under gateway/bench/probe.ts,
// so that the bench can ask it for its CPU time and RSS (SIGUSR2) between two measurements.
// Invariants: every process started here is stopped by stopAll(); a process's stdout and stderr
// are always drained (a full pipe would stall it); an error line is echoed to the bench's stderr.
// Failure modes: a service that does not come up in 20 s, or exits, fails the bench with its output.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

export const ROOT = resolve(import.meta.dirname, "../..");

export interface Usage {
  /** CPU time, user + system, in microseconds since the process started. */
  cpuUs: number;
  rss: number;
  heapUsed: number;
  /** V8's heap as committed, and memory outside it (WebAssembly, Buffers), bytes. */
  heapTotal: number;
  external: number;
}

export interface Service {
  name: string;
  url: string;
  child: ChildProcess;
  /** The process's own CPU time, RSS and heap used now (process.cpuUsage, memoryUsage). */
  usage(): Promise<Usage>;
}

const children: ChildProcess[] = [];

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === "object" && address !== null) done(address.port);
        else fail(new Error("no port"));
      });
    });
  });
}

/** Any process (opa), drained and remembered for stopAll. */
export function spawnDrained(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
): ChildProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  child.stderr.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    if (/"level":"error"|Error/.test(text)) process.stderr.write(`[${name}] ${text}`);
  });
  return child;
}

export async function waitUp(url: string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child !== undefined && child.exitCode !== null) break;
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

/** Lines on stdout that a probe wrote, handed to whoever waits for the next one. */
function probeReader(child: ChildProcess): () => Promise<Usage> {
  const waiting: ((usage: Usage) => void)[] = [];
  if (child.stdout === null) throw new Error("no stdout");
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (!line.startsWith('{"probe"')) return;
    const { probe } = JSON.parse(line) as {
      probe: {
        cpu_us: number;
        rss: number;
        heap_used: number;
        heap_total: number;
        external: number;
      };
    };
    waiting.shift()?.({
      cpuUs: probe.cpu_us,
      rss: probe.rss,
      heapUsed: probe.heap_used,
      heapTotal: probe.heap_total,
      external: probe.external,
    });
  });
  return () =>
    new Promise((done, fail) => {
      const timer = setTimeout(() => {
        fail(new Error("the probe did not answer"));
      }, 5_000);
      waiting.push((usage) => {
        clearTimeout(timer);
        done(usage);
      });
      child.kill("SIGUSR2");
    });
}

/**
 * A Node service (`main`, relative to the repository) under the probe, on `port`, up when
 * `health` (a path) answers below 500.
 */
export async function startService(
  name: string,
  main: string,
  port: number,
  health: string,
  env: Record<string, string>,
): Promise<Service> {
  const child = spawnDrained(
    name,
    process.execPath,
    [join(ROOT, "gateway/bench/probe.ts"), join(ROOT, main)],
    env,
  );
  const usage = probeReader(child);
  const url = `http://127.0.0.1:${port}`;
  await waitUp(`${url}${health}`, child);
  return { name, url, child, usage };
}

export function stopAll(): void {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
}
