/**
 * Promoting delayed tasks. Delayed messages wait in `EDGEQ_DELAYED`, filed by due slot (a tenth of
 * a second: `edgeq_delayed.<slot>`). The process that holds the lease (lease.ts) looks, every
 * tick, at the slot under way and the one before. A slot with messages is read through a
 * short-lived consumer, a batch at a time, in due order; each task is published to its work subject
 * when due, with the same `Nats-Msg-Id` (so that a promotion repeated after a crash is dropped by
 * the work stream's duplicate window) and `Edgeq-Delayed-Seq`. Once a batch's publishes are
 * acknowledged, what it read of the slot is purged. So the process holds one batch, however many
 * tasks wait.
 *
 * The same holder submits the recurring tasks' ticks (recurring.ts).
 *
 * A slot stays open for GRACE_MS after it ends, for submitters whose clock runs behind, and those
 * are looked at again every few seconds; the cursor passes a slot only when it is found empty after
 * that. A new lease holder goes on from the cursor the lease holds; on a fresh bucket, from the
 * open slots, or from the due slot of the stream's oldest message if that is earlier.
 */
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import type { Edgeq } from "../client/mod.ts";
import { Delivery, type PubAck, Puller, type StreamMessage } from "../nats/mod.ts";
import { emitPromoted } from "../events/emit.ts";
import {
  DELAY_SLOT_MS,
  DELAYED_STREAM,
  delayedSubject,
  delaySlotOf as slotOf,
  HEADER_DELAYED_SEQ,
  HEADER_ID,
  HEADER_RUN_AT,
  HEADER_SUBJECT,
  ID_PATTERN,
  parseTaskSubject,
  type SubjectParts,
  taskIdOf,
} from "../wire/mod.ts";
import { Lease } from "./lease.ts";
import { Recurring } from "./recurring.ts";
import { DependencySweeper } from "../flows/mod.ts";

export interface SchedulerOptions {
  /** Names this process in the lease. */
  holder: string;
  /** How often the due slots are looked at. */
  tickMs?: number;
  /** How long a lease lasts unrenewed: how soon another process takes over from one that died. */
  leaseMs?: number;
  onError?: (err: unknown) => void;
  now?: () => number;
}

/** How long after its end a slot is still looked at, for submitters with a slow clock. */
const GRACE_MS = 30_000;
/** How often the slots that have ended but are still open are looked at. */
const OPEN_SLOTS_EVERY_MS = 5000;
/** Slots looked at with one round of requests. */
const LOOK_AT_ONCE = 64;
/**
 * Delayed messages read, and promoted, at a time. Each batch costs the server a pull and a purge
 * whose work grows with what the stream holds: with 1,000,000 held, batches of 1,000 promoted
 * 16,933 a second, batches of 4,000 31,640 (4 MB or so held at a time).
 */
const BATCH = 4000;


export class Scheduler {
  readonly #lease: Lease;
  readonly #recurring: Recurring;
  readonly #dependencies: DependencySweeper;
  readonly #puller: Puller;
  readonly #now: () => number;
  readonly #report: (err: unknown) => void;
  #cursor: number | null = null;
  #openSlotsAt = 0;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #tick: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly edgeq: Edgeq, private readonly options: SchedulerOptions) {
    this.#now = options.now ?? Date.now;
    this.#report = options.onError ?? console.error;
    this.#lease = new Lease(edgeq.buckets.scheduler, options.holder, options.leaseMs ?? 3000, this.#now);
    this.#puller = new Puller(edgeq.nc, edgeq.js.apiPrefix, DELAYED_STREAM, this.#report);
    this.#recurring = new Recurring(edgeq, this.#now, this.#report);
    this.#dependencies = new DependencySweeper(edgeq, edgeq.flows, this.#now, this.#report);
  }

  get holder(): string {
    return this.#lease.holder;
  }

  start(): this {
    const leaseMs = this.options.leaseMs ?? 3000;
    // Renewed apart from the promotions, which may take longer than the lease lasts.
    const renew = () => this.#hold().catch(this.#report);
    void renew();
    this.#timers.push(setInterval(renew, leaseMs / 3));
    this.#timers.push(setInterval(() => (this.#tick ??= this.#run().finally(() => (this.#tick = undefined))), this.options.tickMs ?? 50));
    return this;
  }

  /** Stops, and gives the lease up for another process to take at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timers.forEach(clearInterval);
    this.#puller.abandonAll();
    // With NATS down, what is under way can only time out, and the lease expires by itself.
    if (!this.edgeq.connection.up) return;
    await this.#tick;
    await this.#lease.release();
  }

  async #hold(): Promise<void> {
    if (this.#stopped) return;
    const held = await this.#lease.hold(this.#cursor);
    if (!held) this.#cursor = null;
    else this.#cursor ??= held.cursor ?? (await this.#firstCursor());
  }

  /** Where a fresh lease bucket starts: the open slots, or the oldest message's due slot if earlier. */
  async #firstCursor(): Promise<number> {
    const open = slotOf(this.#now() - GRACE_MS);
    const { state } = await this.edgeq.jsm.streams.info(DELAYED_STREAM);
    const oldest = state.messages > 0 ? await this.edgeq.jsm.streams.getMessage(DELAYED_STREAM, { seq: state.first_seq }) : null;
    const slot = Number(oldest?.subject.split(".")[1]); // edgeq_delayed.<slot>
    return Number.isSafeInteger(slot) ? Math.min(open, slot) : open;
  }

  async #run(): Promise<void> {
    if (!this.#lease.held || this.#cursor === null) return;
    // A schedule that cannot be submitted (its queue full) must not hold up the delayed tasks.
    await this.#recurring.tick().catch(this.#report);
    await this.#dependencies.tick().catch(this.#report);
    try {
      const now = this.#now();
      // Every tick the slot under way and the one before; every few seconds, all those still open.
      const open = now - this.#openSlotsAt >= OPEN_SLOTS_EVERY_MS;
      if (open) this.#openSlotsAt = now;
      // In rounds of requests; the slot under way is read again after each round, which may have taken long.
      for (let from = open ? this.#cursor : Math.max(this.#cursor, slotOf(now) - 1); from <= slotOf(this.#now());) {
        const slots = Array.from({ length: Math.min(LOOK_AT_ONCE, slotOf(this.#now()) - from + 1) }, (_, i) => from + i);
        from += slots.length;
        const held = await Promise.all(slots.map((slot) => this.#holds(slot)));
        for (const [i, slot] of slots.entries()) {
          if (!this.#lease.held || this.#stopped) return;
          if (held[i]) await this.#promoteSlot(slot);
          // Passed only once found empty after it closed: a slot promoted now is looked at again.
          const closed = (slot + 1) * DELAY_SLOT_MS + GRACE_MS <= this.#now();
          if (slot === this.#cursor && !held[i] && closed) this.#cursor++;
        }
      }
    } catch (err) {
      this.#report(err);
    }
  }

  async #holds(slot: number): Promise<boolean> {
    return (await this.edgeq.jsm.streams.getMessage(DELAYED_STREAM, { last_by_subj: delayedSubject(slot) })) !== null;
  }

  /**
   * Promotes what slot `slot` holds, a batch at a time. The next batch is pulled while one is
   * published, and a batch's purge is not waited for: it removes only what was published already.
   */
  async #promoteSlot(slot: number): Promise<void> {
    const { jsm } = this.edgeq;
    const filter = delayedSubject(slot);
    const name = `edgeq_scheduler_${slot}_${crypto.randomUUID().slice(0, 8)}`;
    await jsm.consumers.add(DELAYED_STREAM, {
      name,
      filter_subject: filter,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: 30_000 * 1_000_000,
      mem_storage: true,
    });
    const purges: Promise<unknown>[] = [];
    try {
      for (let next = this.#pull(name); this.#lease.held && !this.#stopped;) {
        const { batch, full } = await next;
        if (full) next = this.#pull(name);
        if (batch.length === 0 || !(await this.#promote(batch, slot))) break;
        // All of this slot up to the batch's last message was read, in order, and promoted.
        purges.push(jsm.streams.purge(DELAYED_STREAM, { filter, seq: batch[batch.length - 1].streamSeq + 1 }));
        if (!full) break;
      }
    } finally {
      // A purge that failed leaves its tasks to be promoted again: the work stream drops the repeats.
      for (const failed of (await Promise.allSettled(purges)).filter((r) => r.status === "rejected")) this.#report(failed.reason);
      await jsm.consumers.delete(DELAYED_STREAM, name).catch(() => {});
    }
  }

  /** The consumer's next batch; `full` when there may be more after it. */
  async #pull(consumer: string): Promise<{ batch: Delivery[]; full: boolean }> {
    const batch: Delivery[] = [];
    const pulled = await this.#puller.pull(consumer, { batch: BATCH, noWait: true }, (msg) => batch.push(new Delivery(msg)));
    return { batch, full: pulled.answered && batch.length === BATCH };
  }

  /**
   * Publishes each task of `batch` to its work subject when it falls due, at the latest when its
   * slot ends (a raw message may name a due time outside its slot); resolves true when all were
   * stored. A task canceled since its message was pulled is published all the same: its worker
   * reads the `canceled` record before it starts it (src/worker/attempts.ts).
   */
  async #promote(batch: Delivery[], slot: number): Promise<boolean> {
    const slotEnd = (slot + 1) * DELAY_SLOT_MS;
    const due = batch.map((d) => {
      const runAt = Number(d.msg.headers?.get(HEADER_RUN_AT));
      return { d, runAt, at: Math.min(slotEnd, runAt || 0) };
    }).sort((a, b) => a.at - b.at);
    for (let i = 0; i < due.length;) {
      const wait = due[i].at - this.#now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!this.#lease.held || this.#stopped) return false;
      const now = this.#now();
      const group: Promotion[] = [];
      for (; i < due.length && due[i].at <= now; i++) {
        const promotion = promotionOf(due[i].d, due[i].runAt);
        if (promotion) group.push(promotion);
        else await this.#bury(due[i].d);
      }
      const acks = await this.edgeq.requests.publishAll(group.map((p) => p.work), BATCH);
      const failed = acks.find((r) => r instanceof Error);
      if (failed) {
        this.#report(failed);
        return false;
      }
      this.#announce(group, acks as PubAck[]);
    }
    return true;
  }

  /** `promoted` for each task stored anew (a repeat of an earlier promotion is not one). */
  #announce(group: Promotion[], acks: PubAck[]): void {
    if (!this.edgeq.events.wanted) return;
    group.forEach(({ work, parts, runAt }, i) => {
      // Without an id of its own, the task's is `seq-<its work sequence>`, known now.
      if (!acks[i].duplicate) emitPromoted(this.edgeq.events, parts.id ?? taskIdOf(work.subject, work.headers, acks[i].seq), parts, runAt);
    });
  }

  /** A delayed message that names no work subject (a raw publish gone wrong) is a dead letter. */
  #bury({ msg, streamSeq }: Delivery): Promise<void> {
    const given = msg.headers?.get(HEADER_ID) ?? "";
    const id = ID_PATTERN.test(given) ? given : `delayed-${streamSeq}`;
    const reason = `delayed message ${streamSeq} names no work subject in ${HEADER_SUBJECT}`;
    return this.edgeq.deadLetters.add({ id, subject: msg.subject, headers: msg.headers, body: msg.data, reason, attempts: 0, history: [], workSeq: streamSeq });
  }
}

/** A delayed task's work message, its subject's parts and its due time. */
interface Promotion {
  work: StreamMessage;
  parts: SubjectParts;
  runAt: number;
}

/**
 * A delayed message as its task's work message: its headers less the delay's, with its sequence
 * here (the received headers are reused: they are not read again); null if it names no work subject.
 */
function promotionOf({ msg, streamSeq }: Delivery, runAt: number): Promotion | null {
  const headers = msg.headers;
  const subject = headers?.get(HEADER_SUBJECT) ?? "";
  const parts = parseTaskSubject(subject);
  if (!headers || !parts) return null;
  headers.delete(HEADER_RUN_AT);
  headers.delete(HEADER_SUBJECT);
  headers.set(HEADER_DELAYED_SEQ, String(streamSeq));
  return { work: { subject, body: msg.data, headers }, parts, runAt };
}
