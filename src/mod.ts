/**
 * edgeq's library: submitting, working and reading tasks. It loads no HTTP framework and no CLI:
 * the API is `edgeq/api` (src/api/mod.ts), the command `edgeq/cli` (src/cli.ts).
 */
export { Edgeq } from "./client.ts";
export { Queue } from "./queue.ts";
export { Worker, workerOptionsSchema } from "./worker/mod.ts";
export { DeadLetters } from "./dead-letters.ts";
export { parseBackoff, resolvePolicy, retryDelayMs } from "./retry.ts";
export { configSchema, resolveConfig } from "./config.ts";
export { DEFAULT_NATS_URL, ENV_NAMES, readSettings } from "./settings.ts";
export { natsConnectOptions } from "./nats-options.ts";
export {
  CanceledError,
  ConflictError,
  EdgeqError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  PermanentError,
  PoisonMessageError,
  QueueFullError,
  RateLimitedError,
  StorageFullError,
  TaskTimeoutError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from "./errors.ts";
export {
  CANCEL_SUBJECT_ROOT,
  cancelSubject,
  consumerName,
  DEAD_STREAM,
  deadSubject,
  DEFAULT_PRIORITY,
  DEFAULT_QUEUE,
  HEADER_BACKOFF,
  HEADER_ID,
  HEADER_MAX_ATTEMPTS,
  HEADER_TASK_ID,
  HEADER_TIMEOUT,
  PRIORITIES,
  QUEUE_NOTICE_ROOT,
  queueNoticeSubject,
  QUEUES_BUCKET,
  STATS_BUCKET,
  TASKS_BUCKET,
  taskSubject,
  WORK_STREAM,
  WORKERS_BUCKET,
} from "./names.ts";
export { TASK_STATUSES } from "./record.ts";

export type { EdgeqConfig, EdgeqConfigInput } from "./config.ts";
export type { Health } from "./health.ts";
export type { WorkerInfo } from "./worker/mod.ts";
export type { SubmitOptions } from "./message.ts";
export type { Priority } from "./names.ts";
export type { ReadTextFile } from "./nats-options.ts";
export type { Env, EnvName, NatsSettings, Settings } from "./settings.ts";
export type { Submitted, TaskSpec } from "./queue.ts";
export type { Attempt, TaskRecord, TaskStatus } from "./record.ts";
export type { ListOptions, TaskRecords } from "./records.ts";
export type { DeadLetter } from "./dead-letters.ts";
export type { CancelFilter } from "./cancel.ts";
export type { QueueState, QueueStates, QueueSummary } from "./queue-states.ts";
export type { Backoff, RetryPolicy } from "./retry.ts";
export type { Runtime } from "./runtime.ts";
export type { Handler, Handlers, TaskContext, WorkerOptions } from "./worker/mod.ts";
