import { z } from "zod";
import { ValidationError } from "./errors.ts";

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
  /** Attempts per task unless a submission says otherwise. */
  maxAttempts: z.number().int().min(1).max(1000).default(3),
  /**
   * JetStream domain of the servers that hold edgeq's streams. Needed only by processes connected to a
   * leaf node without JetStream of its own: they reach the hub's JetStream as `$JS.<domain>.API`.
   */
  jsDomain: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ -").optional(),
});

export type EdgeqConfig = z.output<typeof configSchema>;
export type EdgeqConfigInput = z.input<typeof configSchema>;

/** Parses any zod schema, turning its issues into one ValidationError that names each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(`invalid ${what}: ${describeIssues(result.error)}`);
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
}

export function resolveConfig(input: EdgeqConfigInput = {}): EdgeqConfig {
  return parseInput(configSchema, input, "edgeq config");
}
