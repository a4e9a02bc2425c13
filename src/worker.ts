/**
 * A worker: pulls tasks from the consumers of its queues, high before normal before low, runs their
 * handlers with bounded concurrency, records each outcome and then acknowledges the message.
 *
 * Pulling. When a slot frees, the worker asks each consumer in priority order, without waiting,
 * for as many tasks as it has free slots. If that leaves slots free, it parks one waiting pull on
 * every consumer that has none, for an equal share of the free slots, so an idle worker sends a
 * few requests per `idlePullMs` and wakes the moment a task arrives. A task that arrives when every
 * slot is taken (a parked pull can deliver after the slots filled) is handed back at once for
 * another worker.
 *
 * Attempts. The record counts handler starts: `running` is stored, with the attempt number,
 * before the handler starts, at the revision read on delivery. That read catches a task whose
 * outcome is already stored (the ack was lost), which is settled without running again, and a task
 * whose workers keep dying under it, which is failed once its attempts are used up.
 *
 * Leases. One timer sends "working" for every running task every third of the ack wait, so a long
 * task is not redelivered to another worker. A worker that dies stops sending, and JetStream
 * redelivers its tasks after the ack wait.
 *
 * Outcomes. The record is written before the ack: a task is acknowledged only once its outcome is
 * stored. If the worker dies in between, the redelivery finds the outcome and only acknowledges.
 * A failed attempt with attempts left is nak'd with the task's backoff delay; a PermanentError
 * fails the task at once; a task whose attempts are used up, or whose message cannot be read, is
 * published to the dead-letter stream before its record says `dead` and its message is terminated.
 * If that publish fails, the record keeps the attempt as `pending` and the message comes back to
 * be buried.
 *
 * Time-outs. An attempt that runs past the task's `timeoutMs` has its signal aborted and counts as
 * failed at once, freeing its slot: JavaScript cannot stop a handler that ignores its signal.
 */
import type { Msg } from "@nats-io/nats-core";
import { z } from "zod";
import type { Edgeq } from "./client.ts";
import { parseInput } from "./config.ts";
import { Delivery } from "./delivery.ts";
import { EdgeqError, NoHandlerError, PermanentError, TaskTimeoutError, ValidationError } from "./errors.ts";
import { Heartbeat, type WorkerInfo } from "./heartbeat.ts";
import { decodeTask, headersOf, idSchema, type IncomingTask, queueSchema, taskId } from "./message.ts";
import { consumerName, DEFAULT_PRIORITY, DEFAULT_QUEUE, parseTaskSubject, PRIORITIES, type Priority, TYPE_PATTERN, WORK_STREAM } from "./names.ts";
import { Puller } from "./puller.ts";
import { type Attempt, FINAL_STATUSES, newRecord, type TaskRecord, withAttempt } from "./records.ts";
import { parseBackoff, resolvePolicy, retryDelayMs, type RetryPolicy } from "./retry.ts";

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
  shutdownGraceMs: z.number().int().min(0).max(24 * 3600_000).default(10_000),
  /** How often the worker deletes finished records older than the retention. */
  sweepIntervalMs: z.number().int().min(100).default(60_000),
  id: idSchema.optional(),
  /** Reported in heartbeats; runtime adapters fill these in. */
  host: z.string().max(256).default("unknown"),
  runtime: z.string().max(64).default("unknown"),
  /** Where the worker reports errors it survives (a failed record write, a failed heartbeat). */
  onError: z.custom<(err: unknown) => void>((v) => typeof v === "function").optional(),
  /** Called with the record once an attempt's outcome is stored: completed, failed, dead, or pending for a retry. */
  onOutcome: z.custom<(record: TaskRecord) => void>((v) => typeof v === "function").optional(),
});
export type WorkerOptions = z.input<typeof workerOptionsSchema>;
type ResolvedOptions = z.output<typeof workerOptionsSchema>;

/** Times a run re-reads its record when a write landed between its read and its `running` write. */
const BEGIN_REREADS = 2;

/** Between tries to publish a dead letter: 0.5–2 s after the first, doubling with each redelivery since, up to a minute. */
const BURIAL_BACKOFF = parseBackoff("exponential:1000:60000")!;

/** Pause before pulling again after a pull the server did not answer. */
const UNANSWERED_PAUSE_MS = 1000;

interface Running {
  /** Known before the message is read, so that even an unreadable one is recorded under it. */
  id: string;
  task?: IncomingTask;
  policy?: RetryPolicy;
  /** Made when the handler first reads its signal, or when the run is aborted: most runs need none. */
  abort?: AbortController;
  /** The `running` record, once written. */
  record?: TaskRecord;
  /**
   * Revision of that write: later writes of this run go through only if the record is still there,
   * so a run whose lease lapsed cannot overwrite (or acknowledge) the run that took over.
   */
  revision?: number;
  /** Set when the outcome write has begun: shutdown then waits for it rather than giving the task back. */
  finishing: boolean;
  /** Set when shutdown gave the task back; the handler's late outcome is then ignored. */
  returned: boolean;
  /**
   * Set when the run's lease may have lapsed (see #checkLeases): JetStream may have handed the task
   * to another worker.
   */
  lapsed: boolean;
  /** Resolves true once `running` is stored and the handler may start; false if the run ended before. */
  begun: Promise<boolean>;
  done: Promise<void>;
}

export class Worker {
  readonly id: string;
  readonly #startedAt = new Date().toISOString();
  /** Consumers in the order they are asked: every queue's high, then normal, then low. */
  readonly #consumers: string[];
  readonly #running = new Map<Delivery, Running>();
  readonly #heartbeat: Heartbeat;
  readonly #puller: Puller;
  /** Consumers with a parked pull open. */
  readonly #parked = new Set<string>();
  #probing = false;
  #stopping: Promise<void> | undefined;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #stopReconnect: (() => void) | undefined;
  /** The shortest ack wait of the worker's queues. */
  #ackWaitMs = 0;
  /** When leases were last renewed with the connection up (`performance.now()`). */
  #renewedAt = 0;
  /**
   * Set by a renewal that came too late, until one comes in time: a delivery accepted meanwhile may
   * have waited out its lease in the socket while the event loop was blocked.
   */
  #late = false;
  #completed = 0;
  #failed = 0;
  #processed = 0;

  private constructor(
    private readonly edgeq: Edgeq,
    private readonly handlers: Handlers,
    private readonly opts: ResolvedOptions,
  ) {
    this.#puller = new Puller(edgeq.nc, edgeq.js.apiPrefix, WORK_STREAM, this.#report);
    this.id = opts.id ?? `${opts.host.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)}-${crypto.randomUUID().slice(0, 8)}`;
    this.#consumers = PRIORITIES.flatMap((priority) => opts.queues.map((queue) => consumerName(queue, priority)));
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
    worker.#ackWaitMs = Math.min(...ackWaits);
    await worker.#heartbeat.start();
    worker.#renewedAt = performance.now();
    worker.#timers.push(
      setInterval(() => worker.#renewLeases(), worker.#ackWaitMs / 3),
      setInterval(() => edgeq.tasks.sweep(edgeq.config.retentionMs).catch(worker.#report), opts.sweepIntervalMs),
    );
    worker.#stopReconnect = edgeq.connection.onReconnect(() => {
      worker.#checkLeases();
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
      running: [...this.#running.values()].map((r) => r.id),
      processed: this.#processed,
      completed: this.#completed,
      failed: this.#failed,
      started_at: this.#startedAt,
      last_heartbeat: new Date().toISOString(),
    };
  }

  /**
   * Stops pulling, lets running tasks finish for `graceMs`, gives back the rest (their records
   * return to `pending`), and removes the worker from the live list.
   */
  stop(graceMs = this.opts.shutdownGraceMs): Promise<void> {
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  async #shutdown(graceMs: number): Promise<void> {
    // Unsubscribing the parked pulls first lets the server skip them instead of delivering to us.
    this.#puller.abandonAll();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([Promise.all([...this.#running.values()].map((r) => r.done)), graceOver]);
    clearTimeout(timer);
    await Promise.all(
      [...this.#running].map(([delivery, run]) => (run.finishing ? run.done : this.#giveBack(delivery, run))),
    );
    this.#stopReconnect?.();
    this.#timers.forEach(clearInterval);
    // With NATS down, goodbyes would only wait out their time-outs: the heartbeat expires by itself.
    if (!this.edgeq.connection.up) return this.#heartbeat.halt();
    await this.#heartbeat.stop().catch(this.#report);
    await this.edgeq.nc.flush().catch(this.#report);
  }

  async #giveBack(delivery: Delivery, run: Running): Promise<void> {
    run.returned = true;
    abortRun(run, new Error("worker shutting down"));
    this.#running.delete(delivery);
    // Not begun (settled or handed back already), or begun: then `running` is stored and is taken back.
    if (!(await run.begun)) return;
    // With NATS down there is no one to tell, and a run whose lease may have lapsed may have been
    // taken over: our -NAK would hand the delivery of the run that holds it to a third. The message
    // comes back after the ack wait, and counts this run as one that ended without an outcome.
    if (!this.edgeq.connection.up || run.lapsed) return;
    const { record, revision } = run as Required<Running>;
    // The interrupted run does not count as an attempt.
    const back = { ...record, status: "pending" as const, attempts: record.attempts - 1, worker_id: null };
    const stored = await this.edgeq.tasks.putIfUnchanged({ ...back, updated_at: new Date().toISOString() }, revision).catch((err) => {
      this.#report(err);
      return null;
    });
    // Refused: this run's lease lapsed and another run holds the task. The server would take a nak
    // from us for that run's delivery and hand the message to a third.
    if (stored !== null) delivery.nak();
  }

  #report = (err: unknown): void => {
    (this.opts.onError ?? console.error)(err);
  };

  /** Asks the consumers for as many tasks as there are free slots; parks pulls when that is not enough. */
  #fill(): void {
    // A closed connection (closed by its owner, or out of reconnect attempts) has nothing more to give.
    if (this.#stopping || this.#probing || this.edgeq.nc.isClosed()) return;
    const free = this.opts.concurrency - this.#running.size;
    if (free <= 0) return;
    this.#probing = true;
    this.#probe(free).then((got) => {
      this.#probing = false;
      if (got < free) this.#park();
      if (got > 0) this.#fill();
    });
  }

  async #probe(free: number): Promise<number> {
    let got = 0;
    for (const consumer of this.#consumers) {
      if (got >= free || this.#stopping) break;
      const onMsg = (msg: Msg) => this.#accept(new Delivery(msg));
      got += (await this.#puller.pull(consumer, { batch: free - got, noWait: true }, onMsg)).received;
    }
    return got;
  }

  #park(): void {
    // Open for several tasks, so that a trickle of tasks does not wait while a pull is renewed
    // (a pull of one halved the latency's p50 this way); together they ask for no more than the free slots.
    const batch = Math.max(1, Math.floor((this.opts.concurrency - this.#running.size) / this.#consumers.length));
    for (const consumer of this.#consumers) {
      if (this.#stopping || this.#parked.has(consumer)) continue;
      this.#parked.add(consumer);
      this.#puller
        .pull(consumer, { batch, expiresMs: this.opts.idlePullMs }, (msg) => this.#accept(new Delivery(msg)))
        .then(({ answered }) => {
          this.#parked.delete(consumer);
          // Without the server's answer (NATS unreachable), pause rather than re-park at once.
          if (answered) this.#fill();
          else setTimeout(() => this.#fill(), UNANSWERED_PAUSE_MS); // a no-op once stopped
        });
    }
  }

  #accept(delivery: Delivery): void {
    // Handed back at once, not held: another worker may be free now.
    if (this.#stopping || this.#running.size >= this.opts.concurrency) return delivery.nak();
    const run: Running = {
      id: taskId(delivery.msg, delivery.streamSeq),
      finishing: false,
      lapsed: this.#late,
      returned: false,
      begun: Promise.resolve(false),
      done: Promise.resolve(),
    };
    this.#running.set(delivery, run);
    run.begun = this.#begin(delivery, run).catch((err) => (this.#report(err), false));
    run.done = run.begun
      .then((ready) => (ready && !run.returned ? this.#execute(delivery, run) : undefined))
      .catch(this.#report)
      .finally(() => {
        if (run.returned) return;
        this.#running.delete(delivery);
        this.#processed++;
        this.#fill();
      });
  }

  #renewLeases(): void {
    this.#checkLeases();
    if (this.edgeq.connection.up) this.#renewedAt = performance.now();
    for (const delivery of this.#running.keys()) delivery.working();
  }

  /**
   * Marks the runs whose leases may have lapsed: no renewal went out for two thirds of the ack wait
   * (the event loop was blocked, or the connection was down), past which one sent now may arrive late.
   */
  #checkLeases(): void {
    this.#late = performance.now() - this.#renewedAt > (this.#ackWaitMs * 2) / 3;
    if (this.#late) for (const run of this.#running.values()) run.lapsed = true;
  }

  /**
   * Stores `running` with the attempt number. Resolves true when the handler may start; false when
   * the delivery was settled or handed back instead.
   *
   * A task submitted through edgeq names the revision of its `pending` record. If the record is
   * still at it, no run has started (each stores `running` first) and nothing else has written it:
   * this is attempt 1, stored there without a read. Otherwise the record is read and decides; so is
   * a delivery the server counts as a redelivery, whose `running` write at that revision would
   * only be refused.
   */
  async #begin(delivery: Delivery, run: Running): Promise<boolean> {
    let task: IncomingTask | Error;
    try {
      task = decodeTask(delivery.msg, run.id);
    } catch (err) {
      task = err as Error;
    }
    if (!(task instanceof Error) && task.recordRevision && delivery.deliveryCount === 1) {
      const policy = resolvePolicy(this.edgeq.config, task.queue, task.type, task.policy);
      const begun = await this.#storeRunning(delivery, run, task, policy, this.#runningRecord(delivery, task, policy, null), task.recordRevision);
      if (begun !== null) return begun;
    }
    return this.#beginFromRecord(delivery, run, task);
  }

  /** `#begin` for a task whose record has to be read first; `task` is the error if its message cannot be read. */
  async #beginFromRecord(delivery: Delivery, run: Running, task: IncomingTask | Error, rereads = BEGIN_REREADS): Promise<boolean> {
    // Read on every such delivery: the server's delivery count cannot tell a first delivery (it rolls
    // a redelivery back to 1 when it first went to a pull request whose worker had gone).
    let found: { record: TaskRecord | null; revision: number };
    try {
      found = await this.edgeq.tasks.read(run.id);
    } catch (err) {
      this.#report(err);
      delivery.nak(1000);
      return false;
    }
    // The record of this message: by its stream sequence, or a `pending` one written before the
    // message was (a submission's, or a requeue's with the history before it died). One of an
    // earlier task that reused the id does not count.
    const previous = found.record?.seq === delivery.streamSeq || (found.record?.status === "pending" && found.record.seq === undefined)
      ? found.record
      : null;
    if (previous && FINAL_STATUSES.includes(previous.status)) {
      // The outcome was stored but the acknowledgement was lost: settle it without running again.
      previous.status === "completed" ? delivery.ack() : delivery.term();
      return false;
    }
    if (task instanceof Error) {
      await this.#settle(delivery, run, this.#unreadable(delivery, run.id, task), found.revision);
      return false;
    }
    const policy = resolvePolicy(this.edgeq.config, task.queue, task.type, task.policy);
    const record = this.#runningRecord(delivery, task, policy, previous);
    if (record.attempts > policy.maxAttempts) {
      // Used up by runs that never finished (the last left `running`), or by a failure whose burial
      // did not go through (left `pending` with its error, see #settle): buried now, with that error.
      const reason = `used up its ${policy.maxAttempts} attempts; the last ended without an outcome`;
      const error = previous?.status === "running"
        ? clip(`${reason}${previous.error ? `; the last error: ${previous.error}` : ""}`)
        : previous?.error ?? reason;
      const dead = this.#finished({ ...record, attempts: policy.maxAttempts, worker_id: previous?.worker_id ?? null }, "dead", { error });
      await this.#settle(delivery, run, dead, found.revision);
      return false;
    }
    const begun = await this.#storeRunning(delivery, run, task, policy, record, found.revision);
    if (begun !== null) return begun;
    // Written since it was read. Mostly the submitter's `pending` landing after a quick worker's
    // read: read again and go on at once. If it keeps changing (a lapsed run finishing late),
    // decide on the next delivery.
    if (rereads > 0 && !run.returned) return this.#beginFromRecord(delivery, run, task, rereads - 1);
    delivery.nak(1000);
    return false;
  }

  /** The `running` record of this delivery's run, after the attempts `previous` (this message's record, if any) tells of. */
  #runningRecord(delivery: Delivery, task: IncomingTask, policy: RetryPolicy, previous: TaskRecord | null): TaskRecord {
    const now = new Date().toISOString();
    // A run that never reported (its worker died or was cut off) is an attempt without an outcome.
    const history = previous?.status === "running"
      ? withAttempt(previous, this.#attempt(previous, "ended without an outcome (the worker stopped or lost its connection)"))
      : previous?.history ?? [];
    return newRecord(task, {
      status: "running",
      attempts: (previous?.attempts ?? 0) + 1,
      max_attempts: policy.maxAttempts,
      worker_id: this.id,
      created_at: new Date(delivery.storedAt).toISOString(),
      started_at: now,
      updated_at: now,
      seq: delivery.streamSeq,
      error: previous?.error ?? null,
      history,
    });
  }

  /**
   * Stores `running` if the record is still at `revision`. Stored before the handler starts: a
   * handler that blocks or kills the process cannot delay it past a takeover, and a task that kills
   * its worker has this attempt counted. Resolves true when stored, false when the delivery was
   * handed back after an error, null when the record had moved on.
   */
  async #storeRunning(delivery: Delivery, run: Running, task: IncomingTask, policy: RetryPolicy, record: TaskRecord, revision: number): Promise<boolean | null> {
    let stored: number | null;
    try {
      stored = await this.edgeq.tasks.putIfUnchanged(record, revision);
    } catch (err) {
      this.#report(err);
      delivery.nak(1000);
      return false;
    }
    if (stored === null) return null;
    Object.assign(run, { task, policy, record, revision: stored });
    return true;
  }

  /** The `dead` record of a message no worker can read. */
  #unreadable(delivery: Delivery, id: string, err: Error): TaskRecord {
    const createdAt = new Date(delivery.storedAt).toISOString();
    const parts = parseTaskSubject(delivery.msg.subject);
    const identity = { id, type: parts?.type ?? "", queue: parts?.queue ?? "", priority: parts?.priority ?? DEFAULT_PRIORITY, data: null };
    const record = newRecord(identity, { status: "running", attempts: 0, max_attempts: 0, created_at: createdAt, seq: delivery.streamSeq });
    return this.#finished(record, "dead", { error: clip(`${err.name}: ${err.message}`) });
  }

  /** Runs the handler and settles the outcome. */
  async #execute(delivery: Delivery, run: Running): Promise<void> {
    const { task, policy, record } = run as Required<Running>;
    const ctx: TaskContext = {
      id: task.id,
      type: task.type,
      queue: task.queue,
      priority: task.priority,
      attempt: record.attempts,
      maxAttempts: record.max_attempts,
      workerId: this.id,
      get signal() {
        return (run.abort ??= new AbortController()).signal;
      },
      working: () => delivery.working(),
    };
    let outcome: TaskRecord;
    try {
      const handler = Object.hasOwn(this.handlers, task.type) ? this.handlers[task.type] : undefined;
      if (!handler) throw new NoHandlerError(`no handler for task type "${task.type}" on worker ${this.id}`);
      const result = await this.#withTimeout(run, policy.timeoutMs, () => handler(task.data, ctx));
      outcome = this.#finished(record, "completed", { result: result ?? null, history: withAttempt(record, this.#attempt(record, null)) });
    } catch (err) {
      const error = clip(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      const history = withAttempt(record, this.#attempt(record, error));
      // By name too: a handler bundled with its own copy of edgeq throws a PermanentError of another class.
      const permanent = err instanceof PermanentError || (err as Error)?.name === "PermanentError";
      if (permanent) outcome = this.#finished(record, "failed", { error, history });
      else if (record.attempts >= record.max_attempts) outcome = this.#finished(record, "dead", { error, history });
      else outcome = { ...record, status: "pending", error, history, worker_id: null, updated_at: new Date().toISOString() };
    }
    if (run.returned) return;
    await this.#settle(delivery, run, outcome, run.revision!);
  }

  /** Runs `fn`; past `timeoutMs`, aborts the run's signal and fails with TaskTimeoutError. */
  async #withTimeout(run: Running, timeoutMs: number | null, fn: () => unknown): Promise<unknown> {
    const work = Promise.resolve().then(fn);
    if (timeoutMs === null) return work;
    work.catch(() => {}); // a late failure of an attempt that timed out has no one to report to
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new TaskTimeoutError(`attempt ran past its time-out of ${timeoutMs} ms`);
        abortRun(run, err);
        reject(err);
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The history entry of the attempt `record` describes. */
  #attempt(record: TaskRecord, error: string | null): Attempt {
    return {
      attempt: record.attempts,
      worker_id: record.worker_id,
      started_at: record.started_at,
      finished_at: new Date().toISOString(),
      error,
    };
  }

  /**
   * Stores the outcome if the record is still at `revision`, then acknowledges: ack, term, or nak
   * with the retry delay. A dead task goes to the dead-letter stream first.
   */
  async #settle(delivery: Delivery, run: Running, outcome: TaskRecord, revision: number): Promise<void> {
    run.finishing = true;
    let stored: number | null;
    // The delay before the message returns, when its dead letter could not be published.
    let unburied: number | undefined;
    try {
      if (outcome.status === "dead") {
        try {
          await this.#bury(delivery, outcome);
        } catch (err) {
          this.#report(err);
          // An unreadable message has no attempt to keep: it comes back and is buried as before.
          // Counted from the delivery of the task's last attempt: one more with each failed try since.
          const delayMs = retryDelayMs(BURIAL_BACKOFF, Math.max(1, delivery.deliveryCount - outcome.attempts + 1));
          if (outcome.attempts === 0) return delivery.nak(delayMs);
          // Kept as `pending` with its attempts used up, so that this attempt's error and history
          // survive until the message comes back to be buried (see #beginFromRecord).
          unburied = delayMs;
          outcome = { ...outcome, status: "pending", finished_at: null };
        }
      }
      stored = await this.edgeq.tasks.putIfUnchanged(outcome, revision).catch((err) => {
        // A result the record cannot hold (too large, not JSON) fails the task; retrying would not help.
        if (!(err instanceof EdgeqError)) throw err;
        unburied = undefined;
        outcome = this.#finished({ ...outcome, result: null }, "failed", { error: clip(`${err.name}: ${err.message}`) });
        return this.edgeq.tasks.putIfUnchanged(outcome, revision);
      });
      if (stored === null) stored = await this.#rewriteUnlessTakenOver(outcome);
    } catch (err) {
      // Outcome not stored: leave the message unacknowledged so it is redelivered after the ack wait.
      this.#report(err);
      return;
    }
    if (stored === null) {
      // This run's lease lapsed and another run took the task over: that run settles it.
      this.#report(new EdgeqError(`task ${outcome.id}: taken over by another run after this one's lease lapsed; its outcome is dropped`));
      return;
    }
    // Backing off, so that a dead-letter stream down for long does not cost a record write per task every second.
    if (unburied !== undefined) return delivery.nak(unburied);
    try {
      this.opts.onOutcome?.(outcome);
    } catch (err) {
      this.#report(err);
    }
    if (outcome.status === "completed") {
      this.#completed++;
      delivery.ack();
    } else if (outcome.status === "pending") {
      delivery.nak(retryDelayMs(parseBackoff(run.policy!.backoff)!, outcome.attempts));
    } else {
      this.#failed++;
      delivery.term();
    }
  }

  #bury(delivery: Delivery, dead: TaskRecord): Promise<void> {
    const { msg } = delivery;
    return this.edgeq.deadLetters.add({
      id: dead.id,
      subject: msg.subject,
      headers: headersOf(msg),
      body: msg.data,
      reason: dead.error ?? "dead",
      attempts: dead.attempts,
      history: dead.history,
      workSeq: delivery.streamSeq,
    });
  }

  #finished(record: TaskRecord, status: "completed" | "failed" | "dead", fields: Partial<TaskRecord>): TaskRecord {
    const now = new Date().toISOString();
    return { ...record, ...fields, status, finished_at: now, updated_at: now };
  }

  /**
   * The record changed under this run. A later run of the task (as many attempts or more) owns it
   * now: null. Anything else (the record deleted by hand, say) is overwritten with the outcome.
   */
  async #rewriteUnlessTakenOver(outcome: TaskRecord): Promise<number | null> {
    const { record, revision } = await this.edgeq.tasks.read(outcome.id);
    const later = record !== null && record.seq === outcome.seq && record.attempts >= outcome.attempts;
    return later ? null : this.edgeq.tasks.putIfUnchanged(outcome, revision);
  }
}

function abortRun(run: Running, reason: Error): void {
  (run.abort ??= new AbortController()).abort(reason);
}

/** Errors are kept short enough that a long one cannot make its record too large to store. */
function clip(error: string): string {
  return error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}… (${error.length} characters)` : error;
}
const MAX_ERROR_LENGTH = 4000;

function validateHandlers(handlers: Handlers): void {
  if (typeof handlers !== "object" || handlers === null) throw new ValidationError("handlers must be an object of functions");
  for (const [type, fn] of Object.entries(handlers)) {
    if (!TYPE_PATTERN.test(type)) throw new ValidationError(`handler name "${type}" is not a valid task type`);
    if (typeof fn !== "function") throw new ValidationError(`handler "${type}" is not a function`);
  }
}
