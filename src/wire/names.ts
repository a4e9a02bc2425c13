/**
 * The wire contract: every stream, subject, consumer and bucket name edgeq uses.
 * docs/architecture.md documents these for users of other languages; keep the two in step.
 */

export const PRIORITIES = ["high", "normal", "low"] as const;
export type Priority = (typeof PRIORITIES)[number];
export const DEFAULT_PRIORITY: Priority = "normal";
export const DEFAULT_QUEUE = "default";

/** Root token of work subjects: `edgeq.<queue>.<priority>.<type>`. */
export const SUBJECT_ROOT = "edgeq";
/** The work stream (WorkQueue retention) capturing every work subject. */
export const WORK_STREAM = "EDGEQ_TASKS";
/** KV bucket of task records, keyed by task id. */
export const TASKS_BUCKET = "edgeq_tasks";
/** KV bucket of worker heartbeats, keyed by worker id; entries expire when a worker stops beating. */
export const WORKERS_BUCKET = "edgeq_workers";
/** KV bucket of per-worker cumulative outcome counts, keyed by worker id. */
export const STATS_BUCKET = "edgeq_stats";
/** KV bucket of queue states, keyed by queue name: `{"paused": true, …}` while paused, absent otherwise. */
export const QUEUES_BUCKET = "edgeq_queues";

/**
 * Stream of delayed tasks until they fall due, filed by due tenth of a second: `edgeq_delayed.<slot>`,
 * slot = floor(due ms / 100), with the work subject in `Edgeq-Subject`. (A literal subject per slot:
 * nats-server 2.9 finds it from its index, where a wildcard lookup reads the whole stream.) Limits
 * retention; the scheduler publishes each to its work subject when due, then purges what it promoted.
 */
export const DELAYED_STREAM = "EDGEQ_DELAYED";
export const DELAYED_SUBJECT_ROOT = "edgeq_delayed";
/** The span of one file of delayed tasks, the `<slot>` token: their due time in ms, divided by this. */
export const DELAY_SLOT_MS = 100;
/** KV bucket of the scheduler's lease (key `leader`): one process at a time promotes delayed tasks. */
export const SCHEDULER_BUCKET = "edgeq_scheduler";
/** KV bucket of recurring tasks, keyed by schedule name. */
export const SCHEDULES_BUCKET = "edgeq_schedules";
/** Schedule names are KV keys and part of their tasks' ids. */
export const SCHEDULE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The id of schedule `name`'s task for the tick at `tickMs`: the same in every process, so a tick is stored once. */
export function scheduledTaskId(name: string, tickMs: number): string {
  return `sched-${name}-${tickMs}`;
}

/**
 * KV bucket of dependencies (src/flows/): `t.<task id>` lists the tasks waiting on that task,
 * `f.<flow id>` is a flow's gate, which releases the flow's first tasks once the flow is committed.
 */
export const FLOWS_BUCKET = "edgeq_flows";

export const DEPENDENTS_KEY_PREFIX = "t.";
export const FLOW_GATE_KEY_PREFIX = "f.";

/** The key of the tasks waiting on task `id`. */
export function dependentsKey(id: string): string {
  return `${DEPENDENTS_KEY_PREFIX}${id}`;
}

/** The key of flow `id`'s gate. */
export function flowGateKey(id: string): string {
  return `${FLOW_GATE_KEY_PREFIX}${id}`;
}

/** Stream of dead letters: tasks that used up their attempts, and messages no worker can read. */
export const DEAD_STREAM = "EDGEQ_DEAD";
/** Root token of dead-letter subjects, `edgeq_dead.<task id>`: outside the work stream's `edgeq.>`. */
export const DEAD_SUBJECT_ROOT = "edgeq_dead";

/**
 * Headers of a task message. `Nats-Msg-Id` is the stream's de-duplication key and, unless
 * `Edgeq-Task-Id` is set, the task id. (A requeued dead letter keeps its task id under a new
 * message id, which the duplicate window would otherwise drop.)
 */
export const HEADER_ID = "Nats-Msg-Id";
export const HEADER_TASK_ID = "Edgeq-Task-Id";
export const HEADER_MAX_ATTEMPTS = "Edgeq-Max-Attempts";
/** Retry delays, as `exponential:<base ms>:<max ms>`, `fixed:<ms>` or `list:<ms>,<ms>,…`. */
export const HEADER_BACKOFF = "Edgeq-Backoff";
export const HEADER_TIMEOUT = "Edgeq-Timeout-Ms";
/**
 * The revision of the record written before the message: a requeue's `pending` one, a promoted
 * delayed task's `delayed` one (its first run writes the outcome over it), or a released task's
 * `waiting` one (src/flows/). A requeued or released task's worker reads the record before the
 * handler starts.
 */
export const HEADER_RECORD_REVISION = "Edgeq-Record-Revision";
/** The retry policy's headers, which a dead letter keeps and a requeue sends again. */
export const POLICY_HEADERS = [HEADER_MAX_ATTEMPTS, HEADER_BACKOFF, HEADER_TIMEOUT];
/** The W3C trace context a submission's message carries (src/wire/tracing.ts); dead letters and requeues keep it. */
export const TRACE_HEADERS = ["traceparent", "tracestate"];
/** A delayed task's due time, in ms since the epoch, on its message in the delayed stream. */
export const HEADER_RUN_AT = "Edgeq-Run-At";
/** The work subject a message came from, or goes to: on a dead letter, and on a delayed task's message. */
export const HEADER_SUBJECT = "Edgeq-Subject";
/** On a promoted task's work message: the sequence its message had in the delayed stream. */
export const HEADER_DELAYED_SEQ = "Edgeq-Delayed-Seq";
/**
 * On the work message of a task that others wait on: its worker releases them (src/flows/) once its
 * outcome is stored and before it answers the message, so a plain task's settling looks for nothing.
 */
export const HEADER_HAS_DEPENDENTS = "Edgeq-Has-Dependents";
/** Header of a KV delete or purge marker. */
export const KV_OPERATION_HEADER = "KV-Operation";

/** Queue names become a subject token and part of a consumer name: no dots, no wildcards. */
export const QUEUE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Task types may have dots; each dot-separated part is a subject token. */
export const TYPE_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const TYPE_MAX_LENGTH = 128;
/** Task ids are KV keys (and Nats-Msg-Id values). */
export const ID_PATTERN = /^[A-Za-z0-9_=-]{1,128}$/;

/** The subjects the work stream captures: only valid priorities, so a typo is refused rather than stored unseen. */
export function workStreamSubjects(): string[] {
  return PRIORITIES.map((p) => `${SUBJECT_ROOT}.*.${p}.>`);
}

/**
 * Marks the subject token that carries a task's id: `edgeq.<queue>.<priority>.=<id>.<type>`. No
 * type word can hold a `=`, so the token cannot be mistaken for one; with it, a pending task is
 * found in the work stream by its id (`pendingSubject`) without a record of its own.
 */
export const ID_TOKEN_MARK = "=";

/** A work subject; with `id`, the form edgeq's submitters publish, which a lookup by id finds. */
export function taskSubject(queue: string, priority: Priority, type: string, id?: string): string {
  return id === undefined
    ? `${SUBJECT_ROOT}.${queue}.${priority}.${type}`
    : `${SUBJECT_ROOT}.${queue}.${priority}.${ID_TOKEN_MARK}${id}.${type}`;
}

/** The filter that matches the work message of task `id` published with its id token. */
export function pendingSubject(id: string): string {
  return `${SUBJECT_ROOT}.*.*.${ID_TOKEN_MARK}${id}.>`;
}

/** Where the tasks due in slot `slot` wait. */
export function delayedSubject(slot: number): string {
  return `${DELAYED_SUBJECT_ROOT}.${slot}`;
}

/** The slot a task due at `runAtMs` waits in. */
export function delaySlotOf(runAtMs: number): number {
  return Math.floor(runAtMs / DELAY_SLOT_MS);
}

/** Filter subject of the consumer that serves one queue at one priority. */
export function consumerFilter(queue: string, priority: Priority): string {
  return `${SUBJECT_ROOT}.${queue}.${priority}.>`;
}

/** Durable pull consumer name for one queue at one priority. */
export function consumerName(queue: string, priority: Priority): string {
  return `edgeq_${queue}_${priority}`;
}

export interface SubjectParts {
  queue: string;
  priority: Priority;
  type: string;
  /** The id token's id, when the subject has one. */
  id?: string;
}

/**
 * Root token of cancel notices, `edgeq_cancel.<task id>`: plain NATS messages (no stream) that
 * every worker subscribes to, sent once a task's `canceled` record is stored.
 */
export const CANCEL_SUBJECT_ROOT = "edgeq_cancel";

export function cancelSubject(id: string): string {
  return `${CANCEL_SUBJECT_ROOT}.${id}`;
}

/**
 * KV bucket of limit tokens (src/limits/): `slot.<scope>.<n>` holds one of a concurrency limit's n
 * slots while a run has it, `rate.<scope>` a rate limit's next free start time. A scope is
 * `type.<task type>` or `key.<task key>`.
 */
export const LIMITS_BUCKET = "edgeq_limits";
/** Root token of the notice `edgeq_limit_free.<scope>`, sent when a slot of that scope is released. */
export const LIMIT_FREE_ROOT = "edgeq_limit_free";
/** A task's key (a tenant, a user), which the `keys` limits apply to. */
export const HEADER_KEY = "Edgeq-Key";
/** The headers a dead letter keeps of its task's, and a requeue sends again: the retry policy and the key. */
export const KEPT_HEADERS = [...POLICY_HEADERS, HEADER_KEY];

/** Root token of queue notices, `edgeq_queue.<queue>`: sent when a queue is paused or resumed. */
export const QUEUE_NOTICE_ROOT = "edgeq_queue";

export function queueNoticeSubject(queue: string): string {
  return `${QUEUE_NOTICE_ROOT}.${queue}`;
}

export function deadSubject(id: string): string {
  return `${DEAD_SUBJECT_ROOT}.${id}`;
}

/** Splits a work subject; returns null for anything that is not one. */
export function parseTaskSubject(subject: string): SubjectParts | null {
  const tokens = subject.split(".");
  if (tokens.length < 4 || tokens[0] !== SUBJECT_ROOT) return null;
  const [, queue, priority, fourth] = tokens;
  if (!(PRIORITIES as readonly string[]).includes(priority)) return null;
  if (!fourth.startsWith(ID_TOKEN_MARK)) return { queue, priority: priority as Priority, type: tokens.slice(3).join(".") };
  const id = fourth.slice(ID_TOKEN_MARK.length);
  if (tokens.length < 5 || !ID_PATTERN.test(id)) return null;
  return { queue, priority: priority as Priority, type: tokens.slice(4).join("."), id };
}

/**
 * Root token of task events, `edgeq_events.<queue>.<event>.<type>`: plain NATS messages (no
 * stream, at most once) published on every state change of a task (src/events/).
 */
export const EVENTS_SUBJECT_ROOT = "edgeq_events";

/** The subject of event `event` of a task of `type` in `queue`; `*` and `>` make filters of it. */
export function eventSubject(queue: string, event: string, type: string): string {
  return `${EVENTS_SUBJECT_ROOT}.${queue}.${event}.${type}`;
}
