/**
 * What each route answers, as zod schemas, for the OpenAPI document (openapi.ts) to describe.
 * They are not applied to answers at run time (that would cost every request a walk of its JSON):
 * test/openapi.test.ts calls every route and checks its answer against its schema, so a field added
 * to an answer but not here fails that test. Objects are strict for that reason.
 */
import { z } from "zod";
import { PRIORITIES, TASK_STATUSES } from "../wire/mod.ts";

const time = z.iso.datetime({ offset: true });
const count = z.number().int().min(0);
const priority = z.enum(PRIORITIES);
const success = z.literal(true);

const attempt = z.strictObject({
  attempt: z.number().int(),
  worker_id: z.string().nullable(),
  started_at: time.nullable(),
  finished_at: time,
  error: z.string().nullable(),
});

export const taskRecordSchema = z.strictObject({
  id: z.string(),
  type: z.string(),
  queue: z.string(),
  priority,
  data: z.unknown(),
  data_omitted: z.literal(true).optional(),
  status: z.enum(TASK_STATUSES),
  attempts: count,
  given_back: count.optional(),
  max_attempts: z.number().int().min(1),
  result: z.unknown(),
  error: z.string().nullable(),
  history: z.array(attempt),
  run_at: time.optional(),
  delayed_seq: z.number().int().optional(),
  progress: z.unknown().optional(),
  key: z.string().optional(),
  depends_on: z.array(z.string()).optional(),
  waiting_on: z.array(z.string()).optional(),
  run_anyway: z.literal(true).optional(),
  flow: z.string().optional(),
  release: z.strictObject({ backoff: z.string(), timeout_ms: z.number().int().nullable(), has_dependents: z.literal(true).optional(), trace: z.record(z.string(), z.string()).optional() }).optional(),
  seq: z.number().int().optional(),
  worker_id: z.string().nullable(),
  created_at: time,
  started_at: time.nullable(),
  finished_at: time.nullable(),
  updated_at: time,
});

export const healthSchema = z.strictObject({
  status: z.enum(["healthy", "unhealthy"]),
  workers: count,
  pending_tasks: count,
  running_tasks: count,
  completed_tasks: count.describe("tasks that completed, each once by its latest outcome; trails the outcomes by up to a worker heartbeat (5 s)"),
  failed_tasks: count.describe("tasks that failed or died, each once by its latest outcome (a requeued one that completes leaves it); trails by up to a heartbeat"),
  dead_tasks: count,
  delayed_tasks: count.describe("delayed tasks not yet due (canceled ones among them until their due time)"),
  unserved_types: z.array(z.string()),
  storage: z.enum(["ok", "full"]).describe("full: the work stream is at its max_bytes, and submissions get 507"),
  storage_error: z.string().optional(),
  timestamp: time,
  error: z.string().optional(),
  gateway: z.string(),
});

export const submittedSchema = z.strictObject({
  task_id: z.string(),
  message: z.string(),
  status: z.enum(["waiting", "pending", "delayed"]),
  run_at: time.optional(),
  type: z.string(),
  queue: z.string(),
  priority,
  duplicate: z.boolean(),
});
export const submitAnswerSchema = submittedSchema.extend({ success });
export const batchAnswerSchema = z.strictObject({ success, accepted: count, tasks: z.array(submittedSchema) });
export const flowAnswerSchema = z.strictObject({ success, flow_id: z.string(), duplicate: z.boolean(), tasks: z.array(submittedSchema) });

export const taskPageSchema = z.strictObject({
  tasks: z.array(taskRecordSchema),
  count,
  next_cursor: z.string().nullable().describe("pass as `cursor` for the next page; null after the last"),
});
export const cancelAnswerSchema = z.strictObject({ success, task_id: z.string(), status: z.enum(TASK_STATUSES), task: taskRecordSchema });
export const cancelManyAnswerSchema = z.strictObject({ success, canceled: count });

const queueSummary = z.strictObject({
  name: z.string(),
  paused: z.boolean(),
  paused_at: time.nullable(),
  pending: z.strictObject(Object.fromEntries(PRIORITIES.map((p) => [p, count])) as Record<(typeof PRIORITIES)[number], typeof count>),
  running: count,
  unserved_types: z.array(z.string()),
  rates: z.strictObject({ window_s: count, completed_per_s: z.number().min(0), failed_per_s: z.number().min(0) })
    .describe("outcomes per second over the last minute, from the workers' heartbeats (up to one beat behind)"),
});
export const queuesSchema = z.strictObject({ queues: z.array(queueSummary), count });
export const queueStateAnswerSchema = z.strictObject({ success, queue: z.string(), paused: z.boolean(), paused_at: time.nullable() });

const workerInfo = z.strictObject({
  id: z.string(),
  host: z.string(),
  runtime: z.string(),
  queues: z.array(z.string()),
  concurrency: z.number().int(),
  in_flight: count,
  running: z.array(z.string()),
  types: z.array(z.string()),
  unserved: z.array(z.string()),
  processed: count,
  completed: count,
  failed: count,
  requeued: count,
  last_minute: z.record(z.string(), z.strictObject({ completed: count, failed: count })).optional(),
  started_at: time,
  last_heartbeat: time,
});
export const workersSchema = z.strictObject({ workers: z.array(workerInfo), count });

export const scheduleRecordSchema = z.strictObject({
  name: z.string(),
  cron: z.string(),
  tz: z.string(),
  type: z.string(),
  data: z.unknown(),
  priority,
  queue: z.string(),
  paused: z.boolean(),
  created_at: time,
  last_tick: z.number().int().nullable(),
  next_run: time.nullable().optional(),
});
export const scheduleAnswerSchema = z.strictObject({ success, schedule: scheduleRecordSchema });
export const schedulesSchema = z.strictObject({ schedules: z.array(scheduleRecordSchema), count });
export const scheduleDeletedSchema = z.strictObject({ success, name: z.string() });

export const deadLetterSchema = z.strictObject({
  id: z.string(),
  type: z.string().nullable(),
  queue: z.string().nullable(),
  priority: priority.nullable(),
  subject: z.string(),
  data: z.unknown(),
  raw_base64: z.string().optional(),
  body_omitted_bytes: count.optional(),
  reason: z.string(),
  attempts: count,
  history: z.array(attempt),
  headers: z.record(z.string(), z.string()),
  dead_at: time,
  seq: z.number().int(),
});
export const deadLettersSchema = z.strictObject({ dead_letters: z.array(deadLetterSchema), count });
export const requeuedAllSchema = z.strictObject({ success, requeued: count });
export const requeuedOneSchema = z.strictObject({ success, task_id: z.string(), status: z.literal("pending") });
export const purgedOneSchema = z.strictObject({ success, task_id: z.string() });
export const purgedAllSchema = z.strictObject({ success, purged: count });

export const openApiSchema = z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) });

export const errorSchema = z.strictObject({
  success: z.literal(false),
  error: z.string(),
  code: z.string().describe("the error's class in snake_case: validation_error, not_found_error, …"),
  task_id: z.string().optional().describe("with a 503 whose submission may have been stored"),
});
