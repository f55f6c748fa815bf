// Starts a real `opa run --server` on loopback with the built Rego bundle, for the sidecar
// adapter's contract tests and the benchmark.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { REPO_ROOT } from "./paths.ts";

export const OPA_BIN = resolve(REPO_ROOT, ".tools/bin/opa");
export const REGO_BUNDLE_PATH = resolve(REPO_ROOT, "policy-bundle/bundle-rego.tar.gz");

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        done(port);
      });
    });
  });
}

export interface OpaServer {
  url: URL;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startOpaServer(): Promise<OpaServer> {
  const port = await freePort();
  const child = spawn(
    OPA_BIN,
    ["run", "--server", "--addr", `127.0.0.1:${port}`, "--log-level", "error", REGO_BUNDLE_PATH],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const url = new URL(`http://127.0.0.1:${port}/`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const response = await fetch(new URL("health?bundles", url));
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`opa server did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    process: child,
    stop: () =>
      new Promise((done) => {
        if (child.exitCode !== null) {
          done();
          return;
        }
        child.once("exit", () => {
          done();
        });
        child.kill("SIGTERM");
      }),
  };
}
