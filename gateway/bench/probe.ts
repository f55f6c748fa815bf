// Runs one service's main module in this process, for the bench: on SIGUSR2 it prints one JSON
// line on stdout, {"probe": {"cpu_us": user+system microseconds so far, "rss": bytes,
// "heap_used": bytes}}, from process.cpuUsage() and process.memoryUsage() (heap used tells a
// leak from V8 sizing its heap when RSS moves). The service itself is unchanged; without
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
  const { rss, heapUsed } = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({ probe: { cpu_us: user + system, rss, heap_used: heapUsed } })}\n`,
  );
});
await import(pathToFileURL(resolve(target)).href);
