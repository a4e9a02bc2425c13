/**
 * Settling a run: its outcome is stored, and only then is its message answered: `+ACK` when
 * completed, `-NAK` with the backoff delay for a retry, `+TERM` when failed or dead. A dead task
 * goes to the dead-letter stream before its record says so.
 *
 * The outcome write is conditional on the run's revision (0 on a first delivery: the record must
 * not exist). When it is refused, the record is read and decides (#reconcile): an earlier task's
 * record under the same id is replaced; an outcome another run of this message stored is kept, and
 * the message answered by it; a run that took this one over after its lease lapsed settles the
 * task, and this run's outcome is dropped.
 */
import type { Edgeq } from "../client/mod.ts";
import type { Delivery } from "../nats/mod.ts";
import { isRequeue } from "../tasks/mod.ts";
import {
  EdgeqError,
  FINAL_STATUSES,
  fromNatsError,
  headersOf,
  MAX_HISTORY,
  parseBackoff,
  retryDelayMs,
  type TaskRecord,
  UnavailableError,
} from "../wire/mod.ts";
import { emitOutcome } from "../events/emit.ts";
import { clip, finished, type Run } from "./run.ts";

/** Between tries to publish a dead letter: 0.5–2 s after the first, doubling with each redelivery since, up to a minute. */
const BURIAL_BACKOFF = parseBackoff("exponential:1000:60000")!;

/**
 * Between tries of an outcome write that JetStream did not take: its bucket electing a leader after
 * a node went down takes seconds, and the ack wait it would otherwise cost is 30 s.
 */
const STORE_BACKOFF = parseBackoff("exponential:100:2000")!;

/** What the record holds after an outcome write, and whether it is this run's outcome. */
interface Stored {
  record: TaskRecord;
  ours: boolean;
}

export interface Tally {
  completed: number;
  failed: number;
  /** Outcomes of requeued dead letters: each of those tasks was counted as failed once already. */
  requeued: number;
}

export class Settler {
  constructor(
    private readonly edgeq: Edgeq,
    private readonly workerId: string,
    private readonly report: (err: unknown) => void,
    private readonly onOutcome: ((record: TaskRecord) => void) | undefined,
    private readonly tally: Tally,
    /** Whether the worker is shutting down: an outcome not stored by then is left to the redelivery. */
    private readonly stopping: () => boolean,
  ) {}

  /**
   * Stores the outcome, then answers the message; calls `done` when the run is over. The common
   * case, an outcome written at once and stored, takes no promise.
   */
  settle(run: Run, outcome: TaskRecord, done: () => void): void {
    run.finishing = true;
    // Only the outcome's event reads it.
    if (run.startedMs > 0 && this.edgeq.events.wanted) run.runMs ??= performance.now() - run.startedMs;
    // Not buried, nor retried: the cancel, stored already, is the outcome.
    if (run.canceled) outcome = finished(outcome, "canceled", { error: "canceled" });
    const slow = () => this.#settle(run, outcome).catch(this.report).finally(done);
    if (run.writing || outcome.status === "dead") return void slow();
    this.edgeq.tasks.sendIfUnchanged(outcome, run.revision, run.dataJson(), (err, stored) => {
      // Refused, or not stored: the slow path writes again, and reads the record when refused.
      if (err || stored === null) return void slow();
      this.#answer(run, { record: outcome, ours: true });
      done();
    });
  }

  /** `settle` as a promise, for the paths that await it. */
  settled(run: Run, outcome: TaskRecord): Promise<void> {
    return new Promise((resolve) => this.settle(run, outcome, resolve));
  }

  async #settle(run: Run, outcome: TaskRecord): Promise<void> {
    await run.writing;
    const { delivery } = run;
    // The delay before the message returns, when its dead letter could not be published.
    let unburied: number | undefined;
    if (outcome.status === "dead") {
      try {
        await this.#bury(delivery, outcome);
      } catch (err) {
        this.report(err);
        // Counted from the delivery of the task's last attempt: one more with each failed try since.
        const delayMs = retryDelayMs(BURIAL_BACKOFF, Math.max(1, delivery.deliveryCount - outcome.attempts + 1));
        // An unreadable message has no attempt to keep: it comes back and is buried as before.
        if (outcome.attempts === 0) return delivery.nak(delayMs);
        // Kept as `pending` with its attempts used up, so that this attempt's error and history
        // survive until the message comes back to be buried.
        unburied = delayMs;
        outcome = { ...outcome, status: "pending", finished_at: null };
      }
    }
    let stored: Stored | null;
    try {
      stored = await this.#storeWhileUnavailable(run, outcome).catch((err) => {
        // A result the record cannot hold (too large, not JSON) fails the task; retrying would not help.
        if (!(err instanceof EdgeqError)) throw err;
        unburied = undefined;
        return this.#storeWhileUnavailable(run, finished({ ...outcome, result: null }, "failed", { error: clip(`${err.name}: ${err.message}`) }));
      });
    } catch (err) {
      // Outcome not stored: the message stays unanswered and is redelivered after the ack wait.
      this.report(err);
      return;
    }
    if (stored === null) return;
    // Backing off, so that a dead-letter stream down for long does not cost a record write per task every second.
    if (unburied !== undefined && stored.ours) return delivery.nak(unburied);
    this.#answer(run, stored);
  }

  /**
   * `#store`, tried again while JetStream is unavailable, the run's lease renewed meanwhile (it is
   * still in hand), until its lease lapses or the worker stops.
   */
  async #storeWhileUnavailable(run: Run, outcome: TaskRecord): Promise<Stored | null> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.#store(run, outcome);
      } catch (err) {
        if (!(fromNatsError(err) instanceof UnavailableError) || run.lapsed || this.stopping()) throw err;
        await new Promise((r) => setTimeout(r, retryDelayMs(STORE_BACKOFF, tries)));
      }
    }
  }

  /**
   * Writes `outcome`. Resolves with what the record holds then: this run's outcome, or one another
   * run of this message stored already (which answers the message, and is not overwritten); null
   * when a run that took this one over holds the record.
   */
  async #store(run: Run, outcome: TaskRecord): Promise<Stored | null> {
    const dataJson = run.dataJson();
    const stored = await this.edgeq.tasks.putIfUnchanged(outcome, run.revision, dataJson);
    return stored !== null ? { record: outcome, ours: true } : this.#reconcile(run, outcome, dataJson);
  }

  async #reconcile(run: Run, outcome: TaskRecord, dataJson: Uint8Array | undefined): Promise<Stored | null> {
    const { record, revision } = await this.edgeq.tasks.read(outcome.id);
    // By its sequence, or, for a delayed task canceled before its promotion, by its delayed message's.
    const thisMessage = record !== null &&
      (record.seq === outcome.seq || (record.delayed_seq !== undefined && record.delayed_seq === run.task?.delayedSeq));
    const ours = thisMessage && record.worker_id === this.workerId && record.started_at === run.record?.started_at;
    // Canceled while it ran: the cancel is the task's outcome, and answers the message.
    if (thisMessage && record.status === "canceled") return { record, ours: false };
    if (thisMessage && !ours && record.status !== "delayed") {
      this.report(new EdgeqError(`task ${outcome.id}: taken over by another run after this one's lease lapsed; its outcome is dropped`));
      // Settled by that run: answered as it was, in case its own answer was lost.
      return FINAL_STATUSES.includes(record.status) ? { record, ours: false } : null;
    }
    // A requeue's `pending` record (no sequence) holds the history before it: kept.
    const merged = record?.status === "pending" && record.seq === undefined
      ? { ...outcome, attempts: record.attempts + 1, history: [...record.history, ...outcome.history].slice(-MAX_HISTORY) }
      : outcome;
    // An earlier task's record under this id, ours, or none: written at what was read.
    const stored = await this.edgeq.tasks.putIfUnchanged(merged, revision, dataJson);
    if (stored === null) throw new Error(`task ${outcome.id}: its record keeps changing; the outcome is left to the redelivery`);
    return { record: merged, ours: true };
  }

  /** Answers the message as the stored outcome says; one of this run's is reported and counted. */
  #answer(run: Run, stored: Stored): void {
    const { record: outcome, ours: counted } = stored;
    // What waits on it is released before the message is answered: a crash in between leaves the
    // message to come back and release again (src/flows/). A plain task's message has no such header.
    if (run.task?.hasDependents && !run.released && FINAL_STATUSES.includes(outcome.status)) {
      run.released = true;
      return void this.edgeq.flows.released(outcome).then(() => this.#answer(run, stored), this.report);
    }
    const { delivery } = run;
    if (counted) {
      try {
        this.onOutcome?.(outcome);
      } catch (err) {
        this.report(err);
      }
    }
    if (outcome.status === "pending") {
      const delayMs = retryDelayMs(parseBackoff(run.policy!.backoff)!, outcome.attempts);
      if (counted) emitOutcome(this.edgeq.events, run, outcome, delayMs);
      return delivery.nak(delayMs);
    }
    if (counted) emitOutcome(this.edgeq.events, run, outcome);
    if (outcome.status === "completed") {
      if (counted) this.tally.completed++;
      delivery.ack();
    } else {
      if (counted && outcome.status !== "canceled") this.tally.failed++;
      delivery.term();
    }
    // Only a message with a record revision can be a requeue: plain tasks skip the header look-up.
    if (counted && run.task?.recordRevision != null && isRequeue(delivery.msg)) this.tally.requeued++;
  }

  #bury(delivery: Delivery, dead: TaskRecord): Promise<void> {
    const { msg } = delivery;
    return this.edgeq.deadLetters.add({
      id: dead.id,
      subject: msg.subject,
      headers: headersOf(msg),
      body: msg.data,
      reason: dead.error ?? "dead",
      attempts: dead.attempts,
      history: dead.history,
      workSeq: delivery.streamSeq,
    });
  }
}
