/**
 * A task event: what is published on `edgeq_events.<queue>.<event>.<type>` when a task changes
 * state. The body is one JSON object; later versions only add fields.
 */
import type { Priority, TaskRecord, TaskStatus } from "../wire/mod.ts";

export const EVENT_NAMES = ["submitted", "started", "progress", "retried", "completed", "failed", "dead", "canceled", "delayed", "promoted"] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/** The events that end a task. */
export const FINAL_EVENTS: readonly EventName[] = ["completed", "failed", "dead", "canceled"];

export interface TaskEvent {
  event: EventName;
  task_id: string;
  queue: string;
  type: string;
  priority: Priority;
  /** The task's status once the change is made. */
  status: TaskStatus;
  /** The attempt the change belongs to: 0 before the first run. */
  attempt: number;
  worker_id: string | null;
  /** When the change was made, in ms since the epoch, by the publisher's clock. */
  at: number;
  /** started: ms from the work message being stored (submitted, or promoted) to this attempt's start; a retry's includes the earlier runs. */
  wait_ms?: number;
  /** completed, failed, dead, retried: ms from the handler's start to its return. */
  run_ms?: number;
  /** failed, dead, retried, canceled: the error (a cancel's reason). */
  error?: string | null;
  /** progress: the value the handler reported. */
  progress?: unknown;
  /** delayed, promoted: the due time, in ms since the epoch. */
  run_at?: number;
  /** retried: the delay before the next attempt. */
  retry_in_ms?: number;
}

/** What an event says of its task: a record's fields, or a submission's. */
export type EventTask = Pick<TaskRecord, "id" | "queue" | "type" | "priority" | "status" | "attempts" | "worker_id">;

/** Optional fields of an event. */
export type EventExtra = Pick<TaskEvent, "wait_ms" | "run_ms" | "error" | "progress" | "run_at" | "retry_in_ms">;

/** The event a record's status means once it is stored by an outcome write. */
export function outcomeEvent(status: TaskStatus): EventName | null {
  switch (status) {
    case "completed":
    case "failed":
    case "dead":
    case "canceled":
      return status;
    case "pending":
      return "retried";
    default:
      return null;
  }
}
