/**
 * edgeq's library: submitting, working and reading tasks. It loads no HTTP framework and no CLI:
 * the API is `edgeq/api` (src/api/mod.ts), the command `edgeq/cli` (src/cli/mod.ts).
 */
export { Edgeq, Queue } from "./client/mod.ts";
export { Worker, workerOptionsSchema } from "./worker/mod.ts";
export { DeadLetters } from "./tasks/mod.ts";
export { parseBackoff, resolvePolicy, retryDelayMs } from "./wire/mod.ts";
export { configSchema, resolveConfig } from "./nats/mod.ts";
export { DEFAULT_NATS_URL, ENV_NAMES, readSettings } from "./client/mod.ts";
export { natsConnectOptions } from "./nats/mod.ts";
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
} from "./wire/mod.ts";
export {
  CANCEL_SUBJECT_ROOT,
  cancelSubject,
  consumerName,
  DEAD_STREAM,
  deadSubject,
  DEFAULT_PRIORITY,
  DEFAULT_QUEUE,
  FLOWS_BUCKET,
  HEADER_BACKOFF,
  HEADER_HAS_DEPENDENTS,
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
} from "./wire/mod.ts";
export { TASK_STATUSES } from "./wire/mod.ts";
export { EVENT_NAMES } from "./events/event.ts";
export { EVENTS_SUBJECT_ROOT, eventSubject } from "./wire/mod.ts";

export type { EdgeqConfig, EdgeqConfigInput } from "./nats/mod.ts";
export type { Health } from "./client/mod.ts";
export type { WorkerInfo } from "./worker/mod.ts";
export type { Priority, SubmitOptions } from "./wire/mod.ts";
export type { ReadTextFile } from "./nats/mod.ts";
export type { Env, EnvName, NatsSettings, Settings, Submitted, TaskSpec } from "./client/mod.ts";
export type { Attempt, TaskRecord, TaskStatus } from "./wire/mod.ts";
export type { CancelFilter, DeadLetter, ListOptions, TaskPage, TaskRecords } from "./tasks/mod.ts";
export type { EventName, TaskEvent } from "./events/event.ts";
export type { Events } from "./events/events.ts";
export type { EventFilter, EventSubscription } from "./events/subscription.ts";
export type { FlowInput, FlowNodeInput, Flows, FlowSubmitted, ParentOutcome } from "./flows/mod.ts";
export type { QueueState, QueueStates, QueueSummary } from "./client/mod.ts";
export type { Backoff, RetryPolicy } from "./wire/mod.ts";
export type { Runtime } from "./adapter/mod.ts";
export type { Handler, Handlers, TaskContext, WorkerOptions } from "./worker/mod.ts";
