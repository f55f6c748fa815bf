// Runs one service's main module in this process, for the bench: on SIGUSR2 it prints one JSON
// line on stdout, {"probe": {"cpu_us": user+system microseconds so far, "rss", "heap_used",
// "heap_total", "external": bytes}}, from process.cpuUsage() and process.memoryUsage() (heap
// used tells a leak from V8 sizing its heap when RSS moves; heap total and external memory,
// WebAssembly's and Buffers' included, say how much of RSS is V8's and what lies outside it). The service itself is unchanged; without
// the signal this wrapper does nothing. Usage: node gateway/bench/probe.ts <path/to/main.ts>.
// Failure mode: a missing or failing module exits non-zero, as the service would.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const target = process.argv[2];
if (target === undefined) {
  console.error("usage: node gateway/bench/probe.ts <path/to/main.ts>");
  process.exit(2);
}
process.on("SIGUSR2", () => {
  const { user, system } = process.cpuUsage();
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
  const probe = {
    cpu_us: user + system,
    rss,
    heap_used: heapUsed,
    heap_total: heapTotal,
    external,
  };
  process.stdout.write(`${JSON.stringify({ probe })}\n`);
});
await import(pathToFileURL(resolve(target)).href);
