/**
 * Counting attempts. The record counts handler starts, and a run that never reported (its worker
 * died) counts as one. Two ways in:
 *
 * - The first delivery of a message (the server counts 1, and it has no `Edgeq-Record-Revision`:
 *   no requeue or older submitter wrote a record for it) stores nothing before the handler starts:
 *   it is attempt 1, and its outcome is created in the record. A run that lasts `runningAfterMs`
 *   stores `running` (leases.ts) so that the record shows it.
 * - Every other delivery (a retry, a task whose worker died) reads the record and stores `running`
 *   before the handler starts, as attempt max(the record's attempts + 1, the server's delivery
 *   count less the deliveries given back at shutdowns). The delivery count is a floor on the runs,
 *   so a run that died before it stored anything counts. If the record holds an outcome already
 *   (stored, then the ack was lost), the message is answered without running again; if the
 *   attempts are used up, the task is buried. The first delivery of a promoted delayed task
 *   (`Edgeq-Delayed-Seq`) reads its record too, so that a cancel stored before it is kept, but
 *   stores nothing more before its handler: its outcome replaces the `delayed` record.
 *
 * So a handler that kills its process runs at most `max_attempts` times, as long as the server's
 * count holds. On 2.9 it does not always: a redelivery that first went to a pull request of a
 * worker that had gone is counted as if it were not one, and each such delivery can add a run.
 */
import type { Edgeq } from "../client/mod.ts";
import type { Delivery } from "../nats/mod.ts";
import {
  DEFAULT_PRIORITY,
  FINAL_STATUSES,
  HEADER_DELAYED_SEQ,
  headersOf,
  type IncomingTask,
  newRecord,
  parseTaskSubject,
  resolvePolicy,
  type RetryPolicy,
  taskId,
  type TaskRecord,
} from "../wire/mod.ts";
import { clip, finished, type Run } from "./run.ts";
import type { Settler } from "./settle.ts";

/** A record as read, with its revision. */
type Found = { record: TaskRecord | null; revision: number };

/** Times a run re-reads its record when a write landed between its read and its `running` write. */
const BEGIN_REREADS = 2;

export class Attempts {
  constructor(
    private readonly edgeq: Edgeq,
    private readonly workerId: string,
    private readonly settler: Settler,
    private readonly report: (err: unknown) => void,
  ) {}

  /** Records read ahead of their runs (readAhead), by delivery. */
  readonly #readsAhead = new WeakMap<Delivery, Promise<Found>>();

  /** Resolved policies by what the message said (one object per header set, wire/message.ts) and its queue and type. */
  readonly #policies = new WeakMap<Partial<RetryPolicy>, Map<string, RetryPolicy>>();

  /** The task's policy: what its message says, else its type's, its queue's or the worker's defaults. */
  #policy(task: IncomingTask): RetryPolicy {
    let byAddress = this.#policies.get(task.policy);
    if (!byAddress) this.#policies.set(task.policy, byAddress = new Map());
    const key = `${task.queue} ${task.type}`;
    let policy = byAddress.get(key);
    if (!policy) {
      if (byAddress.size >= 1000) byAddress.clear();
      byAddress.set(key, policy = resolvePolicy(this.edgeq.config, task.queue, task.type, task.policy));
    }
    return policy;
  }

  /** Whether the delivery may start at once, with nothing stored before its handler. */
  isFirst(delivery: Delivery, task: IncomingTask | Error): task is IncomingTask {
    // A requeue's record is read first, and so is a promoted delayed task's (it may have been canceled).
    return !(task instanceof Error) && delivery.deliveryCount === 1 && task.recordRevision === null && task.delayedSeq === undefined;
  }

  /** Starts the run of a first delivery: attempt 1, its outcome created in the record. */
  beginFirst(run: Run, task: IncomingTask): void {
    run.begin(task, this.#policy(task), null, this.workerId);
  }

  /**
   * Reads the record and stores `running` with the next attempt number. Resolves true when the
   * handler may start; false when the delivery was settled or handed back instead.
   */
  begin(run: Run, task: IncomingTask | Error): Promise<boolean> {
    return this.#beginFromRecord(run, task, BEGIN_REREADS);
  }

  /**
   * Starts reading the record of a redelivery or a promoted delayed task as it arrives, so that its
   * run does not wait a round trip in its slot (a requeue, rare, reads when it starts). A cancel
   * stored meanwhile is still kept: its notice stops the run, or its outcome write is refused.
   */
  readAhead(delivery: Delivery): void {
    if (delivery.deliveryCount === 1 && !headersOf(delivery.msg)?.get(HEADER_DELAYED_SEQ)) return;
    const read = this.edgeq.tasks.read(taskId(delivery.msg, delivery.streamSeq));
    read.catch(() => {}); // reported by the run that takes it
    this.#readsAhead.set(delivery, read);
  }

  async #beginFromRecord(run: Run, task: IncomingTask | Error, rereads: number): Promise<boolean> {
    const { delivery } = run;
    const ahead = this.#readsAhead.get(delivery);
    this.#readsAhead.delete(delivery);
    let found: Found;
    try {
      found = await (ahead ?? this.edgeq.tasks.read(run.id));
    } catch (err) {
      this.report(err);
      delivery.nak(1000);
      return false;
    }
    // The record of this message: by its stream sequence, or a `pending` one a requeue wrote before
    // the message (with the history before it died). One of an earlier task that reused the id does not count.
    const delayedSeq = task instanceof Error ? undefined : task.delayedSeq;
    // So is the record of a task that waited on others (`waiting_on`), written before its message.
    const unsequenced = found.record?.seq === undefined && (found.record?.status === "pending" || found.record?.waiting_on !== undefined);
    const previous = found.record?.seq === delivery.streamSeq || unsequenced ||
        (delayedSeq !== undefined && found.record?.delayed_seq === delayedSeq)
      ? found.record
      : null;
    if (previous && FINAL_STATUSES.includes(previous.status)) {
      // The outcome was stored but the acknowledgement was lost: settle it without running again,
      // once what waits on it is released (that may be what was cut short).
      const answer = () => (previous.status === "completed" ? delivery.ack() : delivery.term());
      if (task instanceof Error || !task.hasDependents) answer();
      else await this.edgeq.flows.released(previous).then(answer, this.report);
      return false;
    }
    run.revision = found.revision;
    // A delayed task's first run after its promotion: its outcome replaces the `delayed` record, as
    // a first delivery's creates one, with nothing stored before the handler.
    if (previous?.status === "delayed" && delivery.deliveryCount === 1 && !(task instanceof Error)) {
      run.begin(task, this.#policy(task), null, this.workerId);
      return true;
    }
    if (task instanceof Error) {
      await this.settler.settled(run, unreadable(delivery, run.id, task));
      return false;
    }
    const policy = this.#policy(task);
    // The server's delivery count is a floor on the runs: one whose worker died before it stored
    // anything still counts. Deliveries given back at a shutdown do not.
    const attempt = Math.max((previous?.attempts ?? 0) + 1, delivery.deliveryCount - (previous?.given_back ?? 0));
    if (attempt > policy.maxAttempts) {
      // Used up by runs that never finished (the last left `running`), or by a failure whose burial
      // did not go through (left `pending` with its error): buried now, with that error.
      const record = run.begin(task, policy, previous, this.workerId, attempt);
      const reason = `used up its ${policy.maxAttempts} attempts; the last ended without an outcome`;
      const error = previous?.status === "running"
        ? clip(`${reason}${previous.error ? `; the last error: ${previous.error}` : ""}`)
        : previous?.error ?? reason;
      await this.settler.settled(run, finished({ ...record, attempts: policy.maxAttempts, worker_id: previous?.worker_id ?? null }, "dead", { error }));
      return false;
    }
    const begun = await this.#storeRunning(run, task, previous, found.revision, attempt);
    if (begun !== null) return begun;
    // Written since it was read (a lapsed run finishing late, a requeue): read again; if it keeps
    // changing, decide on the next delivery.
    if (rereads > 0 && !run.returned) return this.#beginFromRecord(run, task, rereads - 1);
    delivery.nak(1000);
    return false;
  }

  /** True when `running` is stored; false when the delivery was handed back after an error; null when the record had moved on. */
  async #storeRunning(run: Run, task: IncomingTask, previous: TaskRecord | null, revision: number, attempt: number): Promise<boolean | null> {
    const record = run.begin(task, this.#policy(task), previous, this.workerId, attempt);
    let stored: number | null;
    try {
      stored = await this.edgeq.tasks.putIfUnchanged(record, revision, run.dataJson());
    } catch (err) {
      this.report(err);
      run.delivery.nak(1000);
      return false;
    }
    if (stored === null) return null;
    run.revision = stored;
    run.runningStored = run.runningAsked = true;
    return true;
  }
}

/** The `dead` record of a message no worker can read. */
function unreadable(delivery: Delivery, id: string, err: Error): TaskRecord {
  const createdAt = new Date(delivery.storedAt).toISOString();
  const parts = parseTaskSubject(delivery.msg.subject);
  const identity = { id, type: parts?.type ?? "", queue: parts?.queue ?? "", priority: parts?.priority ?? DEFAULT_PRIORITY, data: null };
  const record = newRecord(identity, { status: "running", attempts: 0, max_attempts: 0, created_at: createdAt, seq: delivery.streamSeq });
  return finished(record, "dead", { error: clip(`${err.name}: ${err.message}`) });
}
