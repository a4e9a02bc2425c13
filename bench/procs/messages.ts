/**
 * What the runner and its child processes (producer, workers, HTTP servers) tell each other over
 * the IPC channel. Each child takes its job as one JSON argument.
 */
import type { BenchEnv, SystemName } from "../systems/system.ts";

export interface WorkerJob {
  system: SystemName;
  env: BenchEnv;
  concurrency: number;
  /** Keep every task's submit, start and settle times (latency runs only: it costs memory). */
  timings: boolean;
  /** Also run what makes delayed tasks due (the delayed scenario). */
  delayed?: boolean;
  /** Run only what makes delayed tasks due, with no handler (the delayed scenario's promotion rate). */
  schedulerOnly?: boolean;
}

/**
 * `batch`: submit `count` tasks in one batch; `rate`: submit one at a time, `rate` a second for
 * `seconds`; `delayed`: submit `count` delayed tasks in one batch, due from `dueInMs` after the start
 * and spread evenly over `spreadMs` (each payload's `sentAt` is its due time).
 */
export type ProducerJob =
  & { system: SystemName; env: BenchEnv; payloadBytes: number }
  & ({ mode: "batch"; count: number } | { mode: "rate"; rate: number; seconds: number } | { mode: "delayed"; count: number; dueInMs: number; spreadMs: number });

export interface HttpServerJob {
  system: SystemName;
  env: BenchEnv;
  port: number;
}

/** [submitted, started, settled], epoch ms. */
export type Timing = [number, number, number];

/** A worker's count of stored outcomes, and when its first task started and its latest outcome was stored (0: not yet). */
export interface Progress {
  settled: number;
  firstStartedAt: number;
  lastSettledAt: number;
}

export type ChildMessage =
  | { kind: "ready" }
  | ({ kind: "progress" } & Progress)
  | ({ kind: "final"; timings: Timing[] } & Progress)
  | { kind: "submitted"; startedAt: number; endedAt: number; submitted: number; failed: number; sampleIds: string[] };

export type RunnerMessage = { kind: "stop" };

/** The job a child process was started with. */
export function job<T>(): T {
  return JSON.parse(process.argv[2]) as T;
}

export function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(message, undefined, undefined, (err) => (err ? reject(err) : resolve())));
}
