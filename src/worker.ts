/**
 * A worker: pulls tasks from the consumers of its queues, high before normal before low, runs their
 * handlers with bounded concurrency, records each outcome and then acknowledges the message.
 *
 * Pulling. When a slot frees, the worker asks each consumer in priority order, without waiting,
 * for as many tasks as it has free slots. If that leaves slots free, it parks one waiting pull of
 * one message on every consumer that has none, so an idle worker sends a few requests per
 * `idlePullMs` and wakes the moment a task arrives. Parked pulls may deliver up to one task per
 * consumer beyond the concurrency; such tasks wait in a local buffer, highest priority first.
 *
 * Leases. Every task the worker holds, buffered or running, is kept leased by one timer that sends
 * "working" every third of the ack wait, so a long task is not redelivered to another worker. A
 * worker that dies stops sending, and JetStream redelivers its tasks after the ack wait.
 *
 * Outcomes. The record is written before the ack: a task is acknowledged only once its outcome is
 * stored. If the worker dies in between, the task runs again (at-least-once).
 */
import { z } from "zod";
import type { Edgeq } from "./client.ts";
import { parseInput } from "./config.ts";
import { Delivery } from "./delivery.ts";
import { EdgeqError, NoHandlerError, ValidationError } from "./errors.ts";
import { Heartbeat, type WorkerInfo } from "./heartbeat.ts";
import { decodeTask, idSchema, type IncomingTask, queueSchema } from "./message.ts";
import { consumerName, DEFAULT_QUEUE, PRIORITIES, type Priority, TYPE_PATTERN, WORK_STREAM } from "./names.ts";
import { Puller } from "./puller.ts";
import { newRecord, type TaskRecord } from "./records.ts";

/** What a handler gets besides the task's data. */
export interface TaskContext {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  /** 1 on the first delivery. */
  attempt: number;
  maxAttempts: number;
  workerId: string;
  /** Aborted when the worker gives the task back at shutdown. */
  signal: AbortSignal;
  /** Tells JetStream the task is still in progress (the worker also does this on its own). */
  working(): void;
}

// deno-lint-ignore no-explicit-any
export type Handler = (data: any, ctx: TaskContext) => unknown;
export type Handlers = Record<string, Handler>;

export const workerOptionsSchema = z.strictObject({
  queues: z.array(queueSchema).min(1, "must name at least one queue").default([DEFAULT_QUEUE]),
  /** Tasks run at once. */
  concurrency: z.number().int().min(1).max(10_000).default(10),
  heartbeatIntervalMs: z.number().int().min(100).default(5000),
  /** How long a parked pull waits on an empty consumer before it is renewed. */
  idlePullMs: z.number().int().min(1000).default(10_000),
  /** How long `stop()` lets running tasks finish before giving them back. */
  shutdownGraceMs: z.number().int().min(0).default(10_000),
  id: idSchema.optional(),
  /** Reported in heartbeats; runtime adapters fill these in. */
  host: z.string().max(256).default("unknown"),
  runtime: z.string().max(64).default("unknown"),
  /** Where the worker reports errors it survives (a failed record write, a failed heartbeat). */
  onError: z.custom<(err: unknown) => void>((v) => typeof v === "function").optional(),
});
export type WorkerOptions = z.input<typeof workerOptionsSchema>;
type ResolvedOptions = z.output<typeof workerOptionsSchema>;

/** Delay before a failed task is offered again: 1 s, 2 s, 4 s … capped at a minute. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), 60_000);
}

interface Running {
  task: IncomingTask;
  abort: AbortController;
  /** Set when shutdown gave the task back; the handler's late outcome is then ignored. */
  returned: boolean;
  done: Promise<void>;
  record: TaskRecord;
}

interface Source {
  consumer: string;
  rank: number;
}

export class Worker {
  readonly id: string;
  readonly #startedAt = new Date().toISOString();
  /** Consumers in the order they are asked: every queue's high, then normal, then low. */
  readonly #sources: Source[];
  /** Delivered but not started, one list per priority rank. */
  readonly #buffer: Delivery[][] = PRIORITIES.map(() => []);
  readonly #running = new Map<Delivery, Running>();
  readonly #heartbeat: Heartbeat;
  readonly #puller: Puller;
  /** Consumers with a parked pull open. */
  readonly #parked = new Set<string>();
  #probing = false;
  #stopping: Promise<void> | undefined;
  #leaseTimer: ReturnType<typeof setInterval> | undefined;
  #stopReconnect: (() => void) | undefined;
  #completed = 0;
  #failed = 0;
  #processed = 0;

  private constructor(
    private readonly edgeq: Edgeq,
    private readonly handlers: Handlers,
    private readonly opts: ResolvedOptions,
  ) {
    this.#puller = new Puller(edgeq.nc, WORK_STREAM);
    this.id = opts.id ?? `${opts.host.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)}-${crypto.randomUUID().slice(0, 8)}`;
    this.#sources = PRIORITIES.flatMap((priority, rank) =>
      opts.queues.map((queue) => ({ consumer: consumerName(queue, priority), rank }))
    );
    this.#heartbeat = new Heartbeat(
      edgeq.buckets.workers,
      edgeq.buckets.stats,
      () => this.info(),
      opts.heartbeatIntervalMs,
      this.#report,
    );
  }

  static async start(edgeq: Edgeq, handlers: Handlers, options: WorkerOptions = {}): Promise<Worker> {
    const opts = parseInput(workerOptionsSchema, options, "worker options");
    validateHandlers(handlers);
    const ackWaits = await Promise.all(opts.queues.map((queue) => edgeq.ensureQueue(queue)));
    const worker = new Worker(edgeq, handlers, opts);
    await worker.#heartbeat.start();
    worker.#leaseTimer = setInterval(() => worker.#renewLeases(), Math.min(...ackWaits) / 3);
    worker.#stopReconnect = edgeq.connection.onReconnect(() => {
      worker.#puller.abandonAll();
      worker.#fill();
    });
    worker.#fill();
    return worker;
  }

  /** The heartbeat's content. */
  info(): WorkerInfo {
    return {
      id: this.id,
      host: this.opts.host,
      runtime: this.opts.runtime,
      queues: this.opts.queues,
      concurrency: this.opts.concurrency,
      in_flight: this.#running.size,
      running: [...this.#running.values()].map((r) => r.task.id),
      processed: this.#processed,
      completed: this.#completed,
      failed: this.#failed,
      started_at: this.#startedAt,
      last_heartbeat: new Date().toISOString(),
    };
  }

  /**
   * Stops pulling, gives back buffered tasks, lets running ones finish for `graceMs`, gives back the
   * rest (their records return to `pending`), and removes the worker from the live list.
   */
  stop(graceMs = this.opts.shutdownGraceMs): Promise<void> {
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  async #shutdown(graceMs: number): Promise<void> {
    // Unsubscribing the parked pulls first lets the server skip them instead of delivering to us.
    this.#puller.abandonAll();
    for (const list of this.#buffer) list.splice(0).forEach((d) => d.nak());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([Promise.all([...this.#running.values()].map((r) => r.done)), graceOver]);
    clearTimeout(timer);
    await Promise.all([...this.#running].map(([delivery, run]) => this.#giveBack(delivery, run)));
    this.#stopReconnect?.();
    clearInterval(this.#leaseTimer);
    await this.#heartbeat.stop().catch(this.#report);
    await this.edgeq.nc.flush().catch(this.#report);
  }

  async #giveBack(delivery: Delivery, run: Running): Promise<void> {
    run.returned = true;
    run.abort.abort(new Error("worker shutting down"));
    this.#running.delete(delivery);
    const now = new Date().toISOString();
    await this.#write({ ...run.record, status: "pending", worker_id: null, updated_at: now }).catch(this.#report);
    delivery.nak();
  }

  #report = (err: unknown): void => {
    (this.opts.onError ?? console.error)(err);
  };

  get #buffered(): number {
    return this.#buffer.reduce((n, list) => n + list.length, 0);
  }

  /** Asks the consumers for as many tasks as there are free slots; parks pulls when all are empty. */
  #fill(): void {
    if (this.#stopping || this.#probing) return;
    const free = this.opts.concurrency - this.#running.size - this.#buffered;
    if (free <= 0) return;
    this.#probing = true;
    this.#probe(free)
      .then((got) => {
        this.#probing = false;
        if (got < free) this.#park();
        if (got > 0) this.#fill();
      })
      .catch((err) => {
        this.#probing = false;
        this.#report(err);
      });
  }

  async #probe(free: number): Promise<number> {
    let got = 0;
    for (const { consumer, rank } of this.#sources) {
      if (got >= free || this.#stopping) break;
      got += await this.#puller.pull(consumer, { batch: free - got, noWait: true }, (msg) =>
        this.#accept(new Delivery(msg), rank)
      );
    }
    return got;
  }

  #park(): void {
    for (const { consumer, rank } of this.#sources) {
      if (this.#stopping || this.#parked.has(consumer)) continue;
      this.#parked.add(consumer);
      this.#puller
        .pull(consumer, { batch: 1, expiresMs: this.opts.idlePullMs }, (msg) => this.#accept(new Delivery(msg), rank))
        .then(() => {
          this.#parked.delete(consumer);
          this.#fill();
        });
    }
  }

  #accept(delivery: Delivery, rank: number): void {
    if (this.#stopping) return delivery.nak();
    this.#buffer[rank].push(delivery);
    this.#dispatch();
  }

  #dispatch(): void {
    while (this.#running.size < this.opts.concurrency && !this.#stopping) {
      const delivery = this.#buffer.find((list) => list.length > 0)?.shift();
      if (!delivery) return;
      this.#start(delivery);
    }
  }

  #renewLeases(): void {
    for (const list of this.#buffer) list.forEach((d) => d.working());
    for (const delivery of this.#running.keys()) delivery.working();
  }

  #start(delivery: Delivery): void {
    let task: IncomingTask;
    try {
      task = decodeTask(delivery.msg, delivery.streamSeq);
    } catch (err) {
      // The stream only captures work subjects, so this is a message no worker could ever read.
      delivery.term((err as Error).message);
      this.#report(err);
      return;
    }
    const now = new Date().toISOString();
    const maxAttempts = task.maxAttempts ?? this.edgeq.config.maxAttempts;
    const record = newRecord(task, {
      status: "running",
      attempts: delivery.deliveryCount,
      max_attempts: maxAttempts,
      worker_id: this.id,
      created_at: new Date(delivery.storedAt).toISOString(),
      started_at: now,
      updated_at: now,
    });
    // Not awaited: the outcome written later on the same connection is stored after it.
    this.#write(record).catch(this.#report);
    const run: Running = { task, abort: new AbortController(), returned: false, done: Promise.resolve(), record };
    this.#running.set(delivery, run);
    run.done = this.#run(delivery, run, maxAttempts).catch(this.#report).finally(() => {
      if (run.returned) return;
      this.#running.delete(delivery);
      this.#processed++;
      this.#dispatch();
      this.#fill();
    });
  }

  async #run(delivery: Delivery, run: Running, maxAttempts: number): Promise<void> {
    const { task, record } = run;
    const ctx: TaskContext = {
      id: task.id,
      type: task.type,
      queue: task.queue,
      priority: task.priority,
      attempt: delivery.deliveryCount,
      maxAttempts,
      workerId: this.id,
      signal: run.abort.signal,
      working: () => delivery.working(),
    };
    let outcome: TaskRecord;
    try {
      const handler = Object.hasOwn(this.handlers, task.type) ? this.handlers[task.type] : undefined;
      if (!handler) throw new NoHandlerError(`no handler for task type "${task.type}" on worker ${this.id}`);
      const result = await handler(task.data, ctx);
      outcome = this.#finished(record, "completed", { result: result ?? null });
    } catch (err) {
      outcome = this.#failure(record, err, maxAttempts);
    }
    if (run.returned) return;
    try {
      await this.#write(outcome).catch((err) => {
        // A result the record cannot hold (too large, not JSON) fails the task; retrying would not help.
        if (!(err instanceof EdgeqError)) throw err;
        outcome = this.#finished(record, "failed", { error: `${err.name}: ${err.message}` });
        return this.#write(outcome);
      });
    } catch (err) {
      // Outcome not stored: leave the message unacknowledged so it is redelivered after the ack wait.
      this.#report(err);
      return;
    }
    if (outcome.status === "completed") {
      this.#completed++;
      delivery.ack();
    } else if (outcome.status === "failed") {
      this.#failed++;
      delivery.term(outcome.error ?? "failed");
    } else {
      delivery.nak(retryDelayMs(delivery.deliveryCount));
    }
  }

  /** The record after a failed attempt: `failed` when attempts are used up, else `pending` for a retry. */
  #failure(record: TaskRecord, err: unknown, maxAttempts: number): TaskRecord {
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    if (record.attempts >= maxAttempts) return this.#finished(record, "failed", { error });
    return { ...record, status: "pending", error, updated_at: new Date().toISOString() };
  }

  #finished(record: TaskRecord, status: "completed" | "failed", fields: Partial<TaskRecord>): TaskRecord {
    const now = new Date().toISOString();
    return { ...record, ...fields, status, finished_at: now, updated_at: now };
  }

  #write(record: TaskRecord): Promise<void> {
    return this.edgeq.tasks.put(record);
  }
}

function validateHandlers(handlers: Handlers): void {
  if (typeof handlers !== "object" || handlers === null) throw new ValidationError("handlers must be an object of functions");
  for (const [type, fn] of Object.entries(handlers)) {
    if (!TYPE_PATTERN.test(type)) throw new ValidationError(`handler name "${type}" is not a valid task type`);
    if (typeof fn !== "function") throw new ValidationError(`handler "${type}" is not a function`);
  }
}
