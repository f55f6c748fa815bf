// A fault-injecting TCP proxy in front of the chaos run's PostgreSQL, in the runner's own process
// so that it always knows whether the database is reachable when it sends a call. The replicas'
// connection strings name the proxy, never the server.
//
//   pass       every connection is piped to the server, both ways
//   down       every open connection is reset (RST) at once, and every new one is reset on
//              arrival: the server is gone, as after a crash or `pg_ctl stop -m immediate`
//
// Invariants: a mode applies to every connection that arrives after it is set, and setting
// "down" resets every connection open at that moment before it returns; nothing is buffered
// across a mode change (a connection reset stays reset). Failure modes: an error on either side
// of a piped pair destroys both sides, never the proxy.
import { connect, createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export type PgProxyMode = "pass" | "down";

export interface PgProxy {
  /** The loopback port the replicas connect to. */
  port: number;
  mode: PgProxyMode;
  /** Connections accepted so far (passed or reset). */
  readonly connections: number;
  close(): Promise<void>;
}

function cut(socket: Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}

export async function startPgProxy(target: { host: string; port: number }): Promise<PgProxy> {
  const state = { mode: "pass" as PgProxyMode, connections: 0 };
  const open = new Set<Socket>();
  const server = createServer((client) => {
    state.connections++;
    if (state.mode === "down") {
      client.on("error", () => undefined);
      cut(client);
      return;
    }
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("error", () => {
        cut(client);
        cut(upstream);
      });
      socket.on("close", () => {
        open.delete(socket);
        cut(client);
        cut(upstream);
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get mode() {
      return state.mode;
    },
    set mode(mode: PgProxyMode) {
      state.mode = mode;
      if (mode === "down") for (const socket of [...open]) cut(socket);
    },
    get connections() {
      return state.connections;
    },
    close: async () => {
      for (const socket of [...open]) cut(socket);
      await new Promise((done) => server.close(done));
    },
  };
}
