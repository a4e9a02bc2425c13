/**
 * What the benchmark asks of each queue system: submit tasks, work them with bounded concurrency
 * and a no-op handler, and say whether an outcome was recorded. Every system does the same work.
 */

/** Where the systems under test live; one fresh queue (and, for NATS, usually one fresh server) per measurement. */
export interface BenchEnv {
  /** Empty for a system that does not use NATS. */
  natsUrl: string;
  redisUrl: string;
  /** Unique per measurement, so no run sees another's tasks. */
  queue: string;
}

/** A task's data: when it was submitted (epoch ms, sub-ms precision) and padding to the payload size. */
export interface BenchPayload {
  sentAt: number;
  pad: string;
}

export interface Producer {
  /** Submits a batch the way a user of the system would; resolves with the task ids once all are accepted. */
  submitMany(payloads: BenchPayload[]): Promise<string[]>;
  /** Submits one task; resolves with its id once accepted. */
  submit(payload: BenchPayload): Promise<string>;
  /** Submits tasks each due at its payload's `sentAt`, if the system has delayed tasks. */
  submitDelayed?(payloads: BenchPayload[]): Promise<string[]>;
  close(): Promise<void>;
}

/** Called by a worker: when the handler starts a task, and when the task's outcome is stored. */
export interface WorkerHooks {
  started(id: string, payload: BenchPayload): void;
  settled(id: string): void;
}

export interface BenchWorker {
  close(): Promise<void>;
}

export interface System {
  /** Whether it keeps its queue in NATS (each measurement then gets a fresh nats-server). */
  usesNats: boolean;
  /** Creates what a measurement needs (streams, consumers, buckets) before its processes start. */
  prepare(env: BenchEnv): Promise<void>;
  producer(env: BenchEnv): Promise<Producer>;
  /**
   * `delayed`: the worker also runs what makes delayed tasks due, if that is a process of its own;
   * `schedulerOnly`: it runs only that, and works no task.
   */
  worker(env: BenchEnv, concurrency: number, hooks: WorkerHooks, options?: { delayed?: boolean; schedulerOnly?: boolean }): Promise<BenchWorker>;
  /** How many of `ids` have a stored `completed` outcome that a user could query. */
  countCompleted(env: BenchEnv, ids: string[]): Promise<number>;
  /** Removes what the measurement left behind: in Redis, and on a NATS server that outlives it (NATS_URL). */
  cleanup(env: BenchEnv): Promise<void>;
}

export const SYSTEM_NAMES = ["edgeq", "bullmq", "jetstream"] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** A system as edgeq's ratios and targets name it: raw JetStream is there as the ceiling. */
export const SHOWN_AS: Record<SystemName, string> = { edgeq: "edgeq", bullmq: "bullmq", jetstream: "ceiling" };

/** JSON data of about `bytes` bytes once serialized. */
export function payload(bytes: number): BenchPayload {
  let pad = pads.get(bytes);
  if (pad === undefined) {
    pad = "x".repeat(Math.max(0, bytes - JSON.stringify({ sentAt: now(), pad: "" }).length));
    pads.set(bytes, pad);
  }
  return { sentAt: now(), pad };
}
const pads = new Map<number, string>();

/** Wall-clock ms with sub-ms precision, comparable across processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
