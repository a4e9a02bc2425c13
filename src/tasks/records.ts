/**
 * Task records: one KV entry per task id holding its latest state. The bucket keeps one revision
 * per key, so the bucket's stream holds exactly one message per task, ordered by last update.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { z } from "zod";
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import {
  EncodedHeaders,
  encodeRecord,
  FINAL_STATUSES,
  headerLines,
  KV_OPERATION_HEADER,
  parseRecord,
  PayloadTooLargeError,
  sameRecord,
  type TaskRecord,
  type TaskStatus,
} from "../wire/mod.ts";
import { type CancelFilter, Cancellations } from "./cancel.ts";
import type { Events } from "../events/events.ts";
import { waitForOutcome } from "../events/wait.ts";
import { type Delivery, type Requests, SCAN_BATCH, StreamScanner } from "../nats/mod.ts";
import type { PendingTasks } from "./pending.ts";
import { listFilter, type ListOptions, newestFirst, pageOf, type TaskPage } from "./task-listing.ts";

/** `?limit=` of a listing: newest first, 50 by default. */
export const limitSchema = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(1000, "must be at most 1000")
  .default(50);

/** One message of the bucket's stream, as a scan sees it. */
interface Stored {
  seq: number;
  storedAt: number;
  /** Null for delete markers and entries that are not records. */
  record: TaskRecord | null;
}


/**
 * Reads and writes go to the bucket's subjects directly (`$KV.<bucket>.<id>`, Direct Get of its
 * stream) through Requests, the hot path's matched replies, rather than through nats.js's KV client.
 */
export class TaskRecords {
  readonly #stream: string;
  /** Where a record is written: its key's subject, reached through the JetStream domain if any. */
  readonly #subjectPrefix: string;
  /** The key's subject in the bucket's stream. */
  readonly #keyPrefix: string;
  readonly #scanner: StreamScanner;
  readonly #cancellations: Cancellations;

  constructor(
    nc: NatsConnection,
    private readonly requests: Requests,
    private readonly jsm: JetStreamManager,
    bucket: string,
    /** The server's max payload: a larger record cannot be stored. */
    private readonly maxBytes: number,
    /** Tasks with no record yet, read from their work messages. */
    private readonly pending: PendingTasks,
    /** The ids of the tasks live workers report running. */
    runningIds: () => Promise<string[]>,
    private readonly events: Events,
    /** Releases what waits on a task that has ended (src/flows/). */
    released: (record: TaskRecord) => Promise<void>,
  ) {
    this.#stream = `KV_${bucket}`;
    this.#keyPrefix = `$KV.${bucket}.`;
    // Across a leaf node, writes go through the hub's JetStream domain, as nats.js's KV client sends them.
    const viaDomain = requests.apiPrefix === "$JS.API" ? "" : `${requests.apiPrefix}.`;
    this.#subjectPrefix = `${viaDomain}$KV.${bucket}.`;
    this.#scanner = new StreamScanner(nc, jsm, requests.apiPrefix, this.#stream, maxBytes, "task records");
    this.#cancellations = new Cancellations(this, pending, jsm, requests, runningIds, (record) => events.emit("canceled", record, { error: record.error }), released);
  }

  /** Cancels a task wherever it is (see cancel.ts); resolves with its `canceled` record. */
  cancel(id: string, reason?: string): Promise<TaskRecord> {
    return this.#cancellations.cancel(id, reason);
  }

  /** Cancels the unfinished tasks `filter` picks; resolves with how many. */
  cancelMany(filter: CancelFilter): Promise<number> {
    return this.#cancellations.cancelMany(filter);
  }

  /** The task's record; for a pending task, which has none, one made from its work message. */
  async get(id: string): Promise<TaskRecord | null> {
    const current = await this.pending.current(id, (await this.read(id)).record);
    // Read again when the message is gone too: its worker may have settled it in between.
    return current ?? (await this.read(id)).record;
  }

  /** The record and its revision; revision 0 when the id has never had an entry. */
  async read(id: string): Promise<{ record: TaskRecord | null; revision: number }> {
    const entry = await this.requests.lastOf(this.#stream, `${this.#keyPrefix}${id}`);
    if (!entry) return { record: null, revision: 0 };
    const deleted = entry.headers?.get(KV_OPERATION_HEADER);
    return { record: deleted ? null : parseRecord(entry.data), revision: Number(entry.headers?.get("Nats-Sequence")) };
  }

  /**
   * Writes the record only if the entry is still at `revision` (0: has none), so that a writer
   * working from stale knowledge cannot overwrite a newer state. Resolves with the new revision,
   * or null when someone else wrote first. A write that goes unanswered is read back, and counts as
   * stored if it landed: otherwise a run would leave an attempt no handler made, or a submission a
   * record it cannot find to delete. `dataJson`, the data's JSON as its message carried it, is
   * spliced into the record instead of encoding the data again.
   */
  putIfUnchanged(record: TaskRecord, revision: number, dataJson?: Uint8Array): Promise<number | null> {
    return new Promise((resolve, reject) =>
      this.sendIfUnchanged(record, revision, dataJson, (err, stored) => (err ? reject(err) : resolve(stored)))
    );
  }

  /** `putIfUnchanged` with a callback: the worker's hot path, with no promise per write. */
  sendIfUnchanged(
    record: TaskRecord,
    revision: number,
    dataJson: Uint8Array | undefined,
    done: (err: Error | null, revision: number | null) => void,
  ): void {
    let body: Uint8Array;
    try {
      body = this.#encode(record, dataJson);
    } catch (err) {
      return done(err as Error, null);
    }
    this.requests.sendPublish(this.#subjectPrefix + record.id, body, expectRevision(revision), (err, ack) => {
      if (!err) return done(null, ack!.seq);
      if (isConflict(err)) return done(null, null);
      if (err.name !== "TimeoutError") return done(err, null);
      this.revisionHolding(record).then((landed) => (landed === null ? done(err, null) : done(null, landed)), () => done(err, null));
    });
  }

  /** The revision at which the bucket holds exactly `record`, or null: whether a write landed. */
  async revisionHolding(record: TaskRecord): Promise<number | null> {
    const found = await this.read(record.id);
    // As stored: a record too large for its data keeps it out.
    return found.record !== null && sameRecord(found.record, parseRecord(this.#encode(record))) ? found.revision : null;
  }

  /** Deletes the record if it is still at `revision`; false if it is not. */
  async deleteIfUnchanged(id: string, revision: number): Promise<boolean> {
    return (await this.#writeIfUnchanged(id, new Uint8Array(), revision, "DEL")) !== null;
  }

  async #writeIfUnchanged(id: string, body: Uint8Array, revision: number, operation: "DEL"): Promise<number | null> {
    const expect = natsHeaders();
    expect.set(EXPECTED_REVISION, String(revision));
    expect.set(KV_OPERATION_HEADER, operation);
    try {
      return (await this.requests.publish(this.#subjectPrefix + id, body, expect)).seq;
    } catch (err) {
      if (isConflict(err)) return null;
      throw err;
    }
  }

  /** Resolves once the task reaches a final status, woken by its events (events/wait.ts); null if it does not within `timeoutMs`. */
  waitFor(id: string, timeoutMs: number): Promise<TaskRecord | null> {
    return waitForOutcome(this.events, (taskId) => this.get(taskId), id, timeoutMs);
  }

  /**
   * Newest created first. Pending tasks come from the work stream (their records, where a retry
   * wrote one), the rest from the records (a delayed task's is written when it is submitted), and
   * an unfiltered listing merges both.
   */
  async list(options: ListOptions): Promise<TaskRecord[]> {
    return (await this.page(options)).tasks;
  }

  /** One page of the listing, filtered (task-listing.ts), with the cursor of the next. */
  async page(options: ListOptions): Promise<TaskPage> {
    const { status, queue, limit } = options;
    const keep = listFilter(options);
    if (status === "pending") return pageOf(await this.#pendingNewest(limit, keep, queue), limit);
    if (status !== undefined) return pageOf(await this.#listRecords(keep, limit), limit);
    const [records, pending] = await Promise.all([this.#listRecords(keep, limit), this.#pendingNewest(limit, keep, queue)]);
    const byId = new Map(records.map((r) => [r.id, r]));
    for (const p of pending) if (!byId.has(p.id)) byId.set(p.id, p);
    return pageOf([...byId.values()].sort(newestFirst), limit);
  }

  /** The newest work messages whose tasks are pending: those with no record of their own, or a `pending` one. */
  async #pendingNewest(limit: number, keep: (record: TaskRecord) => boolean, queue?: string): Promise<TaskRecord[]> {
    const messages = await this.pending.newest(limit, keep, queue);
    const records = await Promise.all(messages.map((m) => this.read(m.id).then((r) => r.record, () => null)));
    return messages.flatMap((m, i): TaskRecord[] => {
      const record = records[i];
      if (!record || record.seq !== m.seq) return [m];
      return record.status === "pending" ? [record] : [];
    });
  }

  /**
   * Reads the bucket's stream backwards in growing windows: a record not yet read was last written
   * before the window's first message, so it was also created before then, and once `limit`
   * matches are newer than that the answer is exact. Strictly newer: one created in that same
   * millisecond with a later work message would sort before the last match (task-listing.ts).
   */
  async #listRecords(picks: (record: TaskRecord) => boolean, limit: number): Promise<TaskRecord[]> {
    const { state } = await this.jsm.streams.info(this.#stream);
    // Newest copy of each record read: one rewritten while we read shows up twice.
    const latest = new Map<string, Stored & { record: TaskRecord }>();
    const keep = (stored: Stored) => {
      const seen = stored.record && latest.get(stored.record.id);
      if (stored.record && (!seen || seen.seq < stored.seq)) latest.set(stored.record.id, stored as Stored & { record: TaskRecord });
    };
    const matches = () =>
      [...latest.values()]
        .map((s) => s.record)
        .filter(picks)
        .sort(newestFirst)
        .slice(0, limit);
    let end = state.last_seq + 1;
    for (let window = limit * 4; end > state.first_seq && state.messages > 0; window *= 4) {
      const start = Math.max(state.first_seq, end - window);
      let oldestRead: Stored | undefined;
      await this.#scan(start, (stored) => {
        if (stored.seq >= end) return false;
        oldestRead ??= stored;
        keep(stored);
        return true;
      });
      end = start;
      const found = matches();
      if (oldestRead && found.length === limit && found[limit - 1].created_at > iso(oldestRead.storedAt)) break;
    }
    // A record rewritten while we read has left the windows for the tail: read what was added since.
    await this.#scan(state.last_seq + 1, (stored) => (keep(stored), true));
    return matches();
  }

  /**
   * Deletes the records of finished tasks last written more than `retentionMs` ago; pending and
   * running tasks keep theirs however old. The oldest writes are at the head of the stream, so a
   * sweep reads only what has expired plus the old unfinished records. Returns how many it deleted.
   */
  async sweep(retentionMs: number): Promise<number> {
    const cutoff = Date.now() - retentionMs;
    const { state } = await this.jsm.streams.info(this.#stream);
    if (state.messages === 0) return 0;
    const expired: number[] = [];
    await this.#scan(state.first_seq, ({ seq, storedAt, record }) => {
      if (storedAt >= cutoff) return false;
      if (!record || FINAL_STATUSES.includes(record.status)) expired.push(seq);
      return true;
    });
    // Deleting by sequence removes exactly the message read: a record rewritten since is kept.
    for (let i = 0; i < expired.length; i += SCAN_BATCH) {
      await Promise.all(
        expired.slice(i, i + SCAN_BATCH).map((seq) => this.jsm.streams.deleteMessage(this.#stream, seq, false).catch(() => false)),
      );
    }
    return expired.length;
  }

  #scan(start: number, visit: (stored: Stored) => boolean): Promise<void> {
    return this.#scanner.scan(start, (d: Delivery) => {
      const deleted = d.msg.headers?.get(KV_OPERATION_HEADER);
      return visit({ seq: d.streamSeq, storedAt: d.storedAt, record: deleted ? null : parseRecord(d.msg.data) });
    });
  }

  #encode(record: TaskRecord, dataJson?: Uint8Array): Uint8Array {
    const bytes = encodeRecord(record, dataJson);
    if (bytes.length <= this.maxBytes) return bytes;
    // Raw publishes can carry data that grows past the limit once escaped into a record; the task keeps its data.
    const slim = encodeRecord({ ...record, data: null, data_omitted: true });
    if (slim.length <= this.maxBytes) return slim;
    throw new PayloadTooLargeError(`task ${record.id}: its record is ${slim.length} bytes; the limit is ${this.maxBytes}`);
  }
}

const EXPECTED_REVISION = "Nats-Expected-Last-Subject-Sequence";
/** The headers of a write at `revision`; the one for 0 (create), the hot path's, is made once. */
export function expectRevision(revision: number): MsgHdrs {
  return revision === 0 ? CREATE_ONLY : new EncodedHeaders(headerLines([[EXPECTED_REVISION, String(revision)]]));
}
const CREATE_ONLY = new EncodedHeaders(headerLines([[EXPECTED_REVISION, "0"]]));

/** Whether JetStream refused a write conditional on a revision the key no longer has. */
export function isConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
