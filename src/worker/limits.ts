/**
 * The limit gate: a worker's deliveries of limited tasks (a type with `concurrency` or `rate` in
 * `types`, or a task with a key while `keys` is set) wait here, unstarted, until they hold their
 * limits' tokens (src/limits/): the key's slot, then the type's, then a start of each rate. Then they
 * take a handler slot, and run; a slot is released when the handler returns. A worker whose
 * configuration has no limit has no gate, and no task pays anything.
 *
 * Waiting deliveries are the worker's: their leases are renewed, and they count against the
 * consumer's max ack pending and against the worker's room. The gate holds at most half the
 * worker's concurrency, so that the worker still pulls (tasks of other types keep running while a
 * limit is full), and at most `keys.concurrency` of one key, so that one key's backlog leaves room
 * for the other keys' tasks; beyond that, a delivery is given back uncounted with a delay, 1 s doubling with
 * each give-back to 10 s, for whichever worker then has room.
 *
 * Fairness: waiting deliveries are kept by key (tasks without one under ""), and the keys take
 * turns: each start moves its key to the back. A scope found full is not asked again until one of
 * its slots is released, here or on another worker (a notice on `edgeq_limit_free.<scope>`), or a
 * second has passed (a dead holder's slot is then looked for).
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Edgeq } from "../client/mod.ts";
import { type Delivery, readEntry } from "../nats/mod.ts";
import { type IncomingTask, LIMIT_FREE_ROOT, WORKERS_BUCKET } from "../wire/mod.ts";
import { LimitEntries } from "../limits/entries.ts";
import { type Limit, limits, type Rate, typeLimits } from "../limits/limit.ts";
import { RateLimits } from "../limits/rates.ts";
import { ConcurrencySlots, type Holder, type Slot } from "../limits/slots.ts";
import type { WorkerInfo } from "./heartbeat.ts";
import type { Run } from "./run.ts";

/** One limit a task is under. */
interface Need {
  scope: string;
  concurrency?: number;
  rate?: Rate;
}

interface Waiting {
  run: Run;
  task: IncomingTask;
  needs: Need[];
  /** Not asked again before this (`performance.now()`), after an error. */
  notBefore: number;
}

/** What the gate needs of its worker. */
export interface GateHost {
  /** Takes a handler slot for a delivery whose tokens are about to be asked for; false when none is free. */
  reserve(): boolean;
  /** Frees a reserved slot unused. */
  unreserve(): void;
  /** Runs a delivery that holds its tokens, in the slot reserved for it. */
  admitted(run: Run, task: IncomingTask): void;
  /** Gives a delivery back unrun and uncounted, to come back after `delayMs`. */
  giveBack(run: Run, delayMs: number): void;
}

/** A full scope is asked again after this even without a notice. */
const RECHECK_MS = 1000;
const GIVE_BACK_MS = 1000;
const GIVE_BACK_MAX_MS = 10_000;

/** The gate of a worker whose configuration has limits; null otherwise. */
export function limitGate(edgeq: Edgeq, holder: Holder, host: GateHost, maxWaiting: number, report: (err: unknown) => void): LimitGate | null {
  const types = typeLimits(edgeq.config.types);
  const keys = limits(edgeq.config.keys) ? edgeq.config.keys : undefined;
  if (types.size === 0 && !keys) return null;
  const entries = new LimitEntries(edgeq.requests);
  const isLive = async (h: Holder) => (await readEntry<WorkerInfo>(edgeq, WORKERS_BUCKET, h.worker))?.started_at === h.started_at;
  const slots = new ConcurrencySlots(entries, edgeq.jsm, holder, isLive);
  return new LimitGate(slots, new RateLimits(entries), types, keys, edgeq.nc, host, maxWaiting, report);
}

export class LimitGate {
  readonly #byKey = new Map<string, Waiting[]>();
  #size = 0;
  readonly #held = new Map<Run, Slot[]>();
  readonly #full = new Set<string>();
  /** Scopes whose tokens are being asked for: one at a time per scope, so that a backlog costs no storm of writes. */
  readonly #asking = new Set<string>();
  readonly #types: Map<string, Limit>;
  #wake: ReturnType<typeof setTimeout> | undefined;
  #wakeAt = Infinity;
  #sub: Subscription | undefined;
  #stopped = false;

  constructor(
    private readonly slots: ConcurrencySlots,
    private readonly rates: RateLimits,
    types: Map<string, Limit>,
    private readonly keys: Limit | undefined,
    private readonly nc: NatsConnection,
    private readonly host: GateHost,
    private readonly maxWaiting: number,
    private readonly report: (err: unknown) => void,
  ) {
    this.#types = types;
  }

  start(): void {
    this.#sub = this.nc.subscribe(`${LIMIT_FREE_ROOT}.>`, {
      callback: (_err, msg) => {
        if (this.#full.delete(msg.subject.slice(LIMIT_FREE_ROOT.length + 1))) this.pump();
      },
    });
  }

  /** Deliveries waiting. */
  get size(): number {
    return this.#size;
  }

  /** Whether it holds as many as it may: the worker then starts nothing else from its buffer. */
  get full(): boolean {
    return this.#size >= this.maxWaiting;
  }

  /**
   * Takes a task that is under a limit, to run once it holds its tokens (or gives it back); false
   * for one under none, which the worker runs at once. A lookup: the path of unlimited tasks.
   */
  wait(run: Run, task: IncomingTask): boolean {
    const type = this.#types.get(task.type);
    if (!type && (task.key === undefined || !this.keys)) return false;
    const needs: Need[] = [];
    if (task.key !== undefined && this.keys) needs.push({ scope: `key.${task.key}`, ...this.keys });
    if (type) needs.push({ scope: `type.${task.type}`, ...type });
    const queue = this.#queueOf(task.key ?? "");
    // At most a key's concurrency per key, so that one key's backlog leaves room for the others'.
    const perKey = task.key !== undefined ? this.keys?.concurrency ?? this.maxWaiting : this.maxWaiting;
    if (this.#stopped || this.#size >= this.maxWaiting || queue.length >= perKey) {
      if (queue.length === 0) this.#byKey.delete(task.key ?? "");
      this.host.giveBack(run, Math.min(GIVE_BACK_MAX_MS, GIVE_BACK_MS * 2 ** Math.min(10, run.delivery.deliveryCount - 1)));
      return true;
    }
    queue.push({ run, task, needs, notBefore: 0 });
    this.#size++;
    this.pump();
    return true;
  }

  /** Starts asking for the tokens of waiting deliveries, keys in turn, while the worker has slots. */
  pump(): void {
    if (this.#stopped || this.#size === 0) return;
    const now = performance.now();
    for (const [key, queue] of [...this.#byKey]) {
      const i = queue.findIndex((w) => !this.#blocked(w, now));
      if (i < 0) continue;
      if (!this.host.reserve()) return;
      const [waiting] = queue.splice(i, 1);
      this.#size--;
      // Its turn taken: the key goes to the back.
      this.#byKey.delete(key);
      if (queue.length) this.#byKey.set(key, queue);
      void this.#admit(waiting);
    }
    if (this.#size > 0) this.#wakeIn(RECHECK_MS);
  }

  /** Releases the slots of a run whose handler returned (or that was given back). */
  release(run: Run): void {
    const slots = this.#held.get(run);
    if (!slots) return;
    this.#held.delete(run);
    this.#free(slots);
  }

  /** Every waiting delivery, for lease renewals. */
  *deliveries(): Iterable<Delivery> {
    for (const queue of this.#byKey.values()) for (const w of queue) yield w.run.delivery;
  }

  /** Takes out the waiting runs of task `id` (canceled). */
  remove(id: string): Run[] {
    const removed: Run[] = [];
    for (const [key, queue] of this.#byKey) {
      const kept = queue.filter((w) => w.run.id !== id || !removed.push(w.run));
      this.#size -= queue.length - kept.length;
      if (kept.length) this.#byKey.set(key, kept);
      else this.#byKey.delete(key);
    }
    return removed;
  }

  /** Stops; returns the waiting runs, for the worker to give back. */
  stop(): Run[] {
    this.#stopped = true;
    this.#sub?.unsubscribe();
    clearTimeout(this.#wake);
    const runs = [...this.#byKey.values()].flatMap((queue) => queue.map((w) => w.run));
    this.#byKey.clear();
    this.#size = 0;
    return runs;
  }

  #blocked(w: Waiting, now: number): boolean {
    if (w.notBefore > now) return true;
    for (const need of w.needs) {
      if (this.#asking.has(need.scope)) return true;
      if (need.concurrency !== undefined && this.#full.has(need.scope)) return true;
      if (need.rate) {
        const waitMs = this.rates.waitMs(need.scope, need.rate);
        if (waitMs > 0) return this.#wakeIn(waitMs), true;
      }
    }
    return false;
  }

  /** Takes the tokens of `w` in its reserved slot, then runs it; else puts it back to wait. */
  async #admit(w: Waiting): Promise<void> {
    for (const need of w.needs) this.#asking.add(need.scope);
    const taken = await this.#take(w);
    for (const need of w.needs) this.#asking.delete(need.scope);
    if (!taken) return this.pump();
    if (this.#stopped) {
      this.#free(taken);
      this.host.unreserve();
      return this.host.giveBack(w.run, 0);
    }
    if (taken.length) this.#held.set(w.run, taken);
    this.host.admitted(w.run, w.task);
    this.pump();
  }

  /** The slots and rate starts `w` needs: the slots taken, or null when it was put back to wait. */
  async #take(w: Waiting): Promise<Slot[] | null> {
    const taken: Slot[] = [];
    try {
      for (const need of w.needs) {
        if (need.concurrency === undefined) continue;
        const slot = await this.slots.acquire(need.scope, need.concurrency, w.run.id);
        if (!slot) {
          this.#full.add(need.scope);
          return this.#putBack(w, taken);
        }
        taken.push(slot);
      }
      for (const need of w.needs) {
        if (!need.rate) continue;
        const waitMs = await this.rates.take(need.scope, need.rate);
        if (waitMs > 0) {
          this.#wakeIn(waitMs);
          return this.#putBack(w, taken);
        }
      }
    } catch (err) {
      this.report(err);
      w.notBefore = performance.now() + RECHECK_MS;
      return this.#putBack(w, taken);
    }
    return taken;
  }

  #putBack(w: Waiting, taken: Slot[]): null {
    this.#free(taken);
    this.host.unreserve();
    if (this.#stopped) this.host.giveBack(w.run, 0);
    else {
      this.#queueOf(w.task.key ?? "").unshift(w);
      this.#size++;
    }
    return null;
  }

  /** Deletes the slots, then tells every worker (this one too) that their scopes have room. */
  #free(slots: Slot[]): void {
    for (const slot of slots) {
      this.slots.release(slot).then(
        () => this.nc.publish(`${LIMIT_FREE_ROOT}.${slot.scope}`),
        (err) => this.report(err),
      );
    }
  }

  #queueOf(key: string): Waiting[] {
    let queue = this.#byKey.get(key);
    if (!queue) this.#byKey.set(key, queue = []);
    return queue;
  }

  /** Pumps again in `ms` (the earliest asked for wins). */
  #wakeIn(ms: number): void {
    const at = performance.now() + ms;
    if (this.#stopped || at >= this.#wakeAt) return;
    clearTimeout(this.#wake);
    this.#wakeAt = at;
    this.#wake = setTimeout(() => {
      this.#wakeAt = Infinity;
      // Scopes found full are asked again: a slot may have come back without a notice (a dead holder's).
      this.#full.clear();
      this.pump();
    }, Math.max(1, ms));
  }
}
