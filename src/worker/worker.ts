/**
 * A worker: takes deliveries from its queues' consumers (intake.ts), runs their handlers with
 * bounded concurrency (run.ts), stores each outcome before it answers the message (settle.ts),
 * counts attempts (attempts.ts), keeps its leases (leases.ts), heartbeats, and shuts down gracefully.
 *
 * A first delivery costs one stored write: its outcome, created in the record. Nothing is stored
 * before its handler starts, so the handler starts as soon as the message arrives.
 */
import type { Edgeq } from "../client/mod.ts";
import { type Delivery, parseInput, Puller } from "../nats/mod.ts";
import {
  CanceledError,
  consumerName,
  decodeTask,
  type IncomingTask,
  parseTaskSubject,
  PRIORITIES,
  taskId,
  type TaskRecord,
  WORK_STREAM,
} from "../wire/mod.ts";
import { Attempts } from "./attempts.ts";
import { Heartbeat, type WorkerInfo } from "./heartbeat.ts";
import { emitStarted } from "../events/emit.ts";
import { CancelNotices } from "./cancel-notices.ts";
import { giveBack } from "./give-back.ts";
import { Intake } from "./intake.ts";
import { Progress } from "./progress.ts";
import { QueuePauses } from "./queue-pauses.ts";
import { Leases } from "./leases.ts";
import { WorkerMetrics } from "../metrics/worker-metrics.ts";
import { type LimitGate, limitGate } from "./limits.ts";
import { type Handlers, type ResolvedWorkerOptions, validateHandlers, type WorkerOptions, workerOptionsSchema } from "./options.ts";
import { OutcomeRates } from "./outcome-rates.ts";
import { Run } from "./run.ts";
import { Settler, type Tally } from "./settle.ts";
import { readParents } from "../flows/parents.ts";

/** A worker holds beyond its slots what it would start within this long at its recent pace. */
const PREFETCH_HORIZON_MS = 100;
/** Completions are counted over this window to know the pace. */
const PACE_WINDOW_MS = 1000;
/** A task of a type the worker has no handler for comes back after this, doubling up to the max. */
const UNSERVED_DELAY_MS = 500;
const UNSERVED_DELAY_MAX_MS = 60_000;
/** How long a type seen without a handler is reported in the heartbeat, and how many at most. */
const UNSERVED_REPORTED_MS = 60_000;
const MAX_UNSERVED_REPORTED = 100;

export class Worker {
  readonly id: string;
  readonly #startedAt = new Date().toISOString();
  /** Runs in hand: their handler running, or their outcome being stored. */
  readonly #runs = new Map<Delivery, Run>();
  /** Handlers running: what `concurrency` bounds. */
  #busy = 0;
  readonly #heartbeat: Heartbeat;
  readonly #intake: Intake;
  readonly #settler: Settler;
  readonly #attempts: Attempts;
  readonly #cancels: CancelNotices;
  readonly #pauses: QueuePauses;
  /** Null unless the configuration has limits (limits.ts). */
  readonly #gate: LimitGate | null;
  #leases!: Leases;
  readonly #tally: Tally = { completed: 0, failed: 0, requeued: 0 };
  readonly #lastMinute = new OutcomeRates();
  /** Types delivered here with no handler, and when last. */
  readonly #unserved = new Map<string, number>();
  #processed = 0;
  /** Runs ended in the current and the previous pace window. */
  #pace = { window: 0, current: 0, previous: 0 };
  #stopping: Promise<void> | undefined;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #stopReconnect: (() => void) | undefined;
  #metrics: WorkerMetrics | undefined;

  private constructor(
    private readonly edgeq: Edgeq,
    private readonly handlers: Handlers,
    private readonly opts: ResolvedWorkerOptions,
  ) {
    this.id = opts.id ?? `${opts.host.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)}-${crypto.randomUUID().slice(0, 8)}`;
    const lanes = PRIORITIES.flatMap((priority) => opts.queues.map((queue) => ({ consumer: consumerName(queue, priority), queue, priority })));
    const puller = new Puller(edgeq.nc, edgeq.js.apiPrefix, WORK_STREAM, this.#report);
    this.#intake = new Intake(puller, lanes, {
      capacity: () => this.#capacity(),
      inHand: () => this.#runs.size + (this.#gate?.size ?? 0),
      busy: () => this.#busy,
      waiting: () => this.#gate?.size ?? 0,
      concurrency: opts.concurrency,
      idlePullMs: opts.idlePullMs,
      onHeld: (delivery) => this.#attempts.readAhead(delivery),
      onArrival: () => this.#startHeld(),
      respond: (subject, data) => edgeq.requests.post(subject, data),
      handBack: (delivery) => void this.#giveBack(new Run(delivery, taskId(delivery.msg, delivery.streamSeq), this.#leases.late)),
    }, opts.priorityWeights === "strict" ? null : opts.priorityWeights);
    const onOutcome = opts.onOutcome;
    const outcome = (record: TaskRecord) => {
      this.#lastMinute.count(record);
      onOutcome?.(record);
    };
    this.#settler = new Settler(edgeq, this.id, this.#report, outcome, this.#tally, () => this.#stopping !== undefined);
    this.#attempts = new Attempts(edgeq, this.id, this.#settler, this.#report);
    this.#cancels = new CancelNotices(edgeq.nc, (id) => this.#cancelRuns(id));
    this.#pauses = new QueuePauses(edgeq.nc, edgeq.queues, opts.queues, (queue, paused) => this.#intake.setPaused(queue, paused), this.#report);
    this.#gate = limitGate(edgeq, { worker: this.id, started_at: this.#startedAt }, {
      reserve: () => !this.#stopping && this.#busy < opts.concurrency && ++this.#busy > 0,
      unreserve: () => {
        this.#busy--;
        this.#startHeld();
      },
      admitted: (run, task) => this.#begin(run, task),
      giveBack: (run, delayMs) => void giveBack(edgeq, run, this.#report, { delayMs }).then(() => this.#intake.fill()),
    }, opts.concurrency, this.#report);
    this.#heartbeat = new Heartbeat(edgeq.buckets.workers, edgeq.buckets.stats, () => this.info(), opts.heartbeatIntervalMs, this.#report);
  }

  static async start(edgeq: Edgeq, handlers: Handlers, options: WorkerOptions = {}): Promise<Worker> {
    const opts = parseInput(workerOptionsSchema, options, "worker options");
    validateHandlers(handlers);
    const ackWaits = await Promise.all(opts.queues.map((queue) => edgeq.ensureQueue(queue)));
    const worker = new Worker(edgeq, handlers, opts);
    // First: a port in use stops the start before anything else began.
    if (opts.metricsPort !== undefined) worker.#metrics = await WorkerMetrics.serve(edgeq.events, () => worker.info(), opts.metricsPort);
    worker.#leases = new Leases(
      Math.min(...ackWaits),
      opts.runningAfterMs,
      edgeq.tasks,
      () => worker.#runs.values(),
      () => worker.#heldDeliveries(),
      () => edgeq.connection.up,
      worker.#report,
    );
    worker.#cancels.start();
    worker.#gate?.start();
    // Before the first pull: a queue paused already is not pulled from at all.
    await worker.#pauses.start();
    await worker.#heartbeat.start();
    worker.#leases.start();
    worker.#timers.push(setInterval(() => edgeq.tasks.sweep(edgeq.config.retentionMs).catch(worker.#report), opts.sweepIntervalMs));
    worker.#timers.push(setInterval(() => worker.#pauses.refresh(), opts.heartbeatIntervalMs));
    worker.#stopReconnect = edgeq.connection.onReconnect(() => {
      void worker.#pauses.refresh();
      worker.#leases.checkLapsed();
      worker.#intake.abandonPulls();
      worker.#intake.fill();
    });
    worker.#intake.fill();
    return worker;
  }

  /** The port its metrics are served on, when `metricsPort` was given. */
  get metricsPort(): number | undefined {
    return this.#metrics?.port;
  }

  /** The heartbeat's content. */
  info(): WorkerInfo {
    return {
      id: this.id,
      host: this.opts.host,
      runtime: this.opts.runtime,
      queues: this.opts.queues,
      concurrency: this.opts.concurrency,
      in_flight: this.#runs.size,
      running: [...this.#runs.values()].map((r) => r.id),
      types: Object.keys(this.handlers),
      unserved: [...this.#unserved].filter(([, at]) => Date.now() - at < UNSERVED_REPORTED_MS).map(([type]) => type),
      processed: this.#processed,
      completed: this.#tally.completed,
      failed: this.#tally.failed,
      requeued: this.#tally.requeued,
      last_minute: this.#lastMinute.lastMinute(),
      started_at: this.#startedAt,
      last_heartbeat: new Date().toISOString(),
    };
  }

  /**
   * Stops pulling, gives back what it holds unstarted, lets running tasks finish for `graceMs`,
   * gives back the rest (uncounted), and removes the worker from the live list.
   */
  stop(graceMs = this.opts.shutdownGraceMs): Promise<void> {
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  /** Slots, plus what the worker may hold at its recent pace. */
  #capacity(): number {
    const now = performance.now();
    const window = Math.floor(now / PACE_WINDOW_MS);
    if (window !== this.#pace.window) {
      this.#pace = { window, current: 0, previous: window === this.#pace.window + 1 ? this.#pace.current : 0 };
    }
    const perMs = this.#pace.previous / PACE_WINDOW_MS;
    return this.opts.concurrency + Math.min(this.opts.prefetch, Math.floor(perMs * PREFETCH_HORIZON_MS));
  }

  /** Every delivery held unstarted: in the intake's buffer, or waiting for its limits. */
  *#heldDeliveries(): Iterable<Delivery> {
    yield* this.#intake.heldDeliveries();
    if (this.#gate) yield* this.#gate.deliveries();
  }

  /** Starts held deliveries while slots are free: those whose limits' tokens are asked for first. */
  #startHeld(): void {
    this.#gate?.pump();
    // A gate full of limited deliveries takes no more: the next one would only be given back.
    while (!this.#stopping && this.#busy < this.opts.concurrency && !this.#gate?.full) {
      const delivery = this.#intake.take();
      if (!delivery) break;
      this.#start(delivery);
    }
  }

  /**
   * Starts a run. A first delivery whose handler returns at once is run and its outcome sent in
   * this turn, with no promise: the path of most tasks.
   */
  #start(delivery: Delivery): void {
    const parts = parseTaskSubject(delivery.msg.subject);
    const run = new Run(delivery, parts?.id ?? taskId(delivery.msg, delivery.streamSeq), this.#leases.late);
    // Canceled while on its way here: its record says so already, and its message is gone.
    if (this.#cancels.has(run.id)) {
      delivery.term();
      return this.#intake.fill();
    }
    let task: IncomingTask | Error;
    try {
      task = decodeTask(delivery.msg, run.id, parts);
    } catch (err) {
      task = err as Error;
    }
    if (!(task instanceof Error) && !Object.hasOwn(this.handlers, task.type)) return this.#leave(run, task.type);
    // A limited task waits for its limits' tokens before it takes a slot.
    if (this.#gate && !(task instanceof Error) && this.#gate.wait(run, task)) return;
    this.#busy++;
    this.#begin(run, task);
  }

  /** Runs a delivery in the slot taken for it. */
  #begin(run: Run, task: IncomingTask | Error): void {
    const { delivery } = run;
    this.#runs.set(delivery, run);
    if (!this.#attempts.isFirst(delivery, task)) {
      this.#attempts.begin(run, task).then((begun) => (begun && !run.returned ? this.#execute(run) : this.#ended(run)), (err) => this.#failed(run, err));
      return;
    }
    this.#attempts.beginFirst(run, task);
    this.#execute(run);
  }

  /**
   * A task of a type this worker has no handler for: given back, uncounted, for a worker that has
   * one, after a delay that doubles with each delivery (so that it waits cheaply while none has).
   */
  #leave(run: Run, type: string): void {
    this.#unserved.delete(type);
    this.#unserved.set(type, Date.now());
    if (this.#unserved.size > MAX_UNSERVED_REPORTED) this.#unserved.delete(this.#unserved.keys().next().value!);
    const delayMs = Math.min(UNSERVED_DELAY_MAX_MS, UNSERVED_DELAY_MS * 2 ** Math.min(20, run.delivery.deliveryCount - 1));
    void giveBack(this.edgeq, run, this.#report, { delayMs, unserved: true }).then(() => this.#intake.fill());
  }

  /** Aborts the run of a task canceled (its `canceled` record stored), whose outcome that is then. */
  #cancelRuns(id: string): void {
    // Held unstarted (a paused queue holds them for as long as it is paused): settled unrun.
    for (const delivery of this.#intake.remove((d) => taskId(d.msg, d.streamSeq) === id)) delivery.term();
    for (const waiting of this.#gate?.remove(id) ?? []) waiting.delivery.term();
    for (const run of this.#runs.values()) {
      if (run.id !== id || run.returned) continue;
      run.canceled = true;
      run.abortWith(new CanceledError(`task ${id} was canceled`));
    }
  }

  #execute(run: Run): void {
    // A task that waited on others reads their outcomes first (its record says which).
    const dependsOn = run.record?.depends_on;
    if (dependsOn && !run.parents) {
      readParents(this.edgeq.tasks, dependsOn).then((parents) => ((run.parents = parents), this.#execute(run)), (err) => this.#failed(run, err));
      return;
    }
    emitStarted(this.edgeq.events, run);
    const outcome = run.execute(this.handlers, this.#progressOf);
    if (!(outcome instanceof Promise)) return this.#settle(run, outcome);
    outcome.then((o) => this.#settle(run, o), (err) => this.#failed(run, err));
  }

  #settle(run: Run, outcome: TaskRecord): void {
    if (run.returned) return this.#ended(run);
    this.#handlerDone(run);
    this.#settler.settle(run, outcome, () => this.#ended(run));
  }

  #failed(run: Run, err: unknown): void {
    this.#report(err);
    this.#ended(run);
  }

  /** Frees the run's slot: once its handler has returned, its outcome is stored without holding one. */
  #handlerDone(run: Run): void {
    this.#gate?.release(run);
    if (run.slotFreed) return;
    run.slotFreed = true;
    this.#busy--;
    this.#startHeld();
  }

  #ended(run: Run): void {
    this.#handlerDone(run);
    run.end();
    if (run.returned) return;
    this.#runs.delete(run.delivery);
    this.#processed++;
    this.#pace.current++;
    this.#intake.fill();
  }

  async #shutdown(graceMs: number): Promise<void> {
    // Unsubscribing the pulls first lets the server skip them instead of delivering to us; what is
    // held goes back at once for another worker, uncounted.
    await Promise.all([
      ...this.#intake.stop().map((delivery) => this.#giveBack(new Run(delivery, taskId(delivery.msg, delivery.streamSeq), false))),
      ...(this.#gate?.stop() ?? []).map((run) => this.#giveBack(run)),
    ]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([Promise.all([...this.#runs.values()].map((r) => r.done())), graceOver]);
    clearTimeout(timer);
    await Promise.all([...this.#runs.values()].map((run) => (run.finishing ? run.done() : this.#giveBack(run))));
    this.#stopReconnect?.();
    this.#cancels.stop();
    this.#pauses.stop();
    this.#leases.stop();
    this.#timers.forEach(clearInterval);
    await this.#metrics?.close();
    // With NATS down, goodbyes would only wait out their time-outs: the heartbeat expires by itself.
    if (!this.edgeq.connection.up) return this.#heartbeat.halt();
    await this.#heartbeat.stop().catch(this.#report);
    await this.edgeq.nc.flush().catch(this.#report);
  }

  /** Gives a delivery back (give-back.ts): its run, if it started, is no longer in hand. */
  #giveBack(run: Run): Promise<void> {
    this.#runs.delete(run.delivery);
    return giveBack(this.edgeq, run, this.#report);
  }

  #progressOf = (run: Run): Progress => new Progress(run, this.edgeq.tasks, this.#report, this.edgeq.events);

  #report = (err: unknown): void => {
    (this.opts.onError ?? console.error)(err);
  };
}
