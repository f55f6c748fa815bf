// A replica whose LISTEN connection died silently: the database end is gone (a failover, the
// old primary's host lost, a firewall or NAT that dropped the idle flow) and nothing ever told
// this end (no reset, no FIN). The connection looks open and never delivers a notification again.
// The shared session signals must notice (and rebuild) within a bound, not keep deciding on a
// memory that misses every other replica's taints until the next periodic rebuild (a minute).
import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  openPostgresSessionSignals,
  type SharedSessionSignals,
} from "../../src/session-postgres.ts";
import { startPostgres, type PrivatePostgres } from "../../../test/support/postgres.ts";

let postgres: PrivatePostgres;
const opened: SharedSessionSignals[] = [];

beforeAll(async () => {
  postgres = await startPostgres({ database: "sessionlisten" });
}, 60_000);
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
  await postgres.stop();
});

/** A TCP proxy whose open connections can be frozen: no byte passes, no close reaches either end. */
async function freezingProxy(port: number) {
  const pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    for (const socket of [client, upstream]) socket.on("error", () => undefined);
    client.on("data", (chunk: Buffer) => {
      if (!pair.frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!pair.frozen) client.write(chunk);
    });
    client.on("close", () => {
      if (!pair.frozen) upstream.destroy();
    });
    upstream.on("close", () => {
      if (!pair.frozen) client.destroy();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return {
    port: (server.address() as AddressInfo).port,
    /** Every connection open now dies silently; new ones pass. */
    freeze() {
      for (const pair of pairs) {
        pair.frozen = true;
        pair.upstream.destroy(); // the database's end is gone; this end never hears of it
      }
    },
    close: () =>
      new Promise<void>((done) => {
        for (const { client, upstream } of pairs) {
          client.destroy();
          upstream.destroy();
        }
        server.close(() => {
          done();
        });
      }),
  };
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe("session signals: a LISTEN connection that died silently", () => {
  it("is noticed within seconds: another replica's taint reaches this one", async () => {
    const proxy = await freezingProxy(postgres.port);
    const viaProxy = new URL(postgres.connectionString);
    viaProxy.port = String(proxy.port);
    const options = { denialWindowMs: 60_000 }; // production's defaults otherwise
    const a = await openPostgresSessionSignals({
      ...options,
      connectionString: viaProxy.toString(),
    });
    const b = await openPostgresSessionSignals({
      ...options,
      connectionString: postgres.connectionString,
    });
    opened.push(a, b);
    await b.taint("s-before");
    expect(await until(() => a.isTainted("s-before"), 3_000)).toBe(true); // LISTEN works
    proxy.freeze();
    await b.taint("s-after"); // committed and notified; A's LISTEN connection is dead
    // A bound of a few seconds (its query timeout is 2 s): today A learns of it at its next
    // periodic rebuild, up to 60 s later, and writes in s-after are not held meanwhile.
    const learned = await until(() => a.isTainted("s-after"), 8_000);
    await proxy.close();
    expect(learned).toBe(true);
  }, 30_000);
});
