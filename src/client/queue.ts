/**
 * Submitting tasks. One submission is one JetStream write: the task message, on its work subject
 * with the task id as a token, so that the pending task can be found by its id with no record of
 * its own. The task is accepted once JetStream has stored the message. Many submissions are sent
 * with their acknowledgements matched in one window, with no promise per task.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import type { Edgeq } from "./client.ts";
import {
  DEFAULT_PRIORITY,
  encodeTask,
  endSubmits,
  fromNatsError,
  idForKey,
  type OutgoingTask,
  type Priority,
  resolvePolicy,
  type RetryPolicy,
  runAtOf,
  startSubmit,
  StorageFullError,
  submitContext,
  type SubmitOptions,
  submitOptionsSchema,
  type TaskAddress,
  traced,
  typeSchema,
  ValidationError,
} from "../wire/mod.ts";
import type { Context } from "@opentelemetry/api";
import { inLanes, parseInput, type PubAck } from "../nats/mod.ts";
import { recordDelayed } from "../delayed/record.ts";
import { emitResubmitted, emitSubmitted } from "../events/emit.ts";
import type { QueueState } from "./queue-states.ts";
import type { z } from "zod";

export interface Submitted {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  /** True when the stream already held this task id (an idempotent repeat): nothing new was queued. */
  duplicate: boolean;
  /** A delayed task's due time (ISO 8601). */
  runAt?: string;
  /** Set when it waits on other tasks (`dependsOn`, or a flow). */
  waiting?: true;
}

/** One entry of `submitMany`. */
export interface TaskSpec extends Omit<SubmitOptions, "waitMs"> {
  type: string;
  data?: unknown;
}

/** A work message as it is published: what storing it needs. */
export type WorkMessage = Pick<OutgoingTask, "id" | "subject" | "body" | "headers">;

/** Submissions kept unanswered at once by `submitMany`: enough to keep the server busy, bounding memory. */
const WINDOW = 5000;

export class Queue {
  constructor(
    private readonly edgeq: Edgeq,
    readonly name: string,
  ) {}

  /** Stops every worker starting tasks of this queue; submissions are still accepted (queue-states.ts). */
  pause(): Promise<QueueState> {
    return this.edgeq.queues.pause(this.name);
  }

  resume(): Promise<QueueState> {
    return this.edgeq.queues.resume(this.name);
  }

  /** Submits one task; resolves once JetStream has stored it (with `dependsOn`, once it waits: src/flows/). */
  async submit(type: string, data?: unknown, options?: SubmitOptions): Promise<Submitted> {
    if (options?.dependsOn !== undefined) return (await this.edgeq.flows.submitTasks(this.name, [{ type, data, ...options }], true))[0];
    const task = await this.encode(type, data, options, submitContext());
    return task.trace ? traced(() => [task.trace], () => this.#send(task, options?.waitMs)) : this.#send(task, options?.waitMs);
  }

  #send(task: OutgoingTask, waitMs: number | undefined): Promise<Submitted> {
    this.edgeq.assertConnected();
    return this.#bounded(waitMs, () => this.#publish(task));
  }

  /**
   * Stores again a message that was submitted before (a requeued dead letter), as it was, under the
   * queue's bound and retried as a submission is; resolves with its stream sequence, and
   * `duplicate` when the stream already held the message id.
   */
  async resubmit(message: WorkMessage): Promise<{ seq: number; duplicate: boolean }> {
    this.edgeq.assertConnected();
    const stored = await this.#bounded(0, () => this.#store(message));
    if (!stored.duplicate) emitResubmitted(this.edgeq.events, message.id, message.subject);
    return stored;
  }

  /** Submits many tasks, validating all before publishing any; resolves in input order. */
  async submitMany(specs: TaskSpec[], options: { waitMs?: number } = {}): Promise<Submitted[]> {
    if (!Array.isArray(specs)) throw new ValidationError("submitMany takes an array of tasks");
    // Tasks that wait on others (in the batch or before it) are submitted as one flow.
    if (specs.some((s) => s?.dependsOn !== undefined)) return this.edgeq.flows.submitTasks(this.name, specs);
    const parent = submitContext();
    const tasks = new Array<OutgoingTask>(specs.length);
    const submit = () => this.#submitMany(specs, tasks, options, parent);
    return parent ? traced(() => tasks.map((t) => t?.trace), submit) : submit();
  }

  async #submitMany(specs: TaskSpec[], tasks: OutgoingTask[], options: { waitMs?: number }, parent: Context | undefined): Promise<Submitted[]> {
    for (let i = 0; i < specs.length; i++) {
      try {
        const { type, data, ...taskOptions } = specs[i] ?? {};
        const task = this.encode(type, data, taskOptions, parent);
        tasks[i] = task instanceof Promise ? await task : task;
      } catch (err) {
        (err as Error).message = `task ${i}: ${(err as Error).message}`;
        throw err;
      }
    }
    this.edgeq.assertConnected();
    await this.#reserve(tasks.length, options.waitMs);
    const submitted = new Array<Submitted>(tasks.length);
    try {
      const acks = await this.edgeq.requests.publishAll(tasks, WINDOW);
      const unanswered: number[] = [];
      const seqs = new Array<number>(tasks.length);
      acks.forEach((ack, i) => {
        if (ack instanceof Error) return unanswered.push(i);
        submitted[i] = submittedOf(tasks[i], ack.duplicate);
        seqs[i] = ack.seq;
      });
      // Sent again under their ids, as a single submission is, or refused.
      await inLanes(unanswered.length, WINDOW, async (k) => {
        const i = unanswered[k];
        const stored = await this.#store(tasks[i], acks[i] as Error);
        submitted[i] = submittedOf(tasks[i], stored.duplicate);
        seqs[i] = stored.seq;
      });
      const delayed = tasks.flatMap((t, i) => (t.runAtMs !== undefined ? [i] : []));
      await inLanes(delayed.length, WINDOW, (k) => recordDelayed(this.edgeq.tasks, tasks[delayed[k]], seqs[delayed[k]]));
      if (this.edgeq.events.wanted) tasks.forEach((task, i) => submitted[i].duplicate || emitSubmitted(this.edgeq.events, task));
    } finally {
      this.#release(tasks.length - submitted.filter((s) => s && !s.duplicate).length);
    }
    return submitted;
  }

  /**
   * Validates and encodes one task; the retry policy always travels with it, so that every worker
   * applies the same one. Synchronous unless an idempotency key has to be hashed into the id.
   */
  encode(type: unknown, data: unknown, options: object = {}, parent?: Context): OutgoingTask | Promise<OutgoingTask> {
    const validType = this.#validType(type);
    // The common case, no options, skips the schema.
    const opts: z.output<typeof submitOptionsSchema> = isEmpty(options) ? {} : parseInput(submitOptionsSchema, options, "submit options");
    const encode = (id: string) => {
      const policy = opts.maxAttempts ?? opts.backoff ?? opts.timeoutMs
        ? resolvePolicy(this.edgeq.config, this.name, validType, opts)
        : this.#defaultPolicy(validType);
      const address: TaskAddress = { id, queue: this.name, priority: opts.priority ?? DEFAULT_PRIORITY, policy, runAtMs: runAtOf(opts), key: opts.key };
      if (!parent) return encodeTask(validType, data, address, this.edgeq.maxDataBytes);
      const trace = startSubmit(parent, { type: validType, queue: this.name, id });
      address.traceLines = trace.lines;
      try {
        return { ...encodeTask(validType, data, address, this.edgeq.maxDataBytes), trace };
      } catch (err) {
        endSubmits([trace], err);
        throw err;
      }
    };
    if (opts.id === undefined && opts.idempotencyKey !== undefined) return idForKey(opts.idempotencyKey).then(encode);
    return encode(opts.id ?? crypto.randomUUID());
  }

  /** Types already validated by this queue: a batch of one type checks it once. */
  readonly #types = new Map<string, RetryPolicy>();

  #validType(type: unknown): string {
    if (typeof type === "string" && this.#types.has(type)) return type;
    return parseInput(typeSchema, type, "task type");
  }

  #defaultPolicy(type: string): RetryPolicy {
    let policy = this.#types.get(type);
    if (!policy) {
      if (this.#types.size >= MAX_CACHED_TYPES) this.#types.clear();
      this.#types.set(type, policy = resolvePolicy(this.edgeq.config, this.name, type, {}));
    }
    return policy;
  }

  /** Runs one submission under the queue's bound: one that fails or stores nothing new gives its place back. */
  async #bounded<T extends { duplicate: boolean }>(waitMs: number | undefined, submit: () => Promise<T>): Promise<T> {
    await this.#reserve(1, waitMs);
    const done = await submit().catch((err) => {
      this.#release(1);
      throw err;
    });
    if (done.duplicate) this.#release(1);
    return done;
  }

  /** Gives back the bound's count for submissions that stored nothing new. */
  #release(count: number): void {
    if (count > 0 && this.edgeq.config.queues[this.name]?.maxLength !== undefined) this.edgeq.queueLengths.release(this.name, count);
  }

  #reserve(count: number, waitMs = 0): Promise<void> {
    const maxLength = this.edgeq.config.queues[this.name]?.maxLength;
    return maxLength === undefined ? Promise.resolve() : this.edgeq.queueLengths.reserve(this.name, count, maxLength, waitMs);
  }

  async #publish(task: OutgoingTask): Promise<Submitted> {
    const { seq, duplicate } = await this.#store(task);
    // Also for a repeat: the try that stored the message may have failed before its record.
    if (task.runAtMs !== undefined) await recordDelayed(this.edgeq.tasks, task, seq);
    if (!duplicate) emitSubmitted(this.edgeq.events, task);
    return submittedOf(task, duplicate);
  }

  /**
   * Publishes the work message until JetStream confirms or refuses it; resolves with its stream
   * sequence, and `duplicate` when the stream already held the id from an earlier submission. A
   * time-out leaves it unknown whether the message was stored, so it is sent again under the same
   * id, which the stream's duplicate window stores at most once (and then reports as a duplicate of
   * our own first try, which is not one).
   */
  async #store(task: WorkMessage, firstTry?: Error): Promise<{ seq: number; duplicate: boolean }> {
    let unanswered: unknown;
    for (let tries = 1; ; tries++) {
      try {
        if (tries === 1 && firstTry) throw firstTry;
        const ack: PubAck = await this.edgeq.requests.publish(task.subject, task.body, task.headers);
        return { seq: ack.seq, duplicate: ack.duplicate && tries === 1 };
      } catch (err) {
        if ((err as Error)?.name === "TimeoutError") {
          unanswered = err;
          if (tries < PUBLISH_TRIES) continue;
        }
        // JetStream's refusal is certain: a try stored earlier would have been answered as a
        // duplicate. Any other failure after an unanswered try leaves that try's fate unknown.
        const mapped = fromNatsError(err instanceof JetStreamApiError ? err : unanswered ?? err, task.id);
        if (mapped instanceof StorageFullError) this.edgeq.storageRefusals.note(mapped.message);
        throw mapped;
      }
    }
  }
}

/** Task types a queue keeps the default policy of. */
const MAX_CACHED_TYPES = 1000;

function isEmpty(options: object | null | undefined): boolean {
  if (options == null) return true;
  for (const _ in options) return false;
  return true;
}

/** Publishes of one task before a time-out is reported to the caller. */
const PUBLISH_TRIES = 3;

function submittedOf(task: OutgoingTask, duplicate: boolean): Submitted {
  const submitted: Submitted = { id: task.id, type: task.type, queue: task.queue, priority: task.priority, duplicate };
  if (task.runAtMs !== undefined) submitted.runAt = new Date(task.runAtMs).toISOString();
  return submitted;
}
