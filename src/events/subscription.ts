/**
 * Reading task events: a filter (queue, type, events, task id) becomes as few subjects as it can
 * (one per event named), the rest is matched here. A subscription is an async iterable, or calls a
 * callback; `close()` ends either. Events are core NATS messages: one published while no one
 * listens, or while the connection is down, is not seen.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { z } from "zod";
import { parseInput } from "../nats/mod.ts";
import { eventSubject, idSchema, queueSchema, typeSchema } from "../wire/mod.ts";
import { EVENT_NAMES, type EventName, type TaskEvent } from "./event.ts";

export const eventNameSchema = z.enum(EVENT_NAMES, { error: `must be one of ${EVENT_NAMES.join(", ")}` });

export const eventFilterSchema = z.strictObject({
  queue: queueSchema.optional(),
  /** The task type, exactly. */
  type: typeSchema.optional(),
  /** One event, or several. */
  event: z.union([eventNameSchema, z.array(eventNameSchema).min(1, "must name at least one event")]).optional(),
  taskId: idSchema.optional(),
}, { error: "the filter must be an object" });
export type EventFilter = z.input<typeof eventFilterSchema>;

/** Events held for an iterator that does not keep up; past it the oldest are dropped (as a lost message would be). */
const MAX_BUFFERED = 10_000;

export class EventSubscription implements AsyncIterable<TaskEvent> {
  readonly #subs: Subscription[];
  readonly #taskId: string | undefined;
  readonly #events: ReadonlySet<EventName> | undefined;
  readonly #buffer: TaskEvent[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(private readonly nc: NatsConnection, filter: EventFilter, private readonly callback?: (event: TaskEvent) => void) {
    const f = parseInput(eventFilterSchema, filter ?? {}, "event filter");
    const events = f.event === undefined ? undefined : [...new Set(Array.isArray(f.event) ? f.event : [f.event])];
    this.#taskId = f.taskId;
    // A subject per event named: the server filters. Several subscriptions may deliver the same
    // subject only once each, so nothing is seen twice.
    const subjects = (events ?? ["*"]).map((event) => eventSubject(f.queue ?? "*", event, f.type ?? ">"));
    this.#events = events && new Set(events);
    this.#subs = subjects.map((subject) => nc.subscribe(subject, {
      callback: (err, msg) => {
        if (!err) this.#receive(msg);
      },
    }));
  }

  /** Resolves once every NATS subscription has been registered with the server: later events are seen. */
  async ready(): Promise<void> {
    await this.nc.flush();
  }

  #receive(msg: Msg): void {
    if (this.#closed) return;
    let events: TaskEvent | TaskEvent[];
    try {
      events = msg.json<TaskEvent | TaskEvent[]>();
    } catch {
      return; // not an event: someone else's message on the subject
    }
    // edgeq publishes arrays; a single event object (another publisher's) is taken too.
    if (!Array.isArray(events)) return this.#take(events);
    for (const event of events) this.#take(event);
  }

  #take(event: TaskEvent): void {
    if (this.#closed || typeof event !== "object" || event === null) return;
    if (this.#taskId !== undefined && event.task_id !== this.#taskId) return;
    if (this.#events && !this.#events.has(event.event)) return;
    if (this.callback) return this.callback(event);
    if (this.#buffer.push(event) > MAX_BUFFERED) this.#buffer.shift();
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TaskEvent> {
    if (this.callback) throw new TypeError("a subscription with a callback is not iterable");
    try {
      while (true) {
        const next = this.#buffer.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.#closed) return;
        await new Promise<void>((r) => (this.#wake = r));
        this.#wake = undefined;
      }
    } finally {
      // Leaving the loop (a break, a throw) ends the subscription.
      this.close();
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Unsubscribes; an iterator ends after what it holds. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const sub of this.#subs) sub.unsubscribe();
    this.#wake?.();
  }
}
