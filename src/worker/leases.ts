/**
 * Leases: what keeps the worker's deliveries its own while it holds them.
 *
 * - Every third of the ack wait, `+WPI` for every delivery in hand (running or held), so JetStream
 *   does not redeliver a long task, or one waiting in the buffer, to another worker.
 * - A run whose lease may have lapsed (no renewal went out for two thirds of the ack wait: the event
 *   loop was blocked, or the connection was down) is marked: its task may have been taken over.
 * - A run that has lasted `runningAfterMs` has `running` stored, so that the record shows it and a
 *   crash from then on counts as an attempt. One timer does all three.
 */
import type { Delivery } from "../nats/mod.ts";
import type { TaskRecords } from "../tasks/mod.ts";
import type { Run } from "./run.ts";

/** How often the timer looks for runs that have lasted `runningAfterMs`. */
const TICK_MS = 250;

export class Leases {
  #timer: ReturnType<typeof setInterval> | undefined;
  /** When leases were last renewed with the connection up (`performance.now()`). */
  #renewedAt = performance.now();
  /**
   * Set by a renewal that came too late, until one comes in time: a delivery accepted meanwhile may
   * have waited out its lease in the socket while the event loop was blocked.
   */
  #late = false;

  constructor(
    private readonly ackWaitMs: number,
    private readonly runningAfterMs: number,
    private readonly records: TaskRecords,
    private readonly runs: () => Iterable<Run>,
    private readonly held: () => Iterable<Delivery>,
    private readonly connected: () => boolean,
    private readonly report: (err: unknown) => void,
  ) {}

  /** Whether a delivery accepted now may already have lapsed. */
  get late(): boolean {
    return this.#late;
  }

  start(): void {
    this.#renewedAt = performance.now();
    this.#timer = setInterval(() => this.#tick(), Math.min(TICK_MS, this.ackWaitMs / 3));
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = performance.now();
    if (now - this.#renewedAt >= this.ackWaitMs / 3) this.#renew(now);
    for (const run of this.runs()) {
      if (!run.runningAsked && !run.finishing && run.startedMs > 0 && now - run.startedMs >= this.runningAfterMs) {
        run.runningAsked = true;
        // Refused, the outcome's write finds out what happened.
        void run.storeRunning(this.records, run.record!, this.report);
      }
    }
  }

  #renew(now: number): void {
    this.checkLapsed(now);
    if (!this.connected()) return;
    this.#renewedAt = now;
    for (const run of this.runs()) run.delivery.working();
    for (const delivery of this.held()) delivery.working();
  }

  /** Marks every run whose lease may have lapsed; also called on a reconnect. */
  checkLapsed(now = performance.now()): void {
    this.#late = now - this.#renewedAt > (this.ackWaitMs * 2) / 3;
    if (this.#late) for (const run of this.runs()) run.lapsed = true;
  }
}
