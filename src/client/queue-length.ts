/**
 * Bounded queues: a queue with a `maxLength` refuses submissions while it holds that many tasks
 * (stored and not yet acknowledged). The length is read from the queue's consumers (undelivered
 * plus unacknowledged: together, what the work stream holds for the queue),
 * at most every QUEUE_LENGTH_REFRESH_MS per queue and process, and what this process submits in
 * between is added to it. So the bound is exact for one submitter and may be overshot by what other
 * submitters send within one refresh; a plain `nats pub` is not counted against it until stored.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { consumerName, PRIORITIES, QueueFullError, WORK_STREAM } from "../wire/mod.ts";

export const QUEUE_LENGTH_REFRESH_MS = 250;

interface Known {
  length: number;
  readAt: number;
}

export class QueueLengths {
  readonly #known = new Map<string, Known>();
  /** Reads under way: concurrent submissions share one, so that neither replaces the other's count. */
  readonly #reading = new Map<string, Promise<Known>>();

  constructor(
    private readonly jsm: JetStreamManager,
    /** Makes sure the queue's consumers exist: until they do, they count nothing. */
    private readonly ensureQueue: (queue: string) => Promise<unknown>,
  ) {}

  /**
   * Counts `count` more tasks against the queue's bound, waiting up to `waitMs` for room; throws
   * QueueFullError if there is none by then.
   */
  async reserve(queue: string, count: number, maxLength: number, waitMs: number): Promise<void> {
    if (count > maxLength) throw new QueueFullError(`queue ${queue} holds at most ${maxLength} tasks; ${count} were submitted at once`);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const known = await this.#read(queue);
      if (known.length + count <= maxLength) {
        known.length += count;
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new QueueFullError(`queue ${queue} is full: it holds ${known.length} of at most ${maxLength} tasks; retry later`);
      await new Promise((r) => setTimeout(r, Math.min(QUEUE_LENGTH_REFRESH_MS, left)));
    }
  }

  /** Gives back reservations that stored nothing (a refused publish, a duplicate). */
  release(queue: string, count: number): void {
    const known = this.#known.get(queue);
    if (known) known.length = Math.max(0, known.length - count);
  }

  #read(queue: string): Promise<Known> {
    const cached = this.#known.get(queue);
    if (cached && Date.now() - cached.readAt < QUEUE_LENGTH_REFRESH_MS) return Promise.resolve(cached);
    let reading = this.#reading.get(queue);
    if (!reading) {
      reading = this.#fetch(queue).finally(() => this.#reading.delete(queue));
      this.#reading.set(queue, reading);
    }
    return reading;
  }

  async #fetch(queue: string): Promise<Known> {
    // Not the stream's per-subject counts: every task has a subject of its own (its id token).
    await this.ensureQueue(queue);
    const infos = await Promise.all(PRIORITIES.map((p) => this.jsm.consumers.info(WORK_STREAM, consumerName(queue, p))));
    const length = infos.reduce((n, c) => n + c.num_pending + c.num_ack_pending, 0);
    const fresh = { length, readAt: Date.now() };
    this.#known.set(queue, fresh);
    return fresh;
  }
}
