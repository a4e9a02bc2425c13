/**
 * Where tasks' states are kept and read: task records, pending work messages, dead letters, listings
 * and cancels.
 */
export { expectRevision, isConflict, limitSchema, TaskRecords } from "./records.ts";
export { PendingTasks } from "./pending.ts";
export type { CancelFilter } from "./cancel.ts";
export type { ListOptions, TaskPage } from "./task-listing.ts";
export { DeadLetters, isRequeue } from "./dead-letters.ts";
export type { DeadLetter } from "./dead-letters.ts";
