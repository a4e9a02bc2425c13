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
 * Priorities: with weights, the room is asked for in shares by weight, and among the lanes that
 * hold deliveries each start goes to one by smooth weighted round robin, so no priority starves.
 * Strict, the highest lane holding one always goes first, and a lane above it that may have tasks
 * is asked before it starts.
 *
 * A lane of a paused queue is asked for nothing more, and what it holds, or its open pull still
 * delivers, waits in the buffer until the queue is resumed. (Abandoning the pull would not stop it:
 * nats-server 2.9 still delivers to a waiting request whose inbox is gone, and that delivery would
 * only come back after the ack wait.)
 */
import type { Msg } from "@nats-io/nats-core";
import { Delivery, type Puller } from "../nats/mod.ts";
import type { Priority } from "../wire/mod.ts";

/** A consumer of one of the worker's queues. */
export interface LaneOf {
  consumer: string;
  queue: string;
  priority: Priority;
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
  /** Its priority's weight, and its running credit in the round robin. */
  weight: number;
  credit: number;
}

/** What the intake needs to know of its worker, and tells it. */
export interface IntakeHost {
  /** How many deliveries the worker wants in hand (running, settling and held) now. */
  capacity(): number;
  /** How many it has in hand besides those held: running, or storing their outcome. */
  inHand(): number;
  /** How many handlers run now, and may run at once. */
  busy(): number;
  /** Deliveries held waiting for their limits (limits.ts): as far as asking for more goes, they fill the slots they wait for. */
  waiting(): number;
  readonly concurrency: number;
  readonly idlePullMs: number;
  /** Called when a delivery arrives to be held, before onArrival. */
  onHeld(delivery: Delivery): void;
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
  /** Deliveries held by lanes that are not paused: those that compete for the worker's slots. */
  #held = 0;
  #asking = false;
  #stopped = false;

  constructor(
    private readonly puller: Puller,
    /** In the order they are served: every queue's high, then normal, then low. */
    lanes: LaneOf[],
    private readonly worker: IntakeHost,
    /** Null: strict priority order. */
    private readonly weights: Record<Priority, number> | null,
  ) {
    this.#lanes = lanes.map(({ consumer, queue, priority }) => ({
      consumer,
      queue,
      priority,
      held: [],
      head: 0,
      state: "ready",
      open: 0,
      paused: false,
      weight: weights?.[priority] ?? 1,
      credit: 0,
    }));
  }

  /** Deliveries held, not yet started, in lanes that are not paused. */
  get held(): number {
    return this.#held;
  }

  /**
   * The next delivery to start. None while the lane it should come from may have tasks but holds
   * none: that lane is asked first, and the worker called again.
   */
  take(): Delivery | undefined {
    const lane = this.weights ? this.#nextByWeight() : this.#nextByOrder();
    if (!lane) return undefined;
    const delivery = lane.held[lane.head++];
    if (lane.head === lane.held.length) {
      lane.held = [];
      lane.head = 0;
      lane.credit = 0;
    }
    this.#held--;
    return delivery;
  }

  /** Strict: the highest lane holding a delivery, once no lane above it may have tasks. */
  #nextByOrder(): Lane | undefined {
    const best = this.#lanes.findIndex(holds);
    if (best < 0) return undefined;
    const above = this.#lanes.slice(0, best).filter(mayHave);
    if (above.length === 0) return this.#lanes[best];
    this.#askFirst(above, Math.max(1, this.worker.concurrency - this.worker.busy()));
  }

  /**
   * Smooth weighted round robin among the lanes that hold deliveries or may have tasks. A chosen
   * lane that holds none is asked, for its share of the worker's capacity, before anything starts.
   */
  #nextByWeight(): Lane | undefined {
    let total = 0;
    let chosen: Lane | undefined;
    for (const lane of this.#lanes) {
      if (!holds(lane) && !mayHave(lane)) continue;
      total += lane.weight;
      if (!chosen || lane.credit + lane.weight > chosen.credit + chosen.weight) chosen = lane;
    }
    if (!chosen) return undefined;
    if (!holds(chosen)) {
      this.#askFirst([chosen], Math.max(1, Math.floor((this.worker.capacity() * chosen.weight) / total)));
      return undefined;
    }
    for (const lane of this.#lanes) if (holds(lane) || mayHave(lane)) lane.credit += lane.weight;
    chosen.credit -= total;
    return chosen;
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
    const starving = this.#held === 0 && this.worker.busy() + this.worker.waiting() < this.worker.concurrency;
    if (room <= 0 || (!starving && room < capacity / 2)) return;
    this.#asking = true;
    this.#ask(room).then(({ got }) => {
      this.#asking = false;
      // A lower lane's delivery may have waited on this ask (see take): it can start now.
      if (this.#held > 0) this.worker.onArrival();
      if (got > 0) this.fill();
    });
  }

  /**
   * No-wait pulls on the ready lanes of `lanes`, in priority order, until `room` is asked for
   * (with weights, each lane for its share of what is left); empty lanes are parked.
   */
  async #ask(room: number, lanes = this.#lanes): Promise<{ got: number; answered: boolean }> {
    let got = 0;
    const askable = (lane: Lane) => lane.state === "ready" && !lane.paused;
    for (const [i, lane] of lanes.entries()) {
      if (room <= 0 || this.#stopped) break;
      if (!askable(lane)) continue;
      const weightLeft = lanes.slice(i).reduce((w, l) => w + (askable(l) ? l.weight : 0), 0);
      const asked = this.weights ? Math.max(1, Math.floor((room * lane.weight) / weightLeft)) : room;
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

  /** Asks `lanes` for `room` before a delivery of another lane starts. */
  #askFirst(lanes: Lane[], room: number): void {
    if (this.#asking || this.#stopped) return;
    this.#asking = true;
    this.#ask(room, lanes).then(({ answered }) => {
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
    // A paused lane's waits for the resume, and keeps no other lane from being asked.
    if (!lane.paused) this.#held++;
    this.worker.onHeld(delivery);
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

  /** Takes the held deliveries `drop` picks out of the buffer (a canceled task's), and returns them. */
  remove(drop: (delivery: Delivery) => boolean): Delivery[] {
    const removed: Delivery[] = [];
    for (const lane of this.#lanes) {
      const before = removed.length;
      lane.held = lane.held.slice(lane.head).filter((d) => !(drop(d) && removed.push(d)));
      lane.head = 0;
      if (!lane.paused) this.#held -= removed.length - before;
    }
    return removed;
  }

  /** Pauses or resumes a queue's lanes. */
  setPaused(queue: string, paused: boolean): void {
    for (const lane of this.#lanes) {
      if (lane.queue !== queue || lane.paused === paused) continue;
      lane.paused = paused;
      this.#held += (paused ? -1 : 1) * (lane.held.length - lane.head);
    }
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

function holds(lane: Lane): boolean {
  return lane.head < lane.held.length && !lane.paused;
}

/** Whether a lane that holds nothing may have tasks: it is not parked (found empty) or paused. */
function mayHave(lane: Lane): boolean {
  return lane.state !== "parked" && !lane.paused && !holds(lane);
}
