// A small load generator with microsecond latencies (autocannon records whole milliseconds,
// too coarse for a 250 µs budget). Closed loop for saturation; open loop at a fixed rate, each
// latency measured from the request's scheduled time so that queueing is not hidden.
import { Agent, request } from "node:http";

export interface Target {
  url: URL;
  /** Headers for the i-th request (a new token on every call, or the same one). */
  headers: (i: number) => Record<string, string>;
  body: string;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** Calls per second over the measured window. */
  rate: number;
  p50us: number;
  p99us: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summarize(latencies: number[], errors: number, seconds: number): LoadResult {
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    errors,
    rate: latencies.length / seconds,
    p50us: percentile(sorted, 50),
    p99us: percentile(sorted, 99),
  };
}

function send(agent: Agent, target: Target, i: number): Promise<boolean> {
  return new Promise((done) => {
    const req = request(
      target.url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(target.body),
          ...target.headers(i),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          done(res.statusCode === 200);
        });
      },
    );
    req.on("error", () => {
      done(false);
    });
    req.end(target.body);
  });
}

/** As many calls as `connections` callers can make, one after another, for `seconds`. */
export async function saturate(
  target: Target,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let errors = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        const ok = await send(agent, target, i++);
        if (ok) latencies.push((performance.now() - started) * 1000);
        else errors++;
      }
    }),
  );
  agent.destroy();
  return summarize(latencies, errors, seconds);
}

/** `rate` calls per second, whatever the answers do, for `seconds`. */
export async function fixedRate(
  target: Target,
  rate: number,
  seconds: number,
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  let errors = 0;
  const total = Math.round(rate * seconds);
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      for (; sent < due; sent++) {
        const scheduled = start + (sent / rate) * 1000;
        const i = sent;
        inflight.push(
          send(agent, target, i).then((ok) => {
            if (ok) latencies.push((performance.now() - scheduled) * 1000);
            else errors++;
          }),
        );
      }
      if (sent >= total) {
        clearInterval(tick);
        done();
      }
    }, 1);
  });
  await Promise.all(inflight);
  agent.destroy();
  return summarize(latencies, errors, seconds);
}
