// A fault-injecting TCP proxy in front of a test's PostgreSQL (the chaos run's, a store's test),
// in the test's own process, so that it always knows whether the database is reachable when it
// sends a call. The clients' connection strings name the proxy, never the server.
//
//   pass       every connection is piped to the server, both ways
//   down       every open connection is reset (RST) at once, and every new one is reset on
//              arrival: the server is gone, as after a crash or `pg_ctl stop -m immediate`
//   partition  nothing passes and nothing is refused: open connections stop moving bytes (both
//              sides paused, what was sent waits in the kernel's buffers), new ones are accepted
//              and held; the network between the replicas and the database is cut silently,
//              and only the clients' own timeouts can tell. Back to "pass", the held bytes flow
//              on and the held connections reach the server, as TCP does after a short cut.
//
// Invariants: a mode applies to every connection that arrives after it is set, and setting
// "down" resets every connection open at that moment before it returns. Failure modes: an error
// on either side of a piped pair destroys both sides, never the proxy.
import { connect, createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export type PgProxyMode = "pass" | "down" | "partition";

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
  const held: Socket[] = [];
  const pipeToServer = (client: Socket): void => {
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
    // By hand, not pipe(): a paused side must stay paused (pipe resumes a source on drain).
    client.on("data", (chunk: Buffer) => upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    if (state.mode === "partition") {
      client.pause();
      upstream.pause();
    } else {
      client.resume(); // a held connection was paused explicitly
    }
  };
  const server = createServer((client) => {
    state.connections++;
    client.on("error", () => undefined);
    if (state.mode === "down") {
      cut(client);
      return;
    }
    if (state.mode === "partition") {
      client.pause();
      held.push(client);
      return;
    }
    pipeToServer(client);
  });
  const setMode = (mode: PgProxyMode): void => {
    state.mode = mode;
    if (mode === "down") {
      for (const socket of [...open, ...held.splice(0)]) cut(socket);
    } else if (mode === "partition") {
      for (const socket of open) socket.pause();
    } else {
      for (const socket of open) socket.resume();
      for (const client of held.splice(0)) if (!client.destroyed) pipeToServer(client);
    }
  };
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get mode() {
      return state.mode;
    },
    set mode(mode: PgProxyMode) {
      setMode(mode);
    },
    get connections() {
      return state.connections;
    },
    close: async () => {
      for (const socket of [...open, ...held.splice(0)]) cut(socket);
      await new Promise((done) => server.close(done));
    },
  };
}
