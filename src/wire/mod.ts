/**
 * The wire contract: the names, messages, headers, records and errors that edgeq and a client in any
 * other language share (docs/architecture.md documents them), and the trace context the headers carry.
 */
export * from "./names.ts";
export * from "./errors.ts";
export { EncodedHeaders, headerLines } from "./encoded-headers.ts";
export {
  encodeRecord,
  FINAL_STATUSES,
  MAX_HISTORY,
  newRecord,
  parseRecord,
  sameRecord,
  TASK_STATUSES,
  withAttempt,
} from "./record.ts";
export type { Attempt, TaskRecord, TaskStatus } from "./record.ts";
export {
  backoffSchema,
  DEFAULT_BACKOFF,
  maxAttemptsSchema,
  parseBackoff,
  policyDefaultsSchema,
  resolvePolicy,
  retryDelayMs,
  timeoutSchema,
} from "./retry.ts";
export type { Backoff, RetryPolicy } from "./retry.ts";
export {
  decodeTask,
  delayMsSchema,
  dependsOnSchema,
  encodeTask,
  headersOf,
  idempotencyKeySchema,
  idForKey,
  idSchema,
  MAX_PARENTS,
  parseBody,
  prioritySchema,
  queueSchema,
  runAtOf,
  runAtSchema,
  submitOptionsSchema,
  taskId,
  taskIdOf,
  typeSchema,
} from "./message.ts";
export type { IncomingTask, OutgoingTask, SubmitOptions, TaskAddress } from "./message.ts";
export {
  endSpan,
  endSubmits,
  inSpan,
  startRun,
  startSubmit,
  submitContext,
  traced,
  withRequestContext,
} from "./tracing.ts";
