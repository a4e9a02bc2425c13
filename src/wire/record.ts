/**
 * The task record: what `GET /tasks/<id>` returns, and how it is stored in the records bucket.
 *
 * Stored compact: fields that are null, and what the rest says already, are left out and filled
 * in again when read. So a first attempt that completed stores no `history` (its one entry is the
 * record's own attempt, worker and times), no `updated_at` (its `finished_at`), and no null
 * `result`, `error` or times. A reader in another language fills them in the same way (see
 * docs/architecture.md, "The task record").
 */
import { ValidationError } from "./errors.ts";
import type { Priority } from "./names.ts";

export const TASK_STATUSES = ["waiting", "delayed", "pending", "running", "completed", "failed", "dead", "canceled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
/**
 * `failed`: a handler gave up for good (PermanentError); `dead`: attempts used up, or unreadable;
 * `canceled`: someone canceled it before it ended otherwise.
 */
export const FINAL_STATUSES: readonly TaskStatus[] = ["completed", "failed", "dead", "canceled"];

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
export const MAX_HISTORY = 20;

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
  /** Deliveries given back unrun, or with their run uncounted, at a worker's shutdown: they are not attempts. */
  given_back?: number;
  max_attempts: number;
  result: unknown;
  /** The last attempt's error, kept when a retry is pending. */
  error: string | null;
  /** The latest attempts, oldest first; absent in records written before edgeq kept it. */
  history: Attempt[];
  /** A delayed task's due time. */
  run_at?: string;
  /** A delayed task's sequence in the delayed stream, which its work message names once promoted. */
  delayed_seq?: number;
  /** The task's key (a tenant, a user), which the `keys` limits apply to; absent when it has none. */
  key?: string;
  /** What the handler last reported with `ctx.progress`: a number 0–100 or JSON; absent if it reported none. */
  progress?: unknown;
  /** The tasks this one runs after (`depends_on`); kept in its records once it runs. */
  depends_on?: string[];
  /**
   * Only on the record of a task that waited (src/flows/): what it still waits for (parents' ids,
   * and `flow:<id>`, its flow's gate). Empty once released; kept when it ends unrun.
   */
  waiting_on?: string[];
  /** Runs even when a parent ends other than completed. */
  run_anyway?: true;
  /** The flow it was submitted in. */
  flow?: string;
  /** While waiting: what its work message carries besides what the record says. */
  release?: { backoff: string; timeout_ms: number | null; has_dependents?: true; trace?: Record<string, string> };
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
  key?: string;
}

/** A record with nothing yet recorded about its outcome; `fields` says what is known. */
export function newRecord(
  task: TaskIdentity,
  fields: Pick<TaskRecord, "status" | "attempts" | "max_attempts" | "created_at"> & Partial<TaskRecord>,
): TaskRecord {
  const { id, type, queue, priority, data, key } = task;
  const record: TaskRecord = {
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
  if (key !== undefined) record.key = key;
  return record;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The record's stored bytes; `dataJson`, the data's JSON as its message carried it, is copied in rather than encoded again. */
export function encodeRecord(record: TaskRecord, dataJson?: Uint8Array): Uint8Array {
  return dataJson ? spliceData(record, dataJson) : encodeJson(record);
}

/** Fields a stored record may leave out, as null. */
const NULLABLE = ["result", "error", "worker_id", "started_at", "finished_at"] as const;

/** The record as stored: without what `expand` fills in again. */
function compact(record: TaskRecord): Partial<TaskRecord> {
  // Copied field by field rather than deleted from a copy: an object with deleted fields is slow to encode.
  const stored: Record<string, unknown> = {};
  const history = record.history;
  const ownHistory = history.length === 0 || (history.length === 1 && sameAttempt(history[0], ownAttempt(record)));
  for (const key in record) {
    const value = record[key as keyof TaskRecord];
    if (value === undefined || (value === null && NULLABLE_KEYS.has(key))) continue;
    if ((key === "updated_at" && value === record.finished_at) || (key === "history" && ownHistory)) continue;
    stored[key] = value;
  }
  return stored as Partial<TaskRecord>;
}
const NULLABLE_KEYS = new Set<string>(NULLABLE);

/** A stored record with what `compact` left out filled in again. */
function expand(stored: Partial<TaskRecord> & Pick<TaskRecord, "id" | "status">): TaskRecord {
  const record = { ...stored } as TaskRecord;
  for (const key of NULLABLE) record[key] ??= null;
  record.updated_at ??= record.finished_at ?? record.created_at;
  // A finished attempt kept no history of its own: it is the record's.
  record.history ??= record.finished_at !== null && record.attempts > 0 ? [ownAttempt(record)] : [];
  return record;
}

/** The attempt a finished record describes, as its history would hold it. */
function ownAttempt(record: TaskRecord): Attempt {
  return { attempt: record.attempts, worker_id: record.worker_id, started_at: record.started_at, finished_at: record.finished_at!, error: record.error };
}

function sameAttempt(a: Attempt, b: Attempt): boolean {
  return a.attempt === b.attempt && a.worker_id === b.worker_id && a.started_at === b.started_at && a.finished_at === b.finished_at && a.error === b.error;
}

const DATA_HEAD = encoder.encode('{"data":');

/** The record's JSON with `dataJson` as its data, copied as bytes rather than encoded again. */
export function spliceData(record: TaskRecord, dataJson: Uint8Array): Uint8Array {
  const rest = encodeJson({ ...record, data: undefined }); // `{"id":…}`: never without a field
  const at = DATA_HEAD.length + dataJson.length;
  const out = new Uint8Array(at + rest.length);
  out.set(DATA_HEAD);
  out.set(dataJson, DATA_HEAD.length);
  out[at] = 0x2c; // a comma where `rest` opens its brace
  out.set(rest.subarray(1), at + 1);
  return out;
}

/** Whether two records say the same, whatever the order of their fields. */
export function sameRecord(a: TaskRecord, b: TaskRecord | null): boolean {
  if (b === null) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof TaskRecord>;
  return [...keys].every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

function encodeJson(record: TaskRecord): Uint8Array {
  try {
    return encoder.encode(JSON.stringify(compact(record)));
  } catch (err) {
    throw new ValidationError(`task ${record.id}: its record is not serializable as JSON: ${(err as Error).message}`);
  }
}

/** A record, or null for an entry that is not one (written by hand, or by a broken client). */
export function parseRecord(bytes: Uint8Array): TaskRecord | null {
  try {
    const value = JSON.parse(decoder.decode(bytes));
    return typeof value === "object" && value !== null && typeof value.id === "string" && typeof value.status === "string"
      ? expand(value)
      : null;
  } catch {
    return null;
  }
}

