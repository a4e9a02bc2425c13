/**
 * The events of each state change, called from the few places where a change is made: a
 * submission (client/queue.ts), a promotion (delayed/scheduler.ts), a cancel (tasks/cancel.ts), and a worker's
 * start, progress and stored outcome (worker/).
 */
import { type OutgoingTask, parseTaskSubject, type SubjectParts, type TaskRecord } from "../wire/mod.ts";
import type { Events } from "./events.ts";
import { outcomeEvent } from "./event.ts";

/** What a worker's run tells about itself. */
interface RunView {
  record?: TaskRecord;
  /** `performance.now()` at the handler's start; 0 if it never started. */
  startedMs: number;
  /** ms from the handler's start to its return. */
  runMs?: number;
  delivery: { storedAt: number };
}

/** `submitted`, or `delayed` for a task that waits for its due time: a stored submission that was not a repeat. */
export function emitSubmitted(events: Events, task: Pick<OutgoingTask, "id" | "queue" | "type" | "priority" | "runAtMs">): void {
  if (!events.wanted) return;
  const delayed = task.runAtMs !== undefined;
  const state = { ...identity(task), status: delayed ? "delayed" : "pending", attempts: 0, worker_id: null } as const;
  events.emit(delayed ? "delayed" : "submitted", state, delayed ? { run_at: task.runAtMs } : undefined);
}

/** `submitted` for a stored work message (a requeued dead letter). */
export function emitResubmitted(events: Events, id: string, subject: string): void {
  const parts = parseTaskSubject(subject);
  if (events.wanted && parts) emitSubmitted(events, { id, ...parts, runAtMs: undefined });
}

/** `promoted`: a delayed task's work message stored when it fell due. */
export function emitPromoted(events: Events, id: string, parts: SubjectParts, runAt: number): void {
  const { queue, type, priority } = parts;
  events.emit("promoted", { id, queue, type, priority, status: "pending", attempts: 0, worker_id: null }, { run_at: runAt });
}

/** `started`: a handler is about to run; `wait_ms` since its work message was stored. */
export function emitStarted(events: Events, run: RunView): void {
  if (!events.wanted || !run.record) return;
  events.emit("started", run.record, { wait_ms: Math.max(0, Date.now() - run.delivery.storedAt) });
}

/** `progress`: a progress write of the run's record. */
export function emitProgress(events: Events, record: TaskRecord): void {
  if (events.wanted) events.emit("progress", record, { progress: record.progress });
}

/** The event of an outcome this run stored: completed, failed, dead, canceled, or retried. */
export function emitOutcome(events: Events, run: RunView, outcome: TaskRecord, retryInMs?: number): void {
  if (!events.wanted) return;
  const event = outcomeEvent(outcome.status);
  if (!event) return;
  const extra = { ...(run.runMs !== undefined && { run_ms: Math.round(run.runMs * 1000) / 1000 }), ...(event !== "completed" && { error: outcome.error }) };
  // A retry's record names no worker (none has it now): the event names the one whose attempt failed.
  const task = outcome.worker_id === null && run.record ? { ...outcome, worker_id: run.record.worker_id } : outcome;
  events.emit(event, task, retryInMs === undefined ? extra : { ...extra, retry_in_ms: retryInMs });
}

function identity(task: Pick<TaskRecord, "id" | "queue" | "type" | "priority">) {
  return { id: task.id, queue: task.queue, type: task.type, priority: task.priority };
}
