/**
 * Limits across all workers: how they are configured, and the task keys they apply to.
 *
 *   types: {"email.send": {concurrency: 5, rate: "100/s"}}   per task type, beside its retry defaults
 *   keys:  {concurrency: 1, rate: "10/s"}                      per distinct task key (a tenant, a user)
 *
 * A rate is `<count>/<unit>`, the unit `s`, `m` or `h`.
 */
import { z } from "zod";
// names.ts itself, not the door: wire/message.ts imports this file, so the door would be a cycle.
import { TYPE_PATTERN } from "../wire/names.ts";

export interface Rate {
  count: number;
  perMs: number;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000 };
const RATE_PATTERN = /^([1-9][0-9]{0,6})\/([smh])$/;

export const rateSchema = z
  .string({ error: "must be a string such as \"100/s\"" })
  .regex(RATE_PATTERN, "must be <count>/<unit>, the unit s, m or h, such as \"100/s\"")
  .transform((text): Rate => {
    const [, count, unit] = text.match(RATE_PATTERN)!;
    return { count: Number(count), perMs: UNIT_MS[unit] };
  });

/** What may be limited: handlers running at once, and starts per unit of time. */
export const limitSchema = z.strictObject({
  concurrency: z.number().int().min(1).max(10_000).optional(),
  rate: rateSchema.optional(),
});
export type Limit = z.output<typeof limitSchema>;

/** A task's key names a KV key token: no dots or wildcards. */
export const KEY_PATTERN = /^[A-Za-z0-9_=-]{1,128}$/;
export const taskKeySchema = z
  .string({ error: "must be a string" })
  .regex(KEY_PATTERN, "must be 1-128 letters, digits, '_', '-' or '='");

/** Whether a limit limits anything. */
export function limits(limit: Limit | undefined): limit is Limit {
  return limit !== undefined && (limit.concurrency !== undefined || limit.rate !== undefined);
}

/** The types of `types` that have a limit. */
export function typeLimits(types: Record<string, Limit>): Map<string, Limit> {
  return new Map(Object.entries(types).flatMap(([type, { concurrency, rate }]): [string, Limit][] => (limits({ concurrency, rate }) ? [[type, { concurrency, rate }]] : [])));
}

/** `EDGEQ_LIMITS`: the limits alone, as JSON, for processes configured by their environment. */
const limitsJsonSchema = z.strictObject({
  types: z.record(z.string().regex(TYPE_PATTERN, "must be a task type"), limitSchema).optional(),
  keys: limitSchema.optional(),
}, { error: "must be a JSON object of \"types\" and \"keys\"" });
export type LimitsInput = z.input<typeof limitsJsonSchema>;

/** Checks `{"types": {...}, "keys": {...}}` and returns it as given; empty text: none. */
export function parseLimitsJson(text: string): LimitsInput | undefined {
  if (!text.trim()) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error("must be JSON, such as {\"types\": {\"email.send\": {\"concurrency\": 5, \"rate\": \"100/s\"}}, \"keys\": {\"concurrency\": 1}}");
  }
  const checked = limitsJsonSchema.safeParse(value);
  if (!checked.success) throw new Error(checked.error.issues.map((i) => `${i.path.join(".") || "value"}: ${i.message}`).join("; "));
  return value as LimitsInput;
}
