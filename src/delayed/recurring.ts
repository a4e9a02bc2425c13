/**
 * Submitting recurring tasks, by the process holding the scheduler's lease. For each schedule that
 * is not paused and whose next tick (after its last, or its creation) has come, the task of the
 * latest tick due is submitted under the id `sched-<name>-<tick ms>`, then the tick is recorded in
 * the schedule, conditional on its revision. A holder that dies in between leaves the tick
 * unrecorded: the next holder submits it again under the same id, and the work stream's duplicate
 * window (2 min) drops the repeat, so each tick is stored once. The ticks of the last minute that
 * were missed (a holder died and the lease moved) are all submitted, in order. Of ticks missed for
 * longer (no process ran the scheduler), only the latest is, if it is less than a day old: catch up one.
 */
import type { Edgeq } from "../client/mod.ts";
import { scheduledTaskId } from "../wire/mod.ts";
import { pattern, type Schedule } from "./schedules.ts";

/** How often the schedules are read again (a new one, or a change, applies within this). */
const REREAD_MS = 1000;
/** Ticks missed within this long are all submitted; beyond it, only the latest. */
const CATCH_UP_ALL_MS = 60_000;
/** How far back a missed tick is looked for. */
const CATCH_UP_MS = 86_400_000;

export class Recurring {
  #schedules: Schedule[] = [];
  #readAt = -Infinity;

  constructor(
    private readonly edgeq: Edgeq,
    private readonly now: () => number,
    private readonly report: (err: unknown) => void,
  ) {}

  /** Submits the ticks that have come. */
  async tick(): Promise<void> {
    if (this.now() - this.#readAt >= REREAD_MS) {
      this.#schedules = await this.edgeq.schedules.list();
      this.#readAt = this.now();
    }
    for (const [i, s] of this.#schedules.entries()) {
      try {
        for (const tick of s.paused ? [] : dueTicks(s, this.now())) {
          await this.edgeq.queue(s.queue).submit(s.type, s.data, { id: scheduledTaskId(s.name, tick), priority: s.priority });
          this.#schedules[i] = { ...s, last_tick: tick };
          await this.#record(s.name, tick);
        }
      } catch (err) {
        // This schedule's tick is tried again with the next read; the others go on.
        this.#schedules[i] = { ...this.#schedules[i], paused: true };
        this.report(err);
      }
    }
  }

  /** Records the tick in the schedule as it is now (paused or edited meanwhile, those changes stay). */
  async #record(name: string, tick: number): Promise<void> {
    for (let tries = 0; tries < 3; tries++) {
      const found = await this.edgeq.schedules.read(name);
      // Gone, or replaced by a schedule that counts from after this tick.
      if (!found || Date.parse(found.schedule.created_at) > tick || (found.schedule.last_tick ?? 0) >= tick) return;
      try {
        await this.edgeq.buckets.schedules.update(name, JSON.stringify({ ...found.schedule, last_tick: tick, next_run: undefined }), found.revision);
        return;
      } catch {
        // Written meanwhile: read again.
      }
    }
  }
}

/** The ticks of `s` that have come and were not submitted yet, oldest first. */
function dueTicks(s: Schedule, now: number): number[] {
  const cron = pattern(s.cron, s.tz);
  const ticks: number[] = [];
  let next = cron.nextRun(new Date(Math.max(s.last_tick ?? Date.parse(s.created_at), now - CATCH_UP_MS)));
  for (; next && next.getTime() <= now; next = cron.nextRun(next)) {
    if (next.getTime() < now - CATCH_UP_ALL_MS) ticks.length = 0; // only the latest of the older ones
    ticks.push(next.getTime());
  }
  return ticks;
}
