/**
 * Runs the `edgeq` command as a child process, on Node, Deno or Bun (their npm packages), and
 * waits on what it prints.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { DENO, edgeqCommand, ROOT, type RuntimeName } from "../../deploy/commands.ts";

export { ROOT };

export class EdgeqProcess {
  output = "";
  readonly exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.on("data", (d) => (this.output += d));
    proc.stderr?.on("data", (d) => (this.output += d));
    this.exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
  }

  /** Resolves with the first match of `pattern` in the output; fails if the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (this.proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${pattern} in the output of edgeq (exit ${this.proc.exitCode}):\n${this.output}`);
  }

  /** The worker id a worker process announces. */
  async workerId(): Promise<string> {
    return (await this.waitFor(/worker (\S+) \(/))[1];
  }

  /** Signals the process itself; `deno task` passes SIGINT and SIGTERM on to the program it runs. */
  kill(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  /** Cleanup: kills the process group, so that a program started by `deno task` goes too. */
  async stop(): Promise<void> {
    try {
      process.kill(-this.proc.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    if (this.proc.exitCode === null && this.proc.signalCode === null) await this.exited;
  }
}

export type Runtime = RuntimeName;

export function runEdgeq(runtime: Runtime, args: string[], env: Record<string, string>, cwd = ROOT): EdgeqProcess {
  const run = edgeqCommand(runtime, args);
  return new EdgeqProcess(
    spawn(run.command, run.args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true }),
  );
}

/** Runs one of deno.json's tasks, as a user would with `deno task <name>`. */
export function runDenoTask(name: string, env: Record<string, string>): EdgeqProcess {
  return new EdgeqProcess(
    spawn(DENO, ["task", name], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true }),
  );
}

/** Polls `check` until it returns a truthy value. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not reached within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}
