/** What a worker is started with, and what its handlers are given. */
import { z } from "zod";
import {
  DEFAULT_QUEUE,
  idSchema,
  type Priority,
  queueSchema,
  type TaskRecord,
  TYPE_PATTERN,
  ValidationError,
} from "../wire/mod.ts";
import type { ParentOutcome } from "../flows/parents.ts";

/** What a handler gets besides the task's data. */
export interface TaskContext {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  /** 1 on the first run. */
  attempt: number;
  maxAttempts: number;
  workerId: string;
  /** Aborted at the task's time-out, and when the worker gives the task back at shutdown. */
  signal: AbortSignal;
  /** Tells JetStream the task is still in progress (the worker also does this on its own). */
  working(): void;
  /**
   * Reports progress, shown in the task's record: a number 0–100, or JSON of at most 4 KiB
   * (ValidationError otherwise). Call it as often as you like: it is written a few times a second at most.
   */
  progress(value: unknown): void;
  /** A task submitted with `dependsOn`: each parent's result by its id (null for one that did not complete); `{}` otherwise. */
  parents: Readonly<Record<string, unknown>>;
  /** How each parent ended, for a task that runs anyway (`runAnyway`); null for a parent whose record is gone. */
  parentOutcomes: Readonly<Record<string, ParentOutcome | null>>;
}

// deno-lint-ignore no-explicit-any
export type Handler = (data: any, ctx: TaskContext) => unknown;
export type Handlers = Record<string, Handler>;

export const workerOptionsSchema = z.strictObject({
  queues: z.array(queueSchema).min(1, "must name at least one queue").default([DEFAULT_QUEUE]),
  /** Tasks run at once. */
  concurrency: z.number().int().min(1).max(10_000).default(10),
  /**
   * Most deliveries held beyond `concurrency`, waiting for a slot. The worker holds only what it
   * would start within about 100 ms at its recent pace, so a worker of slow tasks holds none and
   * leaves them to idle workers. 200: a busy worker's memory grows with what it holds (busy RSS
   * in the bench: 145 MB at 1,000, 126 MB at 200, 102 MB at 50, where its throughput fell by 12 %).
   */
  prefetch: z.number().int().min(0).max(10_000).default(200),
  /**
   * A run that lasts this long has `running` stored in its record (shorter ones go from `pending`
   * straight to their outcome). It is also what makes a run that kills its worker count.
   */
  runningAfterMs: z.number().int().min(0).max(3600_000).default(1000),
  heartbeatIntervalMs: z.number().int().min(100).default(5000),
  /**
   * How the starts are shared among priorities while more than one has tasks waiting: weights
   * (by default high 6, normal 3, low 1: under a steady high backlog, normal still gets 3 starts in
   * 10 and low 1), or "strict": the highest priority always first, so that a steady high backlog
   * starves the others. A worker that is not saturated starts high first either way.
   */
  priorityWeights: z
    .union([
      z.literal("strict"),
      z.strictObject({ high: z.number().int().min(1).max(1000), normal: z.number().int().min(1).max(1000), low: z.number().int().min(1).max(1000) }),
    ])
    .default({ high: 6, normal: 3, low: 1 }),
  /** How long a parked pull waits on an empty consumer before it is renewed. */
  idlePullMs: z.number().int().min(1000).default(10_000),
  /** How long `stop()` lets running tasks finish before giving them back. */
  shutdownGraceMs: z.number().int().min(0).max(24 * 3600_000).default(10_000),
  /** How often the worker deletes finished records older than the retention. */
  sweepIntervalMs: z.number().int().min(100).default(60_000),
  id: idSchema.optional(),
  /** Serves this worker's Prometheus metrics at `http://<host>:<port>/metrics` (0: a free port; see `Worker.metricsPort`). */
  metricsPort: z.number().int().min(0).max(65535).optional(),
  /** Reported in heartbeats; runtime adapters fill these in. */
  host: z.string().max(256).default("unknown"),
  runtime: z.string().max(64).default("unknown"),
  /** Where the worker reports errors it survives (a failed record write, a failed heartbeat). */
  onError: z.custom<(err: unknown) => void>((v) => typeof v === "function").optional(),
  /** Called with the record once an attempt's outcome is stored: completed, failed, dead, or pending for a retry. */
  onOutcome: z.custom<(record: TaskRecord) => void>((v) => typeof v === "function").optional(),
});
export type WorkerOptions = z.input<typeof workerOptionsSchema>;
export type ResolvedWorkerOptions = z.output<typeof workerOptionsSchema>;

export function validateHandlers(handlers: Handlers): void {
  if (typeof handlers !== "object" || handlers === null) throw new ValidationError("handlers must be an object of functions");
  for (const [type, fn] of Object.entries(handlers)) {
    if (!TYPE_PATTERN.test(type)) throw new ValidationError(`handler name "${type}" is not a valid task type`);
    if (typeof fn !== "function") throw new ValidationError(`handler "${type}" is not a function`);
  }
}
