/**
 * Task records: one KV entry per task id holding its latest state. The bucket keeps one revision
 * per key, so the bucket's stream holds exactly one message per live task, ordered by last update.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Msg } from "@nats-io/nats-core";
import { Delivery } from "./delivery.ts";
import { PayloadTooLargeError, ValidationError } from "./errors.ts";
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
  status: TaskStatus;
  /** Deliveries so far; 0 until a worker first picks the task up. */
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Stream messages read per pull while listing. */
const LIST_BATCH = 256;

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
    return entry.json<TaskRecord>();
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
      const record = await this.get(id);
      if (record && FINAL_STATUSES.includes(record.status)) return record;
      if (Date.now() + pause > deadline) return null;
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  /**
   * Newest created first. Reads the bucket's stream backwards in growing windows: a record not yet
   * read was last written before the window's first message, so it was also created before then,
   * and once `limit` matches are newer than that the answer is exact.
   */
  async list({ status, limit }: ListOptions): Promise<TaskRecord[]> {
    const { state } = await this.jsm.streams.info(this.#stream);
    const matches: TaskRecord[] = [];
    let end = state.last_seq + 1;
    for (let window = limit * 4; end > state.first_seq && state.messages > 0; window *= 4) {
      const start = Math.max(state.first_seq, end - window);
      const { records, firstStoredAt } = await this.#read(start, end);
      matches.push(...records.filter((r) => !status || r.status === status));
      matches.sort((a, b) => b.created_at.localeCompare(a.created_at));
      matches.length = Math.min(matches.length, limit);
      end = start;
      if (matches.length === limit && matches[limit - 1].created_at >= firstStoredAt) break;
    }
    return matches;
  }

  /** Records stored at stream sequences [start, end), with the time of the first one read. */
  async #read(start: number, end: number): Promise<{ records: TaskRecord[]; firstStoredAt: string }> {
    const name = `edgeq_list_${crypto.randomUUID().replaceAll("-", "")}`;
    await this.jsm.consumers.add(this.#stream, {
      name,
      ack_policy: "none" as never,
      deliver_policy: "by_start_sequence" as never,
      opt_start_seq: start,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: 30_000_000_000,
    });
    const records: TaskRecord[] = [];
    let firstStoredAt = "";
    let done = false;
    const onMsg = (msg: Msg) => {
      const { streamSeq, storedAt } = new Delivery(msg);
      if (streamSeq >= end) return void (done = true);
      firstStoredAt ||= new Date(storedAt).toISOString();
      if (msg.data.length && !msg.headers?.get("KV-Operation")) records.push(JSON.parse(decoder.decode(msg.data)));
    };
    try {
      while (!done) {
        const got = await this.puller.pull(name, { batch: LIST_BATCH, noWait: true }, onMsg);
        if (got < LIST_BATCH) break;
      }
    } finally {
      this.jsm.consumers.delete(this.#stream, name).catch(() => {});
    }
    return { records, firstStoredAt };
  }

  #encode(record: TaskRecord): Uint8Array {
    let json: string;
    try {
      json = JSON.stringify(record);
    } catch (err) {
      throw new ValidationError(`task ${record.id}: its record is not serializable as JSON: ${(err as Error).message}`);
    }
    const bytes = encoder.encode(json);
    if (bytes.length > this.maxBytes) {
      throw new PayloadTooLargeError(`task ${record.id}: its record is ${bytes.length} bytes; the limit is ${this.maxBytes}`);
    }
    return bytes;
  }
}
