/**
 * Intake: pulls deliveries from the worker's consumers into a local buffer and hands them out
 * highest priority first.
 *
 * Each consumer (a lane: one queue at one priority) is in one of three states:
 * - ready: nothing open; asked with a no-wait pull when the worker has room for a batch;
 * - pulling: that no-wait pull is under way;
 * - parked: it was found empty, so a waiting pull is open on it (renewed every `idlePullMs`),
 *   which delivers the moment a task is stored. A parked lane is never asked again until its pull ends.
 *
 * Room is the worker's capacity (its slots, plus what it may hold at its recent pace) less what
 * it runs, holds and has asked for with no-wait pulls. Asking waits until half the capacity is free
 * while a slot has something to start, so a busy worker pulls in batches, not a pull per
 * completion. What the lanes deliver beyond the free slots (a parked pull's batch is not counted
 * against the room) waits in the buffer, its lease renewed, at a busy worker that holds some at its
 * pace; a worker of slow tasks, which holds none, hands it back at once for another worker.
 *
 * A lane of a paused queue is asked for nothing more, and what it holds, or its open pull still
 * delivers, waits in the buffer until the queue is resumed. (Abandoning the pull would not stop it:
 * nats-server 2.9 still delivers to a waiting request whose inbox is gone, and that delivery would
 * only come back after the ack wait.)
 */
import type { Msg } from "@nats-io/nats-core";
import { Delivery } from "../delivery.ts";
import type { Puller } from "../puller.ts";

/** A consumer of one of the worker's queues. */
export interface LaneOf {
  consumer: string;
  queue: string;
}

interface Lane extends LaneOf {
  /** Delivered, not yet started; `head` is the next one. */
  held: Delivery[];
  head: number;
  state: "ready" | "pulling" | "parked";
  /** What the lane's open pull may still deliver. */
  open: number;
  /** Its queue is paused. */
  paused: boolean;
}

/** What the intake needs to know of its worker, and tells it. */
export interface IntakeHost {
  /** How many deliveries the worker wants in hand (running, settling and held) now. */
  capacity(): number;
  /** How many it has in hand besides those held: running, or storing their outcome. */
  inHand(): number;
  /** How many handlers run now, and may run at once. */
  busy(): number;
  readonly concurrency: number;
  readonly idlePullMs: number;
  /** Called when a delivery arrives: the worker starts what it has slots for. */
  onArrival(): void;
  /** How the deliveries' answers are sent. */
  respond(subject: string, data: Uint8Array): void;
  /** Gives back a delivery the worker has no slot for and will not hold (uncounted). */
  handBack(delivery: Delivery): void;
}

/** Pause before pulling again after a pull the server did not answer. */
const UNANSWERED_PAUSE_MS = 1000;

export class Intake {
  readonly #lanes: Lane[];
  #held = 0;
  #asking = false;
  #stopped = false;

  constructor(
    private readonly puller: Puller,
    /** In the order they are served: every queue's high, then normal, then low. */
    lanes: LaneOf[],
    private readonly worker: IntakeHost,
  ) {
    this.#lanes = lanes.map(({ consumer, queue }) => ({ consumer, queue, held: [], head: 0, state: "ready", open: 0, paused: false }));
  }

  /** Deliveries held, not yet started. */
  get held(): number {
    return this.#held;
  }

  /**
   * The next delivery to start, highest priority first. None while a lane above the best one held
   * may have tasks (it is not parked): that lane is asked first, and the worker called again.
   */
  take(): Delivery | undefined {
    for (const [i, lane] of this.#lanes.entries()) {
      if (lane.head < lane.held.length && !lane.paused) {
        if (this.#lanes.slice(0, i).some((above) => above.state !== "parked" && !above.paused)) {
          this.#askAbove(i);
          return undefined;
        }
        const delivery = lane.held[lane.head++];
        if (lane.head === lane.held.length) {
          lane.held = [];
          lane.head = 0;
        }
        this.#held--;
        return delivery;
      }
    }
    return undefined;
  }

  /** Every delivery held, for lease renewals. */
  *heldDeliveries(): Iterable<Delivery> {
    for (const lane of this.#lanes) for (let i = lane.head; i < lane.held.length; i++) yield lane.held[i];
  }

  /** Asks the lanes for more when there is room for it. */
  fill(): void {
    if (this.#stopped || this.#asking) return;
    const capacity = this.worker.capacity();
    // A parked pull's room is not counted: what it brings beyond the slots waits in the buffer.
    const room = capacity - this.worker.inHand() - this.#held - this.#lanes.reduce((n, l) => n + (l.state === "parked" ? 0 : l.open), 0);
    const starving = this.#held === 0 && this.worker.busy() < this.worker.concurrency;
    if (room <= 0 || (!starving && room < capacity / 2)) return;
    this.#asking = true;
    this.#ask(room).then(({ got }) => {
      this.#asking = false;
      // A lower lane's delivery may have waited on this ask (see take): it can start now.
      if (this.#held > 0) this.worker.onArrival();
      if (got > 0) this.fill();
    });
  }

  /** No-wait pulls on the ready lanes (above `below`), in priority order, until `room` is asked for; empty lanes are parked. */
  async #ask(room: number, below = this.#lanes.length): Promise<{ got: number; answered: boolean }> {
    let got = 0;
    for (const lane of this.#lanes.slice(0, below)) {
      if (room <= 0 || this.#stopped) break;
      if (lane.state !== "ready" || lane.paused) continue;
      const asked = room;
      lane.state = "pulling";
      lane.open = asked;
      const result = await this.puller.pull(lane.consumer, { batch: asked, noWait: true }, (msg) => this.#arrive(lane, msg));
      lane.open = 0;
      lane.state = "ready";
      got += result.received;
      room -= result.received;
      if (!result.answered) {
        this.#pause();
        return { got, answered: false };
      }
      if (result.received < asked) this.#park(lane, room);
    }
    return { got, answered: true };
  }

  /** Asks the lanes above `index` for the free slots, before a lower one's delivery starts. */
  #askAbove(index: number): void {
    if (this.#asking || this.#stopped) return;
    this.#asking = true;
    const free = Math.max(1, this.worker.concurrency - this.worker.busy());
    this.#ask(free, index).then(({ answered }) => {
      this.#asking = false;
      // Unanswered, #pause tries again in a moment.
      if (answered) this.worker.onArrival();
    });
  }

  /** A waiting pull on an empty lane, for its share of the room. */
  #park(lane: Lane, room: number): void {
    if (this.#stopped || lane.paused) return;
    const parkedLanes = this.#lanes.filter((l) => l.state !== "pulling").length || 1;
    const batch = Math.max(1, Math.floor(Math.max(room, this.worker.capacity() - this.worker.inHand()) / parkedLanes));
    lane.state = "parked";
    lane.open = batch;
    this.puller.pull(lane.consumer, { batch, expiresMs: this.worker.idlePullMs }, (msg) => this.#arrive(lane, msg)).then((result) => {
      lane.state = "ready";
      lane.open = 0;
      if (this.#stopped || lane.paused) return;
      if (!result.answered) return this.#pause();
      // Still empty: wait on it again. Otherwise it is asked with the others when there is room.
      if (result.received === 0) this.#park(lane, 0);
      else this.fill();
    });
  }

  #arrive(lane: Lane, msg: Msg): void {
    lane.open = Math.max(0, lane.open - 1);
    const delivery = new Delivery(msg, this.worker.respond);
    // A worker of slow tasks holds nothing beyond its slots: another worker may be free now.
    const full = this.worker.busy() + this.#held >= this.worker.concurrency;
    if (full && this.worker.capacity() <= this.worker.concurrency) return this.worker.handBack(delivery);
    lane.held.push(delivery);
    this.#held++;
    this.worker.onArrival();
  }

  /** Without the server's answer (NATS unreachable), wait a moment rather than ask again at once. */
  #pause(): void {
    setTimeout(() => {
      if (this.#stopped) return;
      this.worker.onArrival();
      this.fill();
    }, UNANSWERED_PAUSE_MS);
  }

  /** Pauses or resumes a queue's lanes. */
  setPaused(queue: string, paused: boolean): void {
    for (const lane of this.#lanes) if (lane.queue === queue) lane.paused = paused;
    // Resumed, its lanes are asked and what they hold starts; paused, a lower lane's delivery no longer waits on them.
    this.fill();
    this.worker.onArrival();
  }

  /** Ends every open pull: after a reconnect (the server forgot them), and at shutdown. */
  abandonPulls(): void {
    this.puller.abandonAll();
  }

  /** Stops pulling; returns what was held, for the worker to give back. */
  stop(): Delivery[] {
    this.#stopped = true;
    this.puller.abandonAll();
    const held = [...this.heldDeliveries()];
    for (const lane of this.#lanes) {
      lane.held = [];
      lane.head = 0;
    }
    this.#held = 0;
    return held;
  }
}
