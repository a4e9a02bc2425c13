/**
 * Retry policy: how many attempts a task gets, how long a worker waits before the next one, and how
 * long one attempt may run. A submission may set each; what it leaves out comes from the task
 * type's defaults, then the queue's, then the global ones (see nats/config.ts). The submitter resolves
 * the policy and sends it with the task, so every worker applies the same one; a plain `nats pub`
 * without the headers gets the worker's defaults.
 *
 * Delays are applied by the worker with `nak(delay)`, not by a consumer BackOff list: BackOff is one
 * list per consumer, while the policy here is per task, and on nats-server 2.9 BackOff also
 * requires max_deliver above the list's length, which would let the server end a task silently.
 */
import { z } from "zod";

/** Longest delay or time-out: a week. */
const MAX_MS = 7 * 24 * 3600_000;

export type Backoff =
  | { kind: "exponential"; baseMs: number; maxMs: number }
  | { kind: "fixed"; delayMs: number }
  | { kind: "list"; delaysMs: number[] };

export const DEFAULT_BACKOFF = "exponential:1000:60000";
const BACKOFF_FORMS = "exponential[:<base ms>[:<max ms>]], fixed:<ms> or list:<ms>,<ms>,…";

/** Reads `exponential:1000:60000`, `fixed:5000` or `list:1000,5000,30000`; null if it is none of them. */
export function parseBackoff(spec: string): Backoff | null {
  const [kind, ...args] = spec.split(":");
  // Digits only: Number() would also take " ", "0x10", "1e3", and line breaks that cannot go in a header.
  const texts = (args[0] ?? "").split(",").filter((s) => s !== "");
  if (args.length > 2 || !texts.every((t) => /^\d{1,9}$/.test(t)) || (args[1] !== undefined && !/^\d{1,9}$/.test(args[1]))) return null;
  const numbers = texts.map(Number);
  if (!numbers.every((n) => n <= MAX_MS)) return null;
  switch (kind) {
    case "exponential": {
      const baseMs = numbers[0] ?? 1000;
      const maxMs = args[1] === undefined ? Math.max(60_000, baseMs) : Number(args[1]);
      const ok = numbers.length <= 1 && Number.isInteger(maxMs) && maxMs >= baseMs && maxMs <= MAX_MS;
      return ok ? { kind, baseMs, maxMs } : null;
    }
    case "fixed":
      return numbers.length === 1 && args.length === 1 ? { kind, delayMs: numbers[0] } : null;
    case "list":
      return numbers.length >= 1 && numbers.length <= 100 && args.length === 1 ? { kind, delaysMs: numbers } : null;
    default:
      return null;
  }
}

/**
 * Delay before attempt `attempt + 1`, after attempt `attempt` (1-based) failed. Exponential delays
 * are jittered between half and all of their value, so that tasks failing together do not return
 * together.
 */
export function retryDelayMs(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  switch (backoff.kind) {
    case "exponential": {
      const full = Math.min(backoff.baseMs * 2 ** (attempt - 1), backoff.maxMs);
      return Math.round(full / 2 + random() * (full / 2));
    }
    case "fixed":
      return backoff.delayMs;
    case "list":
      return backoff.delaysMs[Math.min(attempt, backoff.delaysMs.length) - 1];
  }
}

export const backoffSchema = z
  .string({ error: `must be a string: ${BACKOFF_FORMS}` })
  .refine((s) => parseBackoff(s) !== null, `must be ${BACKOFF_FORMS}, with delays up to ${MAX_MS} ms`);
export const maxAttemptsSchema = z
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(1000, "must be at most 1000");
export const timeoutSchema = z
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(MAX_MS, `must be at most ${MAX_MS}`);

export interface RetryPolicy {
  maxAttempts: number;
  backoff: string;
  /** Null: an attempt may run as long as it keeps its worker alive. */
  timeoutMs: number | null;
}

/** Defaults a queue or a task type may set. */
export const policyDefaultsSchema = z.strictObject({
  maxAttempts: maxAttemptsSchema.optional(),
  backoff: backoffSchema.optional(),
  timeoutMs: timeoutSchema.optional(),
});
export type PolicyDefaults = z.output<typeof policyDefaultsSchema>;

/** The settings `resolvePolicy` reads: the global defaults and the per-queue and per-type ones. */
export interface PolicySources {
  maxAttempts: number;
  backoff: string;
  timeoutMs?: number;
  queues: Record<string, PolicyDefaults>;
  types: Record<string, PolicyDefaults>;
}

/** The policy of one task: what the submission set, else its type's, its queue's, the global default. */
export function resolvePolicy(sources: PolicySources, queue: string, type: string, given: Partial<RetryPolicy>): RetryPolicy {
  const layers = [given, sources.types[type], sources.queues[queue], sources];
  const pick = <K extends keyof RetryPolicy>(key: K) => layers.find((layer) => layer?.[key] != null)?.[key];
  return {
    maxAttempts: pick("maxAttempts") as number,
    backoff: pick("backoff") as string,
    timeoutMs: (pick("timeoutMs") as number | undefined) ?? null,
  };
}
