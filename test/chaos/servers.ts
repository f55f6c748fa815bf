// The chaos run's fault-injecting servers, in the runner's own process so that it always knows
// which fault is live when it sends a call:
//   - a key-set server (the identity provider's and the device-trust service's JWKS): up, down
//     (connections reset), slow (answers after the gateway's fetch timeout), and the published
//     keys set by the runner (rotation);
//   - a worker proxy in front of the real agent worker: passes through, or down (connections
//     reset), slow (past the gateway's deadline), reset mid-answer, garbage (200, not JSON),
//     oversize (an answer over the gateway's bound).
// Invariant: a mode applies to every request that arrives after it is set.
import {
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { JWK } from "jose";

export type KeySetMode = "up" | "down" | "slow";
export type WorkerMode = "pass" | "down" | "slow" | "reset" | "garbage" | "oversize";

async function listen(server: Server): Promise<string> {
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
}

export interface KeySetServer {
  url: string;
  mode: KeySetMode;
  /** The public keys published at /idp and /posture. */
  keys: { idp: JWK[]; posture: JWK[] };
  close(): Promise<void>;
}

export async function startKeySetServer(slowMs: number): Promise<KeySetServer> {
  const state = { mode: "up" as KeySetMode, keys: { idp: [] as JWK[], posture: [] as JWK[] } };
  const server = createServer((req, res) => {
    if (state.mode === "down") {
      req.socket.destroy();
      return;
    }
    const keys = req.url === "/posture" ? state.keys.posture : state.keys.idp;
    const answer = () => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
    };
    if (state.mode === "slow") setTimeout(answer, slowMs).unref();
    else answer();
  });
  const url = await listen(server);
  return {
    url,
    get mode() {
      return state.mode;
    },
    set mode(mode: KeySetMode) {
      state.mode = mode;
    },
    get keys() {
      return state.keys;
    },
    close: () => close(server),
  };
}

export interface WorkerProxy {
  url: string;
  mode: WorkerMode;
  close(): Promise<void>;
}

function forward(target: URL, req: IncomingMessage, res: ServerResponse, cut: boolean): void {
  const upstream = request(
    new URL(req.url ?? "/", target),
    { method: req.method, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (!cut) {
        answer.pipe(res);
        return;
      }
      // Reset mid-answer: a first piece of the body, then the connection is torn down.
      answer.once("data", (chunk: Buffer) => {
        res.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)));
        setImmediate(() => res.socket?.destroy());
      });
    },
  );
  upstream.on("error", () => res.socket?.destroy());
  req.pipe(upstream);
}

export async function startWorkerProxy(
  target: URL,
  options: { slowMs: number; oversizeBytes: number },
): Promise<WorkerProxy> {
  const state = { mode: "pass" as WorkerMode };
  const oversize = Buffer.alloc(options.oversizeBytes, " ");
  const server = createServer((req, res) => {
    const mode = state.mode;
    if (mode === "down") {
      req.socket.destroy();
      return;
    }
    if (mode === "garbage") {
      res.writeHead(200, { "content-type": "application/json" }).end("<<not json at all>>");
      return;
    }
    if (mode === "oversize") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(Buffer.concat([Buffer.from('{"result":"'), oversize, Buffer.from('"}')]));
      return;
    }
    if (mode === "slow") {
      setTimeout(() => {
        forward(target, req, res, false);
      }, options.slowMs).unref();
      return;
    }
    forward(target, req, res, mode === "reset");
  });
  const url = await listen(server);
  return {
    url,
    get mode() {
      return state.mode;
    },
    set mode(mode: WorkerMode) {
      state.mode = mode;
    },
    close: () => close(server),
  };
}
