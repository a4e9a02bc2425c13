/**
 * Pending tasks have no record of their own: a pending task's state is its work message. This
 * reads them from the work stream, as records, for `GET /tasks/:id` and `GET /tasks?status=pending`.
 *
 * A message is found by its task id in one of three ways, cheapest first:
 * - edgeq's submitters put the id in the subject (`edgeq.<q>.<p>.=<id>.<type>`): a get of the last
 *   message on `edgeq.*.*.=<id>.>`, which the server answers by matching subjects;
 * - an id `seq-<n>` (a raw publish without an id) is the message at sequence n;
 * - a raw publish whose id is only in its headers is found by reading the stream, the one way
 *   that grows with the backlog (put the id in the subject to avoid it).
 *
 * A work-queue stream takes no second consumer over its subjects, so it is read with gets.
 */
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";
import type { EdgeqConfig } from "../nats/mod.ts";
import {
  FINAL_STATUSES,
  HEADER_KEY,
  HEADER_MAX_ATTEMPTS,
  newRecord,
  parseBody,
  parseTaskSubject,
  pendingSubject,
  resolvePolicy,
  SUBJECT_ROOT,
  taskIdOf,
  type TaskRecord,
  WORK_STREAM,
} from "../wire/mod.ts";

/** The parts of a stored message a pending record is made from. */
interface WorkMessage {
  subject: string;
  headers: MsgHdrs | undefined;
  data: Uint8Array;
  seq: number;
  storedAt: number;
}

/** Sequences read back from the tail at first; each window after is four times the last. */
const FIRST_WINDOW = 64;

export class PendingTasks {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly config: EdgeqConfig,
  ) {}

  /**
   * What task `id` is now, given its stored record: a pending task has none, and a record may be
   * an earlier task's under a reused id (only one older than the duplicate window can be), or a
   * `pending` one written before its message (a requeue's, or an older submitter's) that the
   * message completes; or a delayed task's, which its work message succeeds once promoted.
   */
  async current(id: string, record: TaskRecord | null): Promise<TaskRecord | null> {
    const unsequenced = record?.status === "pending" && record.seq === undefined;
    // A task that waited on others and was released since: its work message, published with the id token.
    const released = record?.status === "waiting" && record.waiting_on?.length === 0;
    if (record?.status === "delayed" || released) {
      // Promoted since: its work message, which edgeq's scheduler publishes with the id token.
      const promoted = await this.#get({ last_by_subj: pendingSubject(id) });
      return (promoted && this.#record(promoted)) ?? record;
    }
    const replaceable = record && FINAL_STATUSES.includes(record.status) && Date.parse(record.created_at) < Date.now() - this.config.duplicateWindowMs;
    if (record && !unsequenced && !replaceable) return record;
    const pending = await this.find(id);
    if (!pending || !record) return pending ?? record;
    if (unsequenced) return { ...pending, attempts: record.attempts, error: record.error, history: record.history };
    return pending.seq! > (record.seq ?? 0) ? pending : record;
  }

  /** The pending record of task `id` from its work message; null when the stream holds none. */
  async find(id: string): Promise<TaskRecord | null> {
    const bySubject = await this.#get({ last_by_subj: pendingSubject(id) });
    if (bySubject) return this.#record(bySubject);
    const seq = /^seq-(\d+)$/.exec(id)?.[1];
    if (seq) {
      const bySeq = await this.#get({ seq: Number(seq) });
      return bySeq && idOf(bySeq) === id ? this.#record(bySeq) : null;
    }
    let found: WorkMessage | undefined;
    await this.#backwards(`${SUBJECT_ROOT}.>`, (msg) => {
      if (idOf(msg) === id) found = msg;
      return found === undefined;
    });
    return found ? this.#record(found) : null;
  }

  /** The newest `limit` messages of the work stream (of `queue`, if given, and that `keep` takes) as pending records, newest first. */
  async newest(limit: number, keep: (record: TaskRecord) => boolean = () => true, queue = "*"): Promise<TaskRecord[]> {
    const found: TaskRecord[] = [];
    await this.#backwards(`${SUBJECT_ROOT}.${queue}.>`, (msg) => {
      const record = this.#record(msg);
      if (record && keep(record)) found.push(record);
      return found.length < limit;
    });
    return found;
  }

  /**
   * Hands the stream's messages to `visit`, newest first, until it returns false or none is left.
   * Windows back from the tail, each read forward with "next message from here" gets, which skip
   * the gaps acknowledged messages leave in one step.
   */
  async #backwards(subject: string, visit: (msg: WorkMessage) => boolean): Promise<void> {
    const { state } = await this.jsm.streams.info(WORK_STREAM);
    for (let end = state.last_seq, window = FIRST_WINDOW; end >= state.first_seq; window *= 4) {
      const start = Math.max(state.first_seq, end - window + 1);
      const read: WorkMessage[] = [];
      for (let next = start; next <= end;) {
        const msg = await this.#get({ seq: next, next_by_subj: subject });
        if (!msg || msg.seq > end) break;
        read.push(msg);
        next = msg.seq + 1;
      }
      for (const msg of read.reverse()) if (!visit(msg)) return;
      end = start - 1;
    }
  }

  async #get(query: { seq: number; next_by_subj?: string } | { last_by_subj: string }): Promise<WorkMessage | null> {
    const msg: StoredMsg | null = await this.jsm.streams.getMessage(WORK_STREAM, query);
    return msg && { subject: msg.subject, headers: msg.header, data: msg.data, seq: msg.seq, storedAt: msg.time.getTime() };
  }
  #record(msg: WorkMessage): TaskRecord | null {
    const parts = parseTaskSubject(msg.subject);
    if (!parts) return null;
    const id = idOf(msg);
    let data: unknown = null;
    try {
      data = parseBody(msg.data);
    } catch {
      // Unreadable: its worker buries it. Until then it is pending with no data to show.
    }
    const given = Number(msg.headers?.get(HEADER_MAX_ATTEMPTS)) || undefined;
    const policy = resolvePolicy(this.config, parts.queue, parts.type, { maxAttempts: given });
    return newRecord(
      { id, type: parts.type, queue: parts.queue, priority: parts.priority, data, key: msg.headers?.get(HEADER_KEY) || undefined },
      { status: "pending", attempts: 0, max_attempts: policy.maxAttempts, created_at: new Date(msg.storedAt).toISOString(), seq: msg.seq },
    );
  }
}

/** The task id a work message carries, as the worker reads it. */
function idOf(msg: Pick<WorkMessage, "subject" | "headers" | "seq">): string {
  return taskIdOf(msg.subject, msg.headers, msg.seq);
}
