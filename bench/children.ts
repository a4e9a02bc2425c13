/**
 * The runner's child processes: the bench processes, compiled to JavaScript and forked with an IPC
 * channel, and plain commands. Every one is tracked, so that the runner kills them all on exit or Ctrl-C.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import type { ChildMessage, RunnerMessage } from "./procs/messages.ts";

import { ROOT } from "../deploy/commands.ts";
import { bundleForNode } from "../scripts/bundle.ts";

export { ROOT };
const live = new Set<ChildProcess>();

/** Inside the repository, so that the compiled processes find node_modules; one per run, so that runs do not share it. */
const BUILD_DIR = `${ROOT}bench/.build/${process.pid}/`;
const PROCS = ["baseline", "http-server", "producer", "worker"];

/**
 * Compiles the bench processes with esbuild, each system in its own chunk, loaded only by the
 * processes that use it. They run on plain Node as a deployed worker would: a TypeScript loader
 * would add about 40 MB to every process's memory, which the idle scenario measures.
 */
export async function buildProcs(): Promise<void> {
  await bundleForNode(PROCS.map((entry) => `${ROOT}bench/procs/${entry}.ts`), BUILD_DIR);
}

/**
 * Kills every child still running and removes the compiled processes, unless CPU profiles were
 * written (they point into them); safe to call from an exit handler.
 */
export function killChildren(): void {
  for (const proc of live) proc.kill("SIGKILL");
  live.clear();
  if (!process.env.BENCH_CPU_PROF_DIR) rmSync(BUILD_DIR, { recursive: true, force: true });
}

function track(proc: ChildProcess): ChildProcess {
  live.add(proc);
  proc.once("exit", () => live.delete(proc));
  return proc;
}

/** A forked bench process and the messages it sends. */
export class Child {
  readonly #inbox: ChildMessage[] = [];
  #waiting: (() => void) | undefined;
  #exit: string | undefined;
  /** Called with every message as it arrives, besides queueing it for `next`. */
  onMessage: (message: ChildMessage) => void = () => {};

  constructor(readonly proc: ChildProcess) {
    proc.on("message", (message: ChildMessage) => {
      this.onMessage(message);
      this.#inbox.push(message);
      this.#waiting?.();
    });
    proc.once("exit", (code, signal) => {
      this.#exit = `exited with ${signal ?? code}`;
      this.#waiting?.();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The next message of `kind`, skipping others; fails if the process exits or the time runs out. */
  async next<K extends ChildMessage["kind"]>(kind: K, timeoutMs = 120_000): Promise<Extract<ChildMessage, { kind: K }>> {
    let late = false;
    const timer = setTimeout(() => ((late = true), this.#waiting?.()), timeoutMs);
    try {
      for (;;) {
        const i = this.#inbox.findIndex((m) => m.kind === kind);
        if (i >= 0) return this.#inbox.splice(i, 1)[0] as Extract<ChildMessage, { kind: K }>;
        const problem = this.#exit ?? (late ? `sent no ${kind} within ${timeoutMs} ms` : undefined);
        if (problem) throw new Error(`bench process ${this.proc.spawnargs.slice(-2, -1)} ${problem}`);
        await new Promise<void>((r) => (this.#waiting = r));
      }
    } finally {
      clearTimeout(timer);
    }
  }

  send(message: RunnerMessage): void {
    this.proc.send(message);
  }

  kill(): void {
    this.proc.kill("SIGKILL");
  }
}

/**
 * Starts the compiled `bench/procs/<entry>.ts` with its job as the one argument. With
 * BENCH_CPU_PROF_DIR set, each process writes a V8 CPU profile there when it exits (open it in
 * Chrome's DevTools).
 */
export function forkProc(entry: string, job: object): Child {
  const profileDir = process.env.BENCH_CPU_PROF_DIR;
  const proc = fork(`${BUILD_DIR}${entry}.js`, [JSON.stringify(job)], {
    cwd: ROOT,
    execArgv: ["--enable-source-maps", ...(profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [])],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Child(track(proc));
}

export interface Command {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code once the command has exited. */
  exited: Promise<number | null>;
}

/** Starts a command, collecting what it prints. */
export function spawnCommand(command: string, args: string[], env: Record<string, string> = {}): Command {
  let [stdout, stderr] = ["", ""];
  const proc = track(spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] }));
  proc.stdout!.on("data", (d) => (stdout += d));
  proc.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.once("close", (code) => resolve(code)));
  return { proc, stdout: () => stdout, stderr: () => stderr, exited };
}
