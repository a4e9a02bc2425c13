/**
 * What a task listing picks (`GET /tasks?status=&queue=&type=&limit=&cursor=`, `tasks.page`) and
 * where its pages start. Tasks come newest created first, ties by the work stream's sequence, then
 * by id (both descending), so that the
 * order is total and a page can start right after the last task of the one before: the cursor
 * names that task's creation time, work message sequence and id, as an opaque string.
 */
import { type TaskRecord, type TaskStatus, ValidationError } from "../wire/mod.ts";

export interface ListOptions {
  status?: TaskStatus;
  queue?: string;
  type?: string;
  limit: number;
  /** `next_cursor` of the page before; none: the newest tasks. */
  cursor?: string;
}

export interface TaskPage {
  tasks: TaskRecord[];
  /** Where the next page starts; null when this page is the last (it has fewer than `limit` tasks). */
  next_cursor: string | null;
}

/** Newest created first; for equal times, the later work message, then the greater id. */
export function newestFirst(a: TaskRecord, b: TaskRecord): number {
  return b.created_at.localeCompare(a.created_at) || (b.seq ?? 0) - (a.seq ?? 0) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Whether a task belongs in the listing: it matches the filters and comes after the cursor. */
export function listFilter(options: ListOptions): (record: TaskRecord) => boolean {
  const { status, queue, type } = options;
  const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  return (r) =>
    (status === undefined || r.status === status) &&
    (queue === undefined || r.queue === queue) &&
    (type === undefined || r.type === type) &&
    (after === undefined || newestFirst(after, r) < 0);
}

/** The first `limit` of `sorted`, and the cursor after them when there may be more. */
export function pageOf(sorted: TaskRecord[], limit: number): TaskPage {
  const tasks = sorted.slice(0, limit);
  return { tasks, next_cursor: tasks.length === limit ? encodeCursor(tasks[limit - 1]) : null };
}

function encodeCursor(last: TaskRecord): string {
  return btoa(JSON.stringify([last.created_at, last.seq ?? 0, last.id])).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** The task a cursor names, as much of it as ordering needs. */
function decodeCursor(cursor: string): TaskRecord {
  try {
    const [created_at, seq, id] = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
    if (typeof created_at === "string" && Number.isSafeInteger(seq) && typeof id === "string") return { created_at, seq, id } as TaskRecord;
  } catch {
    // reported below
  }
  throw new ValidationError("invalid query: cursor: is not a next_cursor this API gave");
}
