// One real gateway process for the chaos run, with the fault-injecting file layer preloaded:
// started, killed with SIGKILL, restarted on the same state and log, stopped gracefully. An exit
// the run did not ask for is a crash (counted by the caller through `onCrash`).
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../support/processes.ts";

export class GatewayProcess {
  private child: ChildProcess | undefined;
  private output = "";
  private expectingExit = false;

  readonly url: string;
  private readonly env: Record<string, string>;
  private readonly onCrash: (output: string) => void;

  constructor(url: string, env: Record<string, string>, onCrash: (output: string) => void) {
    this.url = url;
    this.env = env;
    this.onCrash = onCrash;
  }

  /** Starts the process and resolves once /readyz answers 200 (rejects after 20 s). */
  async start(): Promise<void> {
    this.launch();
    await this.ready(20_000);
  }

  /** Spawns the process; does not wait for it. */
  launch(): void {
    this.output = "";
    this.expectingExit = false;
    const child = spawn(
      process.execPath,
      [
        "--import",
        join(REPO_ROOT, "test/chaos/fs-faults.ts"),
        join(REPO_ROOT, "gateway/src/main.ts"),
      ],
      { cwd: REPO_ROOT, env: { ...process.env, ...this.env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("exit", () => {
      if (!this.expectingExit) this.onCrash(this.output);
    });
  }

  /** Resolves when `path` answers 200; rejects with the process's output after `ms`. */
  async ready(ms: number, path = "/readyz"): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        const response = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(1_000) });
        await response.body?.cancel();
        if (response.status === 200) return;
      } catch {
        // not up yet
      }
      if (this.exited() || Date.now() > deadline) {
        throw new Error(`the gateway did not become ready:\n${this.output}`);
      }
      await new Promise((done) => setTimeout(done, 25));
    }
  }

  private exited(): boolean {
    const child = this.child;
    if (child === undefined) return true;
    return child.exitCode !== null || child.signalCode !== null;
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || this.exited()) return;
    this.expectingExit = true;
    await new Promise<void>((done) => {
      child.once("exit", () => {
        done();
      });
      child.kill(signal);
    });
  }

  /** SIGKILL: no drain, no closing checkpoint. */
  kill(): Promise<void> {
    return this.end("SIGKILL");
  }

  /** SIGTERM: drains, seals the log, exits. */
  stop(): Promise<void> {
    return this.end("SIGTERM");
  }

  get log(): string {
    return this.output;
  }
}
