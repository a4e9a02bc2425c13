/**
 * The request bodies and queries of the HTTP API's task routes, in one place: app.ts parses with
 * them, and openapi.ts describes the API from them.
 */
import { z } from "zod";
import { limitSchema } from "../records.ts";
import { delayMsSchema, idempotencyKeySchema, idSchema, prioritySchema, queueSchema, runAtSchema, typeSchema } from "../message.ts";
import { taskKeySchema } from "../limits/limit.ts";
import { TASK_STATUSES } from "../record.ts";
import { backoffSchema, maxAttemptsSchema, timeoutSchema } from "../retry.ts";

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
    /** A tenant or user: the `keys` limits apply per distinct key. */
    key: taskKeySchema.optional(),
  },
  { error: (issue) => (issue.code === "unrecognized_keys" ? undefined : "the body must be a JSON object") },
);

/** Tasks one batch submission may hold. */
export const MAX_BATCH = 1000;
export const batchSchema = z.array(submitBodySchema, { error: "must be a JSON array of tasks" })
  .min(1, "must hold at least one task")
  .max(MAX_BATCH, `must hold at most ${MAX_BATCH} tasks`);

export const listQuerySchema = z.object({
  // "processing" is the tutorial's word for "running".
  status: z
    .enum([...TASK_STATUSES, "processing"], { error: `must be one of ${TASK_STATUSES.join(", ")}` })
    .transform((s) => (s === "processing" ? "running" : s))
    .optional(),
  limit: limitSchema,
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

