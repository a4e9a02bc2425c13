import { z } from "zod";
import {
  backoffSchema,
  DEFAULT_BACKOFF,
  maxAttemptsSchema,
  policyDefaultsSchema,
  QUEUE_PATTERN,
  timeoutSchema,
  TYPE_PATTERN,
  ValidationError,
} from "../wire/mod.ts";
import { limitSchema } from "../limits/limit.ts";

/** What a queue may set besides its retry defaults. */
const queueSettingsSchema = policyDefaultsSchema.extend({
  /** Tasks the queue may hold (stored and not yet finished); a submission beyond it is refused. */
  maxLength: z.number().int().min(1).optional(),
});

/** Cluster-wide settings, applied when the topology is first created. */
export const configSchema = z.strictObject({
  /** Replicas of the work stream and buckets: 1 on a single server, 3 on a cluster. */
  replicas: z.number().int().min(1).max(5).default(1),
  /** Window in which a second message with the same Nats-Msg-Id (task id) is dropped. */
  duplicateWindowMs: z.number().int().min(1000).default(120_000),
  /** How long a delivered task may go without ack or progress before JetStream redelivers it. */
  ackWaitMs: z.number().int().min(1000).default(30_000),
  /** Tasks handed out but not yet acknowledged, per queue and priority, across all workers. */
  maxAckPending: z.number().int().min(1).default(10_000),
  /** How long the records of finished tasks are kept after they finish. */
  retentionMs: z.number().int().min(1000).default(24 * 3600_000),
  /** How long a worker's heartbeat entry outlives its last beat. */
  workerTtlMs: z.number().int().min(3000).default(15_000),
  /** Attempts per task unless a submission, its type or its queue says otherwise. */
  maxAttempts: maxAttemptsSchema.default(3),
  /** Delays between attempts (see wire/retry.ts), unless a submission, its type or its queue says otherwise. */
  backoff: backoffSchema.default(DEFAULT_BACKOFF),
  /** How long one attempt may run; none unless a submission, its type or its queue sets one. */
  timeoutMs: timeoutSchema.optional(),
  /** Per-queue settings: retry defaults and a maximum length. */
  queues: z.record(z.string().regex(QUEUE_PATTERN, "must be a queue name"), queueSettingsSchema).default({}),
  /**
   * Per-task-type retry defaults, which take precedence over the queue's, and limits across all
   * workers (`concurrency`, `rate`: src/limits/). Every worker serving a limited type must be given its limits.
   */
  types: z.record(z.string().regex(TYPE_PATTERN, "must be a task type"), policyDefaultsSchema.extend(limitSchema.shape)).default({}),
  /** Limits per distinct task key (the `key` a submission gives), across all workers and types. */
  keys: limitSchema.optional(),
  /**
   * JetStream domain of the servers that hold edgeq's streams. Needed only by processes connected to a
   * leaf node without JetStream of its own: they reach the hub's JetStream as `$JS.<domain>.API`.
   */
  jsDomain: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ -").optional(),
  /** Whether this process publishes task events (`edgeq_events.…`, src/events/): core NATS messages, never stored. */
  events: z.boolean().default(true),
});

export type EdgeqConfig = z.output<typeof configSchema>;
export type EdgeqConfigInput = z.input<typeof configSchema>;

/** Parses any zod schema, turning its issues into one ValidationError that names each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(`invalid ${what}: ${describeIssues(result.error)}`);
}

/** Each issue as `<path>: <message>`; `prefix` goes before each path (`--` for command-line flags). */
export function describeIssues(error: z.ZodError, prefix = ""): string {
  return error.issues
    .map((issue) => (issue.path.length ? `${prefix}${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
}

export function resolveConfig(input: EdgeqConfigInput = {}): EdgeqConfig {
  return parseInput(configSchema, input, "edgeq config");
}
