/**
 * Rate limits as a shared GCRA token bucket: one KV entry per scope, `rate.<scope>`, holding `tat`,
 * the time (ms since the epoch) at which the bucket is next empty of debt. A start at `now` moves it
 * to max(tat, now) + interval, and is allowed while that stays within the burst tolerance of now;
 * each move is a write conditional on the entry's revision, so two workers cannot spend one start.
 *
 * The burst tolerance is 100 ms worth of starts (at least one): over any window W, at most
 * W × rate + that many start. Each worker remembers the last value it saw: as tat only moves
 * forward, a wait it computes from it is a lower bound, and costs no round trip. The workers' clocks
 * are compared: a skew of d ms between two lets through d × rate more starts.
 */
import type { Rate } from "./limit.ts";
import type { LimitEntries } from "./entries.ts";

interface RateValue {
  tat: number;
}

/** The burst tolerance, as a span of time's worth of starts. */
const BURST_MS = 100;
/** Writes tried in one take before it waits a moment (others kept winning). */
const MAX_TRIES = 4;

export class RateLimits {
  readonly #known = new Map<string, { tat: number; revision: number }>();

  constructor(private readonly entries: LimitEntries, private readonly now: () => number = Date.now) {}

  /** How long before a start of `scope` may be taken, from what this worker knows: no round trip. */
  waitMs(scope: string, rate: Rate): number {
    const known = this.#known.get(scope);
    return known ? Math.max(0, this.#wait(known.tat, rate)) : 0;
  }

  /** Takes one start: resolves 0 when taken, else how many ms to wait before asking again. */
  async take(scope: string, rate: Rate): Promise<number> {
    const interval = rate.perMs / rate.count;
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const known = this.#known.get(scope) ?? await this.#read(scope);
      const wait = this.#wait(known.tat, rate);
      if (wait > 0) return wait;
      const tat = Math.max(known.tat, this.now()) + interval;
      const revision = await this.entries.put(`rate.${scope}`, { tat } satisfies RateValue, known.revision);
      if (revision !== null) {
        this.#remember(scope, { tat, revision });
        return 0;
      }
      this.#known.delete(scope);
    }
    return interval;
  }

  /** The wait before the next start, given `tat`: negative when one may start now. */
  #wait(tat: number, rate: Rate): number {
    const interval = rate.perMs / rate.count;
    const tolerance = Math.max(1, Math.floor((rate.count * BURST_MS) / rate.perMs)) * interval;
    const now = this.now();
    return Math.max(tat, now) + interval - now - tolerance;
  }

  async #read(scope: string): Promise<{ tat: number; revision: number }> {
    const entry = await this.entries.read<RateValue>(`rate.${scope}`);
    const known = entry && Number.isFinite(entry.value.tat) ? { tat: entry.value.tat, revision: entry.revision } : { tat: 0, revision: entry?.revision ?? 0 };
    this.#remember(scope, known);
    return known;
  }

  #remember(scope: string, known: { tat: number; revision: number }): void {
    if (this.#known.size >= 10_000) this.#known.clear();
    this.#known.set(scope, known);
  }
}
