/**
 * Token-bucket rate limiting of submissions, per caller (its token, or its address when the API is
 * open).
 *
 *   EDGEQ_RATE_LIMIT="<n>/s" | "<n>/min" | "off"   (default off)
 *
 * Each caller may burst `n` requests, and gets `n` more per period, spread evenly. Memory stays
 * bounded: a bucket unused for a whole period has refilled, which is the same as having none, so
 * it is dropped; and past `maxCallers` buckets the least recently used goes.
 */
import { ValidationError } from "../wire/mod.ts";

export interface RateLimit {
  limit: number;
  periodMs: number;
}

const PERIODS: Record<string, number> = { s: 1000, min: 60_000 };

/** Parses EDGEQ_RATE_LIMIT; null for no limit. */
export function parseRateLimit(spec: string): RateLimit | null {
  const text = spec.trim();
  if (text === "" || text === "off") return null;
  const match = /^(\d{1,9})\s*\/\s*(s|min)$/.exec(text);
  if (!match || Number(match[1]) < 1) throw new ValidationError(`must be <n>/s, <n>/min (n at least 1) or off, not "${spec}"`);
  return { limit: Number(match[1]), periodMs: PERIODS[match[2]] };
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, in ms. */
  at: number;
}

export class RateLimiter {
  /** In least recently used order: Map iteration follows insertion, and a used bucket is reinserted. */
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;

  constructor(
    private readonly rate: RateLimit,
    private readonly maxCallers = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.#perMs = rate.limit / rate.periodMs;
  }

  /** Buckets held now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a request's token from `caller`'s bucket: 0 if there was one, else ms until there is. */
  take(caller: string): number {
    const now = this.now();
    this.#evictIdle(now);
    const bucket = this.#buckets.get(caller) ?? { tokens: this.rate.limit, at: now };
    bucket.tokens = Math.min(this.rate.limit, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
    this.#buckets.delete(caller);
    this.#buckets.set(caller, bucket);
    if (this.#buckets.size > this.maxCallers) this.#buckets.delete(this.#buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    // Less a hair, so that floating-point dust does not add a whole millisecond.
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs - 1e-6));
  }

  /** Drops the buckets unused for a period, oldest first, stopping at the first that is younger. */
  #evictIdle(now: number): void {
    for (const [caller, bucket] of this.#buckets) {
      if (now - bucket.at < this.rate.periodMs) return;
      this.#buckets.delete(caller);
    }
  }
}
