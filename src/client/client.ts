/**
 * The handle every edgeq component shares: a NATS connection, the topology made sure of, and the
 * stores built on it. Open one per connection with `Edgeq.open`.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type Buckets,
  ConnectionState,
  type EdgeqConfig,
  type EdgeqConfigInput,
  ensureQueueConsumers,
  ensureTopology,
  parseInput,
  Requests,
  resolveConfig,
  StorageRefusals,
} from "../nats/mod.ts";
import { DEFAULT_QUEUE, queueSchema, TASKS_BUCKET, UnavailableError } from "../wire/mod.ts";
import { type Health, readHealth } from "./health.ts";
import { type Handlers, listWorkers, totalStats, Worker, type WorkerInfo, type WorkerOptions, type WorkerStats } from "../worker/mod.ts";
import { DeadLetters, PendingTasks, TaskRecords } from "../tasks/mod.ts";
import { Queue } from "./queue.ts";
import { QueueLengths } from "./queue-length.ts";
import { QueueStates } from "./queue-states.ts";
import { Scheduler, type SchedulerOptions, Schedules } from "../delayed/mod.ts";
import { Events } from "../events/events.ts";
import { type FlowInput, Flows, type FlowSubmitted } from "../flows/mod.ts";

/** Bytes a record needs beyond its data; submissions leave this much of the server's max payload free. */
const RECORD_OVERHEAD = 4096;

export class Edgeq {
  /** The hot path's requests: task publishes, record reads and writes. */
  readonly requests: Requests;
  readonly tasks: TaskRecords;
  /** Task events: subscribe to them (src/events/). */
  readonly events: Events;
  readonly deadLetters: DeadLetters;
  readonly queueLengths: QueueLengths;
  /** Pause, resume and list queues. */
  readonly queues: QueueStates;
  /** Recurring tasks. */
  readonly schedules: Schedules;
  /** Tasks that wait on others (src/flows/). */
  readonly flows: Flows;
  readonly connection: ConnectionState;
  /** Submissions refused for lack of storage, which /health reports. */
  readonly storageRefusals = new StorageRefusals();
  /** The server's largest message; a task record must fit in it. */
  readonly maxPayload: number;
  readonly #queues = new Map<string, Promise<number>>();

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly buckets: Buckets,
    readonly config: EdgeqConfig,
  ) {
    this.connection = new ConnectionState(nc);
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    this.requests = new Requests(nc, js.apiPrefix);
    this.events = new Events(nc, this.requests, config.events);
    const runningIds = async () => (await this.workers()).flatMap((w) => w.running);
    this.tasks = new TaskRecords(nc, this.requests, jsm, TASKS_BUCKET, this.maxPayload, new PendingTasks(jsm, config), runningIds, this.events, (r) => this.flows.released(r));
    this.flows = new Flows(this);
    this.deadLetters = new DeadLetters(this);
    this.queueLengths = new QueueLengths(jsm, (queue) => this.ensureQueue(queue));
    this.schedules = new Schedules(this);
    this.queues = new QueueStates(buckets.queues, this, (subject, body) => this.requests.post(subject, body));
  }

  /**
   * Makes sure the streams and buckets exist (creating them on first use) and returns the handle.
   * Without JetStream to answer (a server without -js, a leaf node without `jsDomain`), an
   * UnavailableError says what to do.
   */
  static async open(nc: NatsConnection, config?: EdgeqConfigInput): Promise<Edgeq> {
    const resolved = resolveConfig(config);
    const domain = { domain: resolved.jsDomain };
    try {
      const js = jetstream(nc, domain);
      const jsm = await jetstreamManager(nc, domain);
      const buckets = await ensureTopology(js, jsm, resolved);
      const edgeq = new Edgeq(nc, js, jsm, buckets, resolved);
      await edgeq.ensureQueue(DEFAULT_QUEUE);
      return edgeq;
    } catch (err) {
      if ((err as Error)?.name !== "JetStreamNotEnabled") throw err;
      throw new UnavailableError(
        `no JetStream answers at ${nc.getServer()}: start nats-server with -js, or, connected to a leaf node, set NATS_JS_DOMAIN (the jsDomain option) to the hub's JetStream domain`,
        { cause: err },
      );
    }
  }

  /** Largest task data, in bytes, that still fits a task record. */
  get maxDataBytes(): number {
    return this.maxPayload - RECORD_OVERHEAD;
  }

  /** A client for submitting to one queue. */
  queue(name: string = DEFAULT_QUEUE): Queue {
    return new Queue(this, parseInput(queueSchema, name, "queue name"));
  }

  /**
   * Submits a graph of tasks at once, atomically: `{nodes, edges}` or one node with nested
   * `children` (src/flows/graph.ts); resolves once it is accepted.
   */
  flow(input: FlowInput): Promise<FlowSubmitted> {
    return this.flows.submit(input);
  }

  /** Starts a worker on this connection. */
  worker(handlers: Handlers, options?: WorkerOptions): Promise<Worker> {
    return Worker.start(this, handlers, options);
  }

  /** Promotes delayed tasks when due, whenever this process holds the scheduler's lease (src/delayed/). */
  scheduler(options: SchedulerOptions): Scheduler {
    return new Scheduler(this, options).start();
  }

  workers(): Promise<WorkerInfo[]> {
    return listWorkers(this);
  }

  health(): Promise<Health> {
    return readHealth(this);
  }

  /** Completions and failures the workers report (health's counts). */
  workerTotals(): Promise<Required<WorkerStats>> {
    return totalStats(this);
  }

  /** Creates the consumers of a queue once per process; resolves with their ack wait in ms. */
  ensureQueue(queue: string): Promise<number> {
    let ready = this.#queues.get(queue);
    if (!ready) {
      ready = ensureQueueConsumers(this.jsm, queue, this.config);
      ready.catch(() => this.#queues.delete(queue));
      this.#queues.set(queue, ready);
    }
    return ready;
  }

  /** Throws UnavailableError at once when NATS is down, so callers fail fast instead of timing out. */
  assertConnected(): void {
    if (!this.connection.up) throw new UnavailableError("NATS is unreachable; nothing was accepted, retry later");
  }
}
