/**
 * Outcomes per queue over the last minute, for the rates `GET /queues` lists: each worker counts
 * its own in 60 one-second buckets (an array increment per outcome: nothing stored, no round trip)
 * and reports the minute's sums with its heartbeat; the API adds up the live workers' reports.
 */
import type { TaskRecord } from "../wire/mod.ts";

const SECONDS = 60;

/** A queue's outcomes in the last minute (the current second and the 59 before it). */
export interface MinuteOutcomes {
  completed: number;
  /** Failed or dead: attempts that end the task without success (retries are not counted). */
  failed: number;
}

interface Ring {
  /** The second (ms since the epoch / 1000) each bucket counts, and its counts. */
  second: Float64Array;
  completed: Uint32Array;
  failed: Uint32Array;
}

export class OutcomeRates {
  readonly #byQueue = new Map<string, Ring>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts an outcome this worker stored. */
  count(record: TaskRecord): void {
    const failed = record.status === "failed" || record.status === "dead";
    if (record.status !== "completed" && !failed) return;
    let ring = this.#byQueue.get(record.queue);
    if (!ring) this.#byQueue.set(record.queue, ring = { second: new Float64Array(SECONDS), completed: new Uint32Array(SECONDS), failed: new Uint32Array(SECONDS) });
    const second = Math.floor(this.now() / 1000);
    const i = second % SECONDS;
    if (ring.second[i] !== second) {
      ring.second[i] = second;
      ring.completed[i] = ring.failed[i] = 0;
    }
    (failed ? ring.failed : ring.completed)[i]++;
  }

  /** Each queue's outcomes in the last minute; queues with none are left out. */
  lastMinute(): Record<string, MinuteOutcomes> {
    const since = Math.floor(this.now() / 1000) - SECONDS;
    const out: Record<string, MinuteOutcomes> = {};
    for (const [queue, ring] of this.#byQueue) {
      let completed = 0;
      let failed = 0;
      for (let i = 0; i < SECONDS; i++) {
        if (ring.second[i] <= since) continue;
        completed += ring.completed[i];
        failed += ring.failed[i];
      }
      if (completed + failed > 0) out[queue] = { completed, failed };
    }
    return out;
  }
}
