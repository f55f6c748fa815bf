// deploy/nginx.conf, checked statically: one client address must not be able to hold every
// connection of the load balancer. nginx counts a proxied request twice against
// worker_connections (the client's connection and the one to the replica), so `limit_conn 512`
// under `worker_connections 1024` let one address with 512 calls in flight (approval long polls,
// slow tools: proxy_read_timeout is 120 s) take all 1024 and lock every other runtime out.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/processes.ts";

const nginx = readFileSync(join(REPO_ROOT, "deploy/nginx.conf"), "utf8");
const directive = (name: string) => new RegExp(`^\\s*${name}\\s+([^;]+);`, "m").exec(nginx)?.[1];

describe("lb connections", () => {
  it("lets one client address hold at most half of the load balancer's connections", () => {
    const workers = Number(directive("worker_processes") ?? "1");
    const connections = Number(/worker_connections\s+(\d+);/.exec(nginx)?.[1]);
    const perClient = Number(/^\s*limit_conn\s+per_client\s+(\d+);/m.exec(nginx)?.[1]);
    expect(Number.isInteger(workers) && workers > 0, "worker_processes: a number").toBe(true);
    expect(perClient).toBeGreaterThan(0);
    // Client side and upstream side of each proxied request.
    expect(perClient * 2, "limit_conn per_client, counted twice").toBeLessThanOrEqual(
      (workers * connections) / 2,
    );
  });
});
