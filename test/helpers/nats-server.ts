/**
 * A real nats-server per test suite: free port, temporary store, killable and restartable.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsNode } from "../../deploy/nats-node.ts";
import { freePort, waitForPort } from "../../deploy/ports.ts";

export { freePort, waitForPort };

export interface ServerOptions {
  /** A configuration file; the command line still sets the address, port and store. */
  config?: string;
  /** Environment of the server, for variables the configuration refers to. */
  env?: Record<string, string>;
  /** The JetStream store (removed by `stop`); a new temporary directory by default. */
  storeDir?: string;
}

export class NatsServer {
  readonly storeDir: string;
  readonly #node: NatsNode;

  private constructor(readonly port: number, options: ServerOptions) {
    this.storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), "edgeq-test-"));
    const config = options.config ? ["-c", options.config] : [];
    const args = [...config, "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", this.storeDir];
    this.#node = new NatsNode(`test-${port}`, args, options.env ?? {}, port);
  }

  get url(): string {
    return this.#node.url;
  }

  get pid(): number | undefined {
    return this.#node.pid;
  }

  static async start(options: ServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), options);
    await server.restart();
    return server;
  }

  /** Starts (again) on the same port and store. */
  restart(): Promise<void> {
    return this.#node.start();
  }

  /** Stops the server with the given signal and waits for it to exit. */
  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.#node.kill(signal);
  }

  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
