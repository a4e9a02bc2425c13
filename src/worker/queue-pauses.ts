/**
 * Which of the worker's queues are paused (client/queue-states.ts), kept up to date: a queue notice's
 * state is applied at once, then the bucket read, which has the last word (notices from two
 * processes may cross); the bucket is also read at start, after a reconnect and with every
 * heartbeat, so that a notice missed while cut off from NATS is caught up with within a beat.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { QUEUE_NOTICE_ROOT } from "../wire/mod.ts";
import type { QueueStates } from "../client/mod.ts";

export class QueuePauses {
  readonly #paused = new Set<string>();
  /** Per queue, the number of the latest read: an older read that answers later is ignored. */
  readonly #reads = new Map<string, number>();
  #sub?: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly states: QueueStates,
    private readonly queues: readonly string[],
    private readonly onChange: (queue: string, paused: boolean) => void,
    private readonly report: (err: unknown) => void,
  ) {}

  /** Subscribes to the notices, then reads every queue's state. */
  async start(): Promise<void> {
    const prefix = `${QUEUE_NOTICE_ROOT}.`;
    this.#sub = this.nc.subscribe(`${prefix}>`, {
      callback: (err, msg) => {
        const queue = msg?.subject.slice(prefix.length);
        if (err || !queue || !this.queues.includes(queue)) return;
        this.#apply(queue, noticed(msg.data));
        void this.#read(queue);
      },
    });
    await this.refresh();
  }

  refresh(): Promise<unknown> {
    return Promise.all(this.queues.map((queue) => this.#read(queue)));
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }

  async #read(queue: string): Promise<void> {
    const read = (this.#reads.get(queue) ?? 0) + 1;
    this.#reads.set(queue, read);
    let paused: boolean;
    try {
      paused = (await this.states.get(queue)).paused;
    } catch (err) {
      return this.report(err);
    }
    if (this.#reads.get(queue) === read) this.#apply(queue, paused);
  }

  #apply(queue: string, paused: boolean | undefined): void {
    if (paused === undefined || paused === this.#paused.has(queue)) return;
    if (paused) this.#paused.add(queue);
    else this.#paused.delete(queue);
    this.onChange(queue, paused);
  }
}

/** The state a notice carries; undefined when it carries none edgeq wrote. */
function noticed(data: Uint8Array): boolean | undefined {
  try {
    const paused = JSON.parse(new TextDecoder().decode(data))?.paused;
    return typeof paused === "boolean" ? paused : undefined;
  } catch {
    return undefined;
  }
}
