/**
 * The request bodies and queries of the HTTP API's task routes, in one place: app.ts parses with
 * them, and openapi.ts describes the API from them.
 */
import { z } from "zod";
import { limitSchema } from "../tasks/mod.ts";
import {
  backoffSchema,
  delayMsSchema,
  dependsOnSchema,
  idempotencyKeySchema,
  idSchema,
  maxAttemptsSchema,
  prioritySchema,
  queueSchema,
  runAtSchema,
  type SubmitOptions,
  TASK_STATUSES,
  timeoutSchema,
  typeSchema,
} from "../wire/mod.ts";
import { taskKeySchema } from "../limits/limit.ts";

export const submitBodySchema = z.strictObject(
  {
    type: typeSchema,
    data: z.unknown().optional(),
    priority: prioritySchema.optional(),
    queue: queueSchema.optional(),
    max_attempts: maxAttemptsSchema.optional(),
    backoff: backoffSchema.optional(),
    timeout_ms: timeoutSchema.optional(),
    /** A caller-chosen task id: resubmitting with it inside the duplicate window stores the task once. */
    id: idSchema.optional(),
    /** Any string (or the Idempotency-Key header): a repeat inside the duplicate window gets the first task's id. */
    idempotency_key: idempotencyKeySchema.optional(),
    /** Run no sooner than this many ms from now, or than this ISO 8601 time. */
    delay_ms: delayMsSchema.optional(),
    run_at: runAtSchema.optional(),
    /** Run only after these tasks have completed; a task in the same batch may be named. */
    depends_on: dependsOnSchema.optional(),
    /** With depends_on: run even when a parent fails, dies or is canceled. */
    run_anyway: z.boolean({ error: "must be true or false" }).optional(),
    /** A tenant or user: the `keys` limits apply per distinct key. */
    key: taskKeySchema.optional(),
  },
  { error: (issue) => (issue.code === "unrecognized_keys" ? undefined : "the body must be a JSON object") },
);

/** Tasks one batch submission may hold. */
/** The library's submit options from a request's snake_case fields. */
export function optionsOf(body: z.output<typeof submitBodySchema>): SubmitOptions {
  return {
    priority: body.priority,
    maxAttempts: body.max_attempts,
    backoff: body.backoff,
    timeoutMs: body.timeout_ms,
    id: body.id,
    idempotencyKey: body.idempotency_key,
    delayMs: body.delay_ms,
    runAt: body.run_at,
    dependsOn: body.depends_on,
    runAnyway: body.run_anyway,
    key: body.key,
  };
}

export const MAX_BATCH = 1000;
export const batchSchema = z.array(submitBodySchema, { error: "must be a JSON array of tasks" })
  .min(1, "must hold at least one task")
  .max(MAX_BATCH, `must hold at most ${MAX_BATCH} tasks`);

/** `GET /tasks`: an unknown key is refused, as in a body, so that a misspelt filter cannot list everything. */
export const listQuerySchema = z.strictObject({
  // "processing" is the tutorial's word for "running".
  status: z
    .enum([...TASK_STATUSES, "processing"], { error: `must be one of ${TASK_STATUSES.join(", ")}` })
    .transform((s) => (s === "processing" ? "running" : s))
    .optional(),
  queue: queueSchema.optional(),
  type: typeSchema.optional(),
  limit: limitSchema,
  /** The `next_cursor` of the page before. */
  cursor: z.string().min(1, "must not be empty").max(1000, "must be at most 1000 characters").optional(),
});

export const cancelSchema = z.strictObject(
  { reason: z.string().min(1, "must not be empty").max(1000, "must be at most 1000 characters").optional() },
  { error: "the body must be a JSON object" },
);
export const cancelManySchema = z.strictObject({
  queue: queueSchema.optional(),
  type: typeSchema.optional(),
  status: z.enum(["pending", "running"], { error: "must be pending or running" }).optional(),
  limit: limitSchema,
}, { error: "the body must be a JSON object" });

