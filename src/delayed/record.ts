/**
 * The record of a delayed task, `delayed` with its `run_at` and `delayed_seq`, written by its
 * submitter once the delayed message is stored: `GET /tasks/:id` reads it, a cancel overwrites it,
 * and the promoted task's first run reads it. (The delayed stream cannot be searched by id cheaply:
 * its subjects carry only the due slot.)
 */
import { ConflictError, newRecord, type OutgoingTask } from "../wire/mod.ts";
import type { TaskRecords } from "../tasks/mod.ts";

export async function recordDelayed(records: TaskRecords, task: OutgoingTask, seq: number): Promise<void> {
  const now = new Date().toISOString();
  const record = newRecord(task, {
    status: "delayed",
    attempts: 0,
    max_attempts: task.policy.maxAttempts,
    created_at: now,
    run_at: new Date(task.runAtMs!).toISOString(),
    delayed_seq: seq,
  });
  if ((await records.putIfUnchanged(record, 0, task.body)) !== null) return;
  // This task's own (written by an earlier try, or by its run, which may be over already), or an
  // earlier task's under its id, which this one replaces.
  const found = await records.read(task.id);
  if (found.record?.delayed_seq === seq) return;
  if ((await records.putIfUnchanged(record, found.revision, task.body)) === null) {
    throw new ConflictError(`task ${task.id}: its record changed while it was written; submit it again with the same id`);
  }
}
