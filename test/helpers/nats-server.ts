/**
 * A real nats-server per test suite: free port, temporary store, killable and restartable.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "../../deploy/ports.ts";

export { freePort, waitForPort };

export interface ServerOptions {
  /** A configuration file; the command line still sets the address, port and store. */
  config?: string;
  /** Environment of the server, for variables the configuration refers to. */
  env?: Record<string, string>;
}

export class NatsServer {
  #proc: ChildProcess | undefined;
  readonly storeDir = mkdtempSync(join(tmpdir(), "edgeq-test-"));

  private constructor(
    readonly port: number,
    private readonly options: ServerOptions,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(options: ServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), options);
    await server.restart();
    return server;
  }

  /** Starts (again) on the same port and store. */
  async restart(): Promise<void> {
    const config = this.options.config ? ["-c", this.options.config] : [];
    this.#proc = spawn("nats-server", [...config, "-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir], {
      stdio: "ignore",
      env: { ...process.env, ...this.options.env },
    });
    await waitForPort(this.port);
  }

  /** Stops the server with the given signal and waits for it to exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill(signal);
    });
  }

  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
