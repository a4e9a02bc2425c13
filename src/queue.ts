/**
 * Submitting tasks. One submission is two JetStream writes: the task message on its work subject,
 * then, once JetStream has stored it, a `pending` record created only if the worker has not
 * written one first. Many submissions are pipelined.
 */
import type { Edgeq } from "./client.ts";
import { encodeTask, type OutgoingTask, type SubmitOptions } from "./message.ts";
import type { Priority } from "./names.ts";
import { newRecord } from "./records.ts";
import { fromNatsError, ValidationError } from "./errors.ts";

export interface Submitted {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
}

/** One entry of `submitMany`. */
export interface TaskSpec extends Omit<SubmitOptions, "queue"> {
  type: string;
  data?: unknown;
}

/** Submissions kept in flight at once by `submitMany`, bounding memory and timers on huge batches. */
const WINDOW = 1000;

export class Queue {
  constructor(
    private readonly edgeq: Edgeq,
    readonly name: string,
  ) {}

  /** Submits one task; resolves once JetStream has stored it. */
  async submit(type: string, data?: unknown, options?: Omit<SubmitOptions, "queue">): Promise<Submitted> {
    const task = this.#encode(type, data, options);
    this.edgeq.assertConnected();
    await this.#publish(task);
    return summary(task);
  }

  /** Submits many tasks, validating all before publishing any; resolves in input order. */
  async submitMany(specs: TaskSpec[]): Promise<Submitted[]> {
    if (!Array.isArray(specs)) throw new ValidationError("submitMany takes an array of tasks");
    const tasks = specs.map(({ type, data, ...options }, i) => {
      try {
        return this.#encode(type, data, options);
      } catch (err) {
        (err as Error).message = `task ${i}: ${(err as Error).message}`;
        throw err;
      }
    });
    this.edgeq.assertConnected();
    for (let i = 0; i < tasks.length; i += WINDOW) {
      await Promise.all(tasks.slice(i, i + WINDOW).map((task) => this.#publish(task)));
    }
    return tasks.map(summary);
  }

  /** The attempt limit always travels with the task, so that workers with another default agree with the record. */
  #encode(type: string, data: unknown, options: Omit<SubmitOptions, "queue"> = {}): OutgoingTask {
    const maxAttempts = options.maxAttempts ?? this.edgeq.config.maxAttempts;
    return encodeTask(type, data, { ...options, maxAttempts, queue: this.name }, this.edgeq.maxDataBytes);
  }

  async #publish(task: OutgoingTask): Promise<void> {
    await this.#store(task);
    const record = newRecord(task, {
      status: "pending",
      attempts: 0,
      max_attempts: task.maxAttempts ?? this.edgeq.config.maxAttempts,
      created_at: new Date().toISOString(),
    });
    // Accepted now. A lost record write is not a lost task: the worker writes the record when it starts.
    await this.edgeq.tasks.create(record).catch(() => null);
  }

  /**
   * Publishes the work message until JetStream confirms or refuses it. A time-out leaves it unknown
   * whether the message was stored, so it is sent again under the same id, which the stream's
   * duplicate window stores at most once.
   */
  async #store(task: OutgoingTask): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        await this.edgeq.js.publish(task.subject, task.body, { headers: task.headers });
        return;
      } catch (err) {
        if ((err as Error)?.name === "TimeoutError" && tries < PUBLISH_TRIES) continue;
        throw fromNatsError(err, task.id);
      }
    }
  }
}

/** Publishes of one task before a time-out is reported to the caller. */
const PUBLISH_TRIES = 3;

function summary(task: OutgoingTask): Submitted {
  return { id: task.id, type: task.type, queue: task.queue, priority: task.priority };
}
