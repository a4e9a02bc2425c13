/**
 * Task records: one KV entry per task id holding its latest state. The bucket keeps one revision
 * per key, so the bucket's stream holds exactly one message per task, ordered by last update.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Msg } from "@nats-io/nats-core";
import { Delivery } from "./delivery.ts";
import { PayloadTooLargeError, UnavailableError, ValidationError } from "./errors.ts";
import type { Priority } from "./names.ts";
import type { Puller } from "./puller.ts";

export const TASK_STATUSES = ["pending", "running", "completed", "failed"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: readonly TaskStatus[] = ["completed", "failed"];

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
/** Per pull while scanning: at most this many messages, and bytes (records are at most 1 MiB each). */
const SCAN_BATCH = 256;
const SCAN_BYTES = 4 * 1024 * 1024;

export class TaskRecords {
  readonly #stream: string;

  constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly puller: Puller,
    bucket: string,
    /** The server's max payload: a larger record cannot be stored. */
    private readonly maxBytes: number,
  ) {
    this.#stream = `KV_${bucket}`;
  }

  async get(id: string): Promise<TaskRecord | null> {
    const entry = await this.kv.get(id);
    if (!entry || entry.operation !== "PUT") return null;
    return parseRecord(entry.value);
  }

  async put(record: TaskRecord): Promise<void> {
    await this.kv.put(record.id, this.#encode(record));
  }

  async remove(id: string): Promise<void> {
    await this.kv.delete(id);
  }

  /**
   * Writes the record only if the id has none yet. The submitter and the worker write without
   * coordinating; if the worker's write lands first, the submitter's `pending` must not overwrite it.
   */
  async create(record: TaskRecord): Promise<void> {
    try {
      await this.kv.create(record.id, this.#encode(record));
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence)) throw err;
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
    const matches: TaskRecord[] = [];
    let end = state.last_seq + 1;
    for (let window = limit * 4; end > state.first_seq && state.messages > 0; window *= 4) {
      const start = Math.max(state.first_seq, end - window);
      const read: Stored[] = [];
      await this.#scan(start, (stored) => stored.seq < end && read.push(stored) > 0);
      // Latest update first, so that equal creation times keep that order.
      const records = read.reverse().flatMap((s) => (s.record ? [s.record] : []));
      matches.push(...records.filter((r) => !status || r.status === status));
      matches.sort((a, b) => b.created_at.localeCompare(a.created_at));
      matches.length = Math.min(matches.length, limit);
      end = start;
      const oldestRead = read.at(-1);
      if (oldestRead && matches.length === limit && matches[limit - 1].created_at >= iso(oldestRead.storedAt)) break;
    }
    return matches;
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

  /** Hands the stream's messages from `start` on to `visit` until it returns false or the stream ends. */
  async #scan(start: number, visit: (stored: Stored) => boolean): Promise<void> {
    const name = `edgeq_scan_${crypto.randomUUID().replaceAll("-", "")}`;
    await this.jsm.consumers.add(this.#stream, {
      name,
      ack_policy: "none" as never,
      deliver_policy: "by_start_sequence" as never,
      opt_start_seq: start,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: 30_000_000_000,
    });
    let more = true;
    const onMsg = (msg: Msg) => {
      if (!more) return;
      const { streamSeq, storedAt } = new Delivery(msg);
      const deleted = msg.headers?.get("KV-Operation");
      more = visit({ seq: streamSeq, storedAt, record: deleted ? null : parseRecord(msg.data) });
    };
    try {
      while (more) {
        const { received, answered } = await this.puller.pull(name, { batch: SCAN_BATCH, noWait: true, maxBytes: SCAN_BYTES }, onMsg);
        if (!answered) throw new UnavailableError("JetStream did not answer while reading task records; retry later");
        if (received === 0) break;
      }
    } finally {
      this.jsm.consumers.delete(this.#stream, name).catch(() => {});
    }
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

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
