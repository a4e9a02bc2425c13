/**
 * Task events: every state change of a task is published as a core NATS message on
 * `edgeq_events.<queue>.<event>.<type>` (never stored, never awaited). The message goes out with
 * the process's next per-turn flush (requests.ts `post`), beside the acks and record writes a
 * worker sends anyway, so it costs no round trip and no socket write of its own.
 *
 * `publishing: false` (config `events`) stops this process publishing; observers in the process
 * (a worker's own metrics) still see its events.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { eventSubject } from "../names.ts";
import { type EventExtra, type EventName, type EventTask, type TaskEvent } from "./event.ts";
import { type EventFilter, EventSubscription } from "./subscription.ts";

export class Events {
  readonly #observers: ((event: TaskEvent) => void)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    /** Sends a message with the next flush. */
    private readonly post: (subject: string, body: string) => void,
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
    if (this.publishing) this.post(eventSubject(task.queue, event, task.type), JSON.stringify(body));
  }
}
