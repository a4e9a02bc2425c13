/**
 * Task records: one KV entry per task id holding its latest state. The bucket keeps one revision
 * per key, so the bucket's stream holds exactly one message per task, ordered by last update.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";
import type { Delivery } from "./delivery.ts";
import { PayloadTooLargeError, ValidationError } from "./errors.ts";
import { KV_OPERATION_HEADER, type Priority } from "./names.ts";
import type { Requests } from "./requests.ts";
import { SCAN_BATCH, StreamScanner } from "./scan.ts";

export const TASK_STATUSES = ["pending", "running", "completed", "failed", "dead"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
/** `failed`: a handler gave up for good (PermanentError); `dead`: attempts used up, or unreadable. */
export const FINAL_STATUSES: readonly TaskStatus[] = ["completed", "failed", "dead"];

/** One finished or abandoned attempt, as the record's history keeps it. */
export interface Attempt {
  attempt: number;
  worker_id: string | null;
  started_at: string | null;
  finished_at: string;
  /** Null for the attempt that completed. */
  error: string | null;
}

/** Attempts a record keeps, the latest ones: a task with 1,000 attempts must still fit a record. */
const MAX_HISTORY = 20;

/** The record's history with `attempt` added. */
export function withAttempt(record: TaskRecord, attempt: Attempt): Attempt[] {
  return [...(record.history ?? []), attempt].slice(-MAX_HISTORY);
}

/** The JSON stored under a task's id; also what the API returns. */
export interface TaskRecord {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  data: unknown;
  /** Present when the data was too large to keep in the record (the task itself still has it). */
  data_omitted?: true;
  status: TaskStatus;
  /** Times a handler has started on this task; 0 until a worker first picks it up. */
  attempts: number;
  max_attempts: number;
  result: unknown;
  /** The last attempt's error, kept when a retry is pending. */
  error: string | null;
  /** The latest attempts, oldest first; absent in records written before edgeq kept it. */
  history: Attempt[];
  /** The work message's sequence in the work stream: tells this task from an earlier one with its id. */
  seq?: number;
  worker_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

/** What a record is made from: the task's identity and data. */
export interface TaskIdentity {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  data: unknown;
}

/** A record with nothing yet recorded about its outcome; `fields` says what is known. */
export function newRecord(
  task: TaskIdentity,
  fields: Pick<TaskRecord, "status" | "attempts" | "max_attempts" | "created_at"> & Partial<TaskRecord>,
): TaskRecord {
  const { id, type, queue, priority, data } = task;
  return {
    id,
    type,
    queue,
    priority,
    data,
    result: null,
    error: null,
    history: [],
    worker_id: null,
    started_at: null,
    finished_at: null,
    updated_at: fields.created_at,
    ...fields,
  };
}

export interface ListOptions {
  status?: TaskStatus;
  limit: number;
}

/** One message of the bucket's stream, as a scan sees it. */
interface Stored {
  seq: number;
  storedAt: number;
  /** Null for delete markers and entries that are not records. */
  record: TaskRecord | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

  constructor(
    nc: NatsConnection,
    private readonly requests: Requests,
    private readonly jsm: JetStreamManager,
    bucket: string,
    /** The server's max payload: a larger record cannot be stored. */
    private readonly maxBytes: number,
  ) {
    this.#stream = `KV_${bucket}`;
    this.#keyPrefix = `$KV.${bucket}.`;
    // Across a leaf node, writes go through the hub's JetStream domain, as nats.js's KV client sends them.
    const viaDomain = requests.apiPrefix === "$JS.API" ? "" : `${requests.apiPrefix}.`;
    this.#subjectPrefix = `${viaDomain}$KV.${bucket}.`;
    this.#scanner = new StreamScanner(nc, jsm, requests.apiPrefix, this.#stream, maxBytes, "task records");
  }

  async get(id: string): Promise<TaskRecord | null> {
    return (await this.read(id)).record;
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
   * record it cannot find to delete.
   */
  async putIfUnchanged(record: TaskRecord, revision: number): Promise<number | null> {
    try {
      return await this.#writeIfUnchanged(record.id, this.#encode(record), revision);
    } catch (err) {
      if ((err as Error)?.name !== "TimeoutError") throw err;
      const landed = await this.revisionHolding(record).catch(() => null);
      if (landed === null) throw err;
      return landed;
    }
  }

  /** The revision at which the bucket holds exactly `record`, or null: whether a write landed. */
  async revisionHolding(record: TaskRecord): Promise<number | null> {
    const found = await this.read(record.id);
    // As stored: a record too large for its data keeps it out.
    return JSON.stringify(found.record) === decoder.decode(this.#encode(record)) ? found.revision : null;
  }

  /** Writes the record only if the key has no entry (a delete marker is one); null when it has. */
  create(record: TaskRecord): Promise<number | null> {
    return this.putIfUnchanged(record, 0);
  }

  /** Deletes the record if it is still at `revision`; false if it is not. */
  async deleteIfUnchanged(id: string, revision: number): Promise<boolean> {
    return (await this.#writeIfUnchanged(id, new Uint8Array(), revision, "DEL")) !== null;
  }

  async #writeIfUnchanged(id: string, body: Uint8Array, revision: number, operation?: "DEL"): Promise<number | null> {
    const expect = natsHeaders();
    expect.set("Nats-Expected-Last-Subject-Sequence", String(revision));
    if (operation) expect.set(KV_OPERATION_HEADER, operation);
    try {
      return (await this.requests.publish(this.#subjectPrefix + id, body, expect)).seq;
    } catch (err) {
      if (isConflict(err)) return null;
      throw err;
    }
  }

  /** Polls until the task reaches a final status; null if it does not within `timeoutMs`. */
  async waitFor(id: string, timeoutMs: number): Promise<TaskRecord | null> {
    const deadline = Date.now() + timeoutMs;
    for (let pause = 20; ; pause = Math.min(pause * 2, 500)) {
      // A failed read (a reconnect, a time-out) is no answer: keep polling until the deadline.
      const record = await this.get(id).catch(() => null);
      if (record && FINAL_STATUSES.includes(record.status)) return record;
      if (Date.now() + pause > deadline) return null;
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  /**
   * Newest created first. Reads the bucket's stream backwards in growing windows: a record not yet
   * read was last written before the window's first message, so it was also created before then,
   * and once `limit` matches are newer than that the answer is exact. Unfiltered, that is little
   * more than the newest `limit` records; a filter on a rare status may read the whole bucket.
   */
  async list({ status, limit }: ListOptions): Promise<TaskRecord[]> {
    const { state } = await this.jsm.streams.info(this.#stream);
    // Newest copy of each record read: one rewritten while we read shows up twice.
    const latest = new Map<string, Stored & { record: TaskRecord }>();
    const keep = (stored: Stored) => {
      const seen = stored.record && latest.get(stored.record.id);
      if (stored.record && (!seen || seen.seq < stored.seq)) latest.set(stored.record.id, stored as Stored & { record: TaskRecord });
    };
    const matches = () =>
      [...latest.values()]
        .filter((s) => !status || s.record.status === status)
        // Newest created first; for equal times, the latest written first.
        .sort((a, b) => b.record.created_at.localeCompare(a.record.created_at) || b.seq - a.seq)
        .slice(0, limit)
        .map((s) => s.record);
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
      if (oldestRead && found.length === limit && found[limit - 1].created_at >= iso(oldestRead.storedAt)) break;
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

  #encode(record: TaskRecord): Uint8Array {
    const bytes = encodeJson(record);
    if (bytes.length <= this.maxBytes) return bytes;
    // Raw publishes can carry data that grows past the limit once escaped into a record; the task keeps its data.
    const slim = encodeJson({ ...record, data: null, data_omitted: true });
    if (slim.length <= this.maxBytes) return slim;
    throw new PayloadTooLargeError(`task ${record.id}: its record is ${slim.length} bytes; the limit is ${this.maxBytes}`);
  }
}

function encodeJson(record: TaskRecord): Uint8Array {
  try {
    return encoder.encode(JSON.stringify(record));
  } catch (err) {
    throw new ValidationError(`task ${record.id}: its record is not serializable as JSON: ${(err as Error).message}`);
  }
}

/** A record, or null for an entry that is not one (written by hand, or by a broken client). */
function parseRecord(bytes: Uint8Array): TaskRecord | null {
  try {
    const value = JSON.parse(decoder.decode(bytes));
    return typeof value === "object" && value !== null && typeof value.id === "string" && typeof value.status === "string"
      ? value
      : null;
  } catch {
    return null;
  }
}

function isConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
