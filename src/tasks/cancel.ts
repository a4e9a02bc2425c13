/**
 * Canceling tasks. `canceled` is a final outcome like the others, written the same way: conditional
 * on the record's revision as it was read, so that a task ends with exactly one outcome. Once it is
 * stored, no run can settle the task otherwise: a worker's outcome write is refused, and it keeps
 * the record. What is left is to stop the task. Its work message is deleted, so that no worker
 * starts it, and a notice on `edgeq_cancel.<id>` aborts the `ctx.signal` of the run that has it,
 * on whatever worker, runtime or site.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import {
  cancelSubject,
  ConflictError,
  DELAYED_STREAM,
  FINAL_STATUSES,
  NotFoundError,
  type TaskRecord,
  WORK_STREAM,
} from "../wire/mod.ts";
import type { PendingTasks } from "./pending.ts";
import type { TaskRecords } from "./records.ts";
import type { Requests } from "../nats/mod.ts";

/** Which unfinished tasks a bulk cancel takes. */
export interface CancelFilter {
  queue?: string;
  type?: string;
  /** `running`: those a worker reports running; `pending`: the others, delayed and waiting ones too; neither: both. */
  status?: "pending" | "running";
  /** At most this many are canceled. */
  limit: number;
}

/** Reads and writes before a cancel gives up on a record that keeps changing under it. */
const CANCEL_TRIES = 5;
/** Cancels of a bulk cancel under way at once. */
const BULK_CONCURRENCY = 32;

export class Cancellations {
  constructor(
    private readonly records: TaskRecords,
    private readonly pending: PendingTasks,
    private readonly jsm: JetStreamManager,
    private readonly requests: Requests,
    /** The ids of the tasks live workers report running. */
    private readonly runningIds: () => Promise<string[]>,
    /** Called once a cancel's record is stored (its event). */
    private readonly onCanceled: (record: TaskRecord) => void,
    /** Releases what waits on a task that has ended (src/flows/). */
    private readonly released: (record: TaskRecord) => Promise<void>,
  ) {}

  /**
   * Cancels task `id`; resolves with its `canceled` record, also when it was canceled already.
   * NotFoundError for an unknown id, ConflictError for a task that ended otherwise.
   */
  async cancel(id: string, reason = "canceled"): Promise<TaskRecord> {
    for (let tries = 0; tries < CANCEL_TRIES; tries++) {
      const { record, revision } = await this.records.read(id);
      const current = await this.pending.current(id, record);
      if (!current) throw new NotFoundError(`task ${id} not found`);
      if (current.status === "canceled") return current;
      if (FINAL_STATUSES.includes(current.status)) throw new ConflictError(`task ${id} is already ${current.status}; only an unfinished task can be canceled`);
      const now = new Date().toISOString();
      const canceled: TaskRecord = { ...current, status: "canceled", error: reason, finished_at: now, updated_at: now };
      // Written at the revision read: over this task's own record, or an earlier task's under its id.
      if ((await this.records.putIfUnchanged(canceled, revision)) === null) continue;
      this.onCanceled(canceled);
      // Before its message goes: should this stop half way, the message's delivery releases them.
      await this.released(canceled);
      // Settled now; a message already gone (or a failed delete) leaves a worker only a refused outcome write.
      if (current.seq !== undefined) await this.jsm.streams.deleteMessage(WORK_STREAM, current.seq, false).catch(() => false);
      // A delayed task's message; promoted meanwhile, its work message names it, and the worker keeps the cancel.
      if (current.delayed_seq !== undefined) await this.jsm.streams.deleteMessage(DELAYED_STREAM, current.delayed_seq, false).catch(() => false);
      this.requests.post(cancelSubject(id), EMPTY);
      return canceled;
    }
    throw new ConflictError(`task ${id} kept changing while it was being canceled; try again`);
  }

  /** Cancels the unfinished tasks `filter` picks, newest first; resolves with how many were canceled. */
  async cancelMany(filter: CancelFilter): Promise<number> {
    const running = new Set(await this.runningIds());
    const picks = (t: TaskRecord) =>
      (filter.queue === undefined || t.queue === filter.queue) && (filter.type === undefined || t.type === filter.type);
    // A task is running when a worker says so: a first attempt stores no record until it ends.
    const wanted = (t: TaskRecord) =>
      picks(t) && (filter.status === undefined || (filter.status === "running") === (running.has(t.id) || t.status === "running"));
    const candidates = [
      ...await this.records.list({ status: "running", limit: filter.limit }),
      ...(filter.status === "running" ? [] : await this.records.list({ status: "delayed", limit: filter.limit })),
      ...(filter.status === "running" ? [] : await this.records.list({ status: "waiting", limit: filter.limit })),
      ...await this.pending.newest(filter.limit, wanted),
    ].filter(wanted);
    const ids = [...new Set(candidates.map((t) => t.id))].slice(0, filter.limit);
    let canceled = 0;
    for (let i = 0; i < ids.length; i += BULK_CONCURRENCY) {
      const results = await Promise.allSettled(ids.slice(i, i + BULK_CONCURRENCY).map((id) => this.cancel(id)));
      // One that ended (or went) meanwhile is not counted; anything else is an error worth seeing.
      for (const r of results) {
        if (r.status === "fulfilled") canceled++;
        else if (!(r.reason instanceof ConflictError || r.reason instanceof NotFoundError)) throw r.reason;
      }
    }
    return canceled;
  }
}

const EMPTY = new Uint8Array();
