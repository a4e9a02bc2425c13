/**
 * Pages of a task listing. Listings run newest created first, ties broken by id (descending), a
 * total order, so a page ends at a (created_at, id) pair and the next one starts strictly after it:
 * tasks submitted while a reader pages do not shift what the later pages hold. The cursor is that
 * pair, base64url-encoded: opaque to clients, who pass back the `next_cursor` they were given.
 */
import { z } from "zod";
import type { TaskRecord } from "./record.ts";

export interface TaskCursor {
  created_at: string;
  id: string;
}

const toBase64Url = (text: string) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromBase64Url = (text: string) => atob(text.replace(/-/g, "+").replace(/_/g, "/"));

/** The cursor of the page that ends with `record`. */
export function cursorAfter(record: TaskRecord): string {
  return toBase64Url(JSON.stringify([record.created_at, record.id]));
}

export const cursorSchema = z.string().max(512, "must be at most 512 characters").transform((text, ctx): TaskCursor => {
  try {
    const [created_at, id] = JSON.parse(fromBase64Url(text)) as unknown[];
    if (typeof created_at === "string" && typeof id === "string") return { created_at, id };
  } catch {
    // reported below
  }
  ctx.addIssue({ code: "custom", message: "is not a cursor this API gave (pass back next_cursor)" });
  return z.NEVER;
});

/** The listing's order: newest created first, then by id descending. */
export function newestFirst(a: TaskRecord, b: TaskRecord): number {
  return b.created_at.localeCompare(a.created_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Whether `record` comes after the cursor's page in the listing's order. */
export function isAfter(record: TaskRecord, cursor: TaskCursor): boolean {
  return record.created_at < cursor.created_at || (record.created_at === cursor.created_at && record.id < cursor.id);
}
