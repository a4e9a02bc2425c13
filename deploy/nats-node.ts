/**
 * One nats-server: booted from a configuration file under deploy/nats/ (`NatsNode.fromConfig`), its
 * addresses passed in the environment as docker-compose.yml passes them, or from any command line
 * (the tests' servers). Killable and restartable on the same ports and store.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const NATS_CONFIG_DIR = fileURLToPath(new URL("./nats/", import.meta.url));

export class NatsNode {
  #proc: ChildProcess | undefined;
  /** What the server printed last, for error messages. */
  #log = "";

  /**
   * `args` is nats-server's command line; `env` sets the variables its configuration reads; `port` is
   * its client port; `prefix` runs it under another command (the partition tests: `ip netns exec <ns>`).
   */
  constructor(
    readonly name: string,
    readonly args: string[],
    readonly env: Record<string, string>,
    readonly port: number,
    readonly prefix: string[] = [],
  ) {}

  /** A server booted from `config`, a file in deploy/nats/. */
  static fromConfig(name: string, config: string, env: Record<string, string>, port: number): NatsNode {
    return new NatsNode(name, ["-c", `${NATS_CONFIG_DIR}${config}`], env, port);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The running server's process id (to freeze it with SIGSTOP, or read its memory). */
  get pid(): number | undefined {
    return this.running ? this.#proc!.pid : undefined;
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /**
   * Starts the server (again, on the same ports and store) and waits until it says it is ready: its
   * own word, not a port that answers, which on a shared machine could be someone else's.
   */
  async start(timeoutMs = 15_000): Promise<void> {
    const [command, ...args] = [...this.prefix, "nats-server", ...this.args];
    const proc = spawn(command, args, {
      env: { ...process.env, ...this.env },
      stdio: ["ignore", "ignore", "pipe"],
      // Its own process group: a Ctrl-C meant for `npm run cluster` must not stop it before the workers.
      detached: true,
    });
    this.#proc = proc;
    this.#log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server ${this.name} not ready after ${timeoutMs} ms:\n${this.#log}`)), timeoutMs);
      proc.stderr!.on("data", (d) => {
        this.#log = (this.#log + d).slice(-4000);
        if (/Server is ready/.test(this.#log)) (clearTimeout(timer), resolve());
      });
      proc.once("error", (err) => (clearTimeout(timer), reject(new Error(`cannot run nats-server (${err.message}); install it: apt-get install nats-server`))));
      proc.once("exit", (code) => (clearTimeout(timer), reject(new Error(`nats-server ${this.name} exited with ${code}:\n${this.#log}`))));
    });
  }

  /** Stops the server with the signal and waits for it to exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const proc = this.#proc;
    if (!proc || !this.running) return;
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill(signal);
    });
  }
}
