/**
 * A reference model of a task's lifecycle (docs/architecture.md, "The task record" and "Retry
 * policy"), pure TypeScript: what a stored record must say after each event. The property test
 * (test/lifecycle.test.ts) drives a real server and worker with the same events and compares.
 *
 * `slack` counts deliveries that may have been counted as attempts without running: a worker that
 * dies can take a delivery of another task with it ("How the count is kept").
 */
import { FINAL_STATUSES, type TaskRecord, type TaskStatus } from "../../src/wire/record.ts";

export interface ModelTask {
  id: string;
  status: TaskStatus;
  attempts: number;
  maxAttempts: number;
  /** Every run ends by its time-out. */
  timed: boolean;
  slack: number;
}

export const isFinal = (status: TaskStatus) => FINAL_STATUSES.includes(status);

export function submitted(id: string, maxAttempts: number, timed: boolean): ModelTask {
  return { id, status: "pending", attempts: 0, maxAttempts, timed, slack: 0 };
}

/** A handler started as attempt `attempt`: an error if the model does not allow it. */
export function started(task: ModelTask, attempt: number): string | null {
  if (task.status !== "pending") return `${task.id} started while ${task.status}`;
  const lowest = task.attempts + 1;
  if (attempt < lowest || attempt > lowest + task.slack) return `${task.id} started as attempt ${attempt}, expected ${lowest}${task.slack ? `-${lowest + task.slack}` : ""}`;
  task.slack -= attempt - lowest;
  task.attempts = attempt;
  task.status = "running";
  return null;
}

export function completed(task: ModelTask): void {
  task.status = "completed";
}

/** A failed attempt, a time-out included: retried while attempts remain, else dead. */
export function failedAttempt(task: ModelTask): void {
  task.status = task.attempts >= task.maxAttempts ? "dead" : "pending";
}

export function failedForGood(task: ModelTask): void {
  task.status = "failed";
}

/** Cancel: whether it is allowed (an unfinished task, or one canceled already). */
export function cancel(task: ModelTask): boolean {
  if (task.status === "canceled") return true;
  if (isFinal(task.status)) return false;
  task.status = "canceled";
  return true;
}

/** Requeue of a dead letter: pending again with fresh attempts. */
export function requeued(task: ModelTask): void {
  task.status = "pending";
  task.attempts = 0;
  task.slack = 0;
}

/** The worker running `running` died: that run counts; every unfinished task may get a delivery counted that never ran. */
export function workerDied(tasks: ModelTask[], running: ModelTask | undefined): void {
  if (running) running.status = "pending";
  for (const t of tasks) if (!isFinal(t.status)) t.slack++;
}

/** Whether a pending task may be buried without running: its counted attempts (with slack) reach its maximum. */
export function mayBeBuried(task: ModelTask): boolean {
  return task.status === "pending" && task.attempts + task.slack >= task.maxAttempts;
}

/** How the stored record differs from the model; null when it agrees. */
export function differs(task: ModelTask, record: TaskRecord | null): string | null {
  if (!record) return `${task.id}: no record, model says ${task.status}`;
  if (isFinal(task.status) || isFinal(record.status)) {
    if (record.status !== task.status) return `${task.id}: stored ${record.status}, model says ${task.status}`;
    if (task.status !== "canceled" && record.attempts !== task.attempts) {
      return `${task.id}: ${record.status} after ${record.attempts} attempts, model says ${task.attempts}`;
    }
  }
  return null;
}
