/**
 * Task events: every state change of a task is published on `edgeq_events.<queue>.<event>.<type>`
 * as core NATS messages (never stored, never awaited). A message's body is a JSON array of the
 * events of one subject from one turn of the event loop: they wait for the process's per-turn
 * flush (nats/requests.ts), and go with the acks and record writes a worker sends anyway, so they cost
 * no round trip, no socket write of their own, and one message for up to MAX_PER_MESSAGE events.
 *
 * `publishing: false` (config `events`) stops this process publishing; observers in the process
 * (a worker's own metrics) still see its events.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { eventSubject } from "../wire/mod.ts";
import { type EventExtra, type EventName, type EventTask, type TaskEvent } from "./event.ts";
import { type EventFilter, EventSubscription } from "./subscription.ts";

/** Events one message carries at most: a few hundred bytes each, well under the server's max payload. */
const MAX_PER_MESSAGE = 500;

/** How events leave: nats/requests.ts's per-turn flush. */
export interface EventOutlet {
  /** Sends a message with the next flush. */
  post(subject: string, body: string): void;
  /** Calls `gather` at the next flush, before it sends. */
  beforeFlush(gather: () => void): void;
}

export class Events {
  readonly #observers: ((event: TaskEvent) => void)[] = [];
  /** This turn's events (their JSON) by subject, until the flush. */
  readonly #held = new Map<string, string[]>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly outlet: EventOutlet,
    /** Whether this process publishes its events. */
    readonly publishing: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Events matching `filter` (queue, type, event or events, taskId), from every process on this
   * NATS: iterate the subscription, or pass `callback`. Close it when done.
   */
  subscribe(filter: EventFilter = {}, callback?: (event: TaskEvent) => void): EventSubscription {
    return new EventSubscription(this.nc, filter, callback);
  }

  /** Calls `observer` with every event this process publishes (or would, with publishing off); returns a function that stops it. */
  observe(observer: (event: TaskEvent) => void): () => void {
    this.#observers.push(observer);
    return () => {
      const i = this.#observers.indexOf(observer);
      if (i >= 0) this.#observers.splice(i, 1);
    };
  }

  /** Whether anyone would see an event: the hot path skips making one otherwise. */
  get wanted(): boolean {
    return this.publishing || this.#observers.length > 0;
  }

  /** Publishes `event` of `task`, whose fields are as the change left them. */
  emit(event: EventName, task: EventTask, extra?: EventExtra): void {
    // A message that is not on a work subject (it died unread) has no queue or type to publish under.
    if (!this.wanted || !task.queue || !task.type) return;
    const body: TaskEvent = {
      event,
      task_id: task.id,
      queue: task.queue,
      type: task.type,
      priority: task.priority,
      status: task.status,
      attempt: task.attempts,
      worker_id: task.worker_id,
      at: this.now(),
      ...extra,
    };
    for (const observer of this.#observers) observer(body);
    if (this.publishing) this.#hold(eventSubject(task.queue, event, task.type), JSON.stringify(body));
  }

  #hold(subject: string, json: string): void {
    if (this.#held.size === 0) this.outlet.beforeFlush(this.#send);
    const held = this.#held.get(subject);
    if (!held) this.#held.set(subject, [json]);
    else if (held.push(json) === MAX_PER_MESSAGE) {
      this.outlet.post(subject, `[${held.join(",")}]`);
      this.#held.set(subject, []);
    }
  }

  readonly #send = (): void => {
    for (const [subject, held] of this.#held) if (held.length > 0) this.outlet.post(subject, `[${held.join(",")}]`);
    this.#held.clear();
  };
}
