/**
 * Submitting tasks. One submission is two JetStream writes: a `pending` record, created only if the
 * id has none, then the task message on its work subject, carrying that record's revision so that
 * the worker can store `running` without reading the record. The task is accepted once JetStream
 * has stored the message. Many submissions are pipelined.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import type { Edgeq } from "./client.ts";
import { fromNatsError, UnavailableError, ValidationError } from "./errors.ts";
import { encodeTask, idForKey, type OutgoingTask, type SubmitOptions, submitOptionsSchema, typeSchema } from "./message.ts";
import { parseInput } from "./config.ts";
import { inLanes } from "./lanes.ts";
import { DEFAULT_PRIORITY, HEADER_RECORD_REVISION, type Priority } from "./names.ts";
import { FINAL_STATUSES, newRecord, type TaskRecord } from "./records.ts";
import { resolvePolicy } from "./retry.ts";

export interface Submitted {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  /** True when the stream already held this task id (an idempotent repeat): nothing new was queued. */
  duplicate: boolean;
}

/** One entry of `submitMany`. */
export interface TaskSpec extends Omit<SubmitOptions, "waitMs"> {
  type: string;
  data?: unknown;
}

/** A work message as it is published: what storing it needs. */
export type WorkMessage = Pick<OutgoingTask, "id" | "subject" | "body" | "headers">;

/** Submissions kept in flight at once by `submitMany`: enough to keep the server busy, bounding memory. */
const WINDOW = 500;

export class Queue {
  constructor(
    private readonly edgeq: Edgeq,
    readonly name: string,
  ) {}

  /** Submits one task; resolves once JetStream has stored it. */
  async submit(type: string, data?: unknown, options?: SubmitOptions): Promise<Submitted> {
    const task = await this.#encode(type, data, options);
    this.edgeq.assertConnected();
    return this.#bounded(options?.waitMs, () => this.#publish(task));
  }

  /**
   * Stores again a message that was submitted before (a requeued dead letter), as it was, under the
   * queue's bound and retried as a submission is; resolves with its stream sequence, and
   * `duplicate` when the stream already held the message id.
   */
  async resubmit(message: WorkMessage): Promise<{ seq: number; duplicate: boolean }> {
    this.edgeq.assertConnected();
    return this.#bounded(0, () => this.#store(message));
  }

  /** Submits many tasks, validating all before publishing any; resolves in input order. */
  async submitMany(specs: TaskSpec[], options: { waitMs?: number } = {}): Promise<Submitted[]> {
    if (!Array.isArray(specs)) throw new ValidationError("submitMany takes an array of tasks");
    const tasks = await Promise.all(specs.map(({ type, data, ...taskOptions }, i) =>
      this.#encode(type, data, taskOptions).catch((err) => {
        (err as Error).message = `task ${i}: ${(err as Error).message}`;
        throw err;
      })
    ));
    this.edgeq.assertConnected();
    await this.#reserve(tasks.length, options.waitMs);
    const submitted = new Array<Submitted>(tasks.length);
    try {
      await inLanes(tasks.length, WINDOW, async (i) => void (submitted[i] = await this.#publish(tasks[i])));
    } finally {
      this.#release(tasks.length - submitted.filter((s) => s && !s.duplicate).length);
    }
    return submitted;
  }

  /** The retry policy always travels with the task, so that every worker applies the same one. */
  async #encode(type: unknown, data: unknown, options: unknown = {}): Promise<OutgoingTask> {
    const validType = parseInput(typeSchema, type, "task type");
    const opts = parseInput(submitOptionsSchema, options ?? {}, "submit options");
    const id = opts.id ?? (opts.idempotencyKey !== undefined ? await idForKey(opts.idempotencyKey) : crypto.randomUUID());
    const policy = resolvePolicy(this.edgeq.config, this.name, validType, opts);
    const address = { id, queue: this.name, priority: opts.priority ?? DEFAULT_PRIORITY, policy };
    return encodeTask(validType, data, address, this.edgeq.maxDataBytes);
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
    const record = newRecord(task, { status: "pending", attempts: 0, max_attempts: task.policy.maxAttempts, created_at: new Date().toISOString() });
    // A record already under the id, or a failed write: the message goes without the revision, and
    // the worker reads the record instead. A lost record write is not a lost task.
    const revision = await this.edgeq.tasks.create(record).catch(() => null);
    if (revision !== null) task.headers.set(HEADER_RECORD_REVISION, String(revision));
    // Our record, when this submission stored no message (refused, or a duplicate of a task whose
    // record is gone): it would describe nothing that will run.
    const forget = async () => {
      if (revision !== null) await this.edgeq.tasks.deleteIfUnchanged(task.id, revision).catch(() => false);
    };
    const { seq, duplicate } = await this.#store(task).catch(async (err) => {
      // Unanswered (an UnavailableError that names the task), the message may be stored: the record
      // stays for it, and a resubmission under the id finds it.
      if (!(err instanceof UnavailableError && err.taskId)) await forget();
      throw err;
    });
    if (duplicate) await forget();
    else if (revision === null) await this.#replaceStale({ ...record, seq }).catch(() => null);
    return { id: task.id, type: task.type, queue: task.queue, priority: task.priority, duplicate };
  }

  /**
   * Writes `pending` where the id's entry is not a record (a delete marker), is an old task's
   * finished record (an id reused after the duplicate window must not show the old result), or is
   * a `pending` record no message was stored for (a submission that got no answer). A record of
   * this very message (`seq`), which a quick worker already wrote, is left alone.
   */
  async #replaceStale(record: TaskRecord): Promise<void> {
    // Refused: written meanwhile (another submission of the id forgetting its record, a sweep): look again.
    for (let tries = 0; tries < REPLACE_TRIES; tries++) {
      const { record: old, revision } = await this.edgeq.tasks.read(record.id);
      const stale = !old || (old.seq !== record.seq && (FINAL_STATUSES.includes(old.status) || (old.status === "pending" && old.seq === undefined)));
      if (!stale || (await this.edgeq.tasks.putIfUnchanged(record, revision)) !== null) return;
    }
  }

  /**
   * Publishes the work message until JetStream confirms or refuses it; resolves with its stream
   * sequence, and `duplicate` when the stream already held the id from an earlier submission. A
   * time-out leaves it unknown whether the message was stored, so it is sent again under the same
   * id, which the stream's duplicate window stores at most once (and then reports as a duplicate of
   * our own first try, which is not one).
   */
  async #store(task: WorkMessage): Promise<{ seq: number; duplicate: boolean }> {
    let unanswered: unknown;
    for (let tries = 1; ; tries++) {
      try {
        const ack = await this.edgeq.requests.publish(task.subject, task.body, task.headers);
        return { seq: ack.seq, duplicate: ack.duplicate && tries === 1 };
      } catch (err) {
        if ((err as Error)?.name === "TimeoutError") {
          unanswered = err;
          if (tries < PUBLISH_TRIES) continue;
        }
        // JetStream's refusal is certain: a try stored earlier would have been answered as a
        // duplicate. Any other failure after an unanswered try leaves that try's fate unknown.
        throw fromNatsError(err instanceof JetStreamApiError ? err : unanswered ?? err, task.id);
      }
    }
  }
}

/** Publishes of one task before a time-out is reported to the caller. */
const PUBLISH_TRIES = 3;
/** Reads of a stale record before a submission leaves it to the worker. */
const REPLACE_TRIES = 3;
