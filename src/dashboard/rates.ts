/**
 * Browser-only. Completed and failed tasks per second over the last 15 minutes, counted from the
 * events (`completed`; `failed` and `dead`, the two ways a task ends unsuccessfully), and on load
 * from the records' finish times, so that the chart has the past too.
 */
export const WINDOW_SECONDS = 15 * 60;

export type Outcome = "completed" | "failed";

export class Rates {
  readonly #counts = { completed: new Map<number, number>(), failed: new Map<number, number>() };
  /** The first second whose counts are whole: before it the chart shows a gap, not zeros. */
  #knownFrom = Math.floor(Date.now() / 1000);
  /** Tasks counted already: an event and the backfill may both report one. */
  readonly #seen = new Set<string>();

  add(outcome: Outcome, taskId: string, atMs: number, now = Date.now()): void {
    const second = Math.floor(atMs / 1000);
    if (second <= Math.floor(now / 1000) - WINDOW_SECONDS || this.#seen.has(`${outcome} ${taskId} ${second}`)) return;
    this.#seen.add(`${outcome} ${taskId} ${second}`);
    const counts = this.#counts[outcome];
    counts.set(second, (counts.get(second) ?? 0) + 1);
  }

  /** The counts are whole from `ms` on (the backfill read every outcome since then). */
  knownFrom(ms: number): void {
    this.#knownFrom = Math.min(this.#knownFrom, Math.floor(ms / 1000));
  }

  /** uPlot's data: seconds, then completed and failed per second (null where unknown), oldest first; drops what left the window. */
  series(now = Date.now()): [number[], Array<number | null>, Array<number | null>] {
    const last = Math.floor(now / 1000);
    const first = last - WINDOW_SECONDS + 1;
    for (const counts of Object.values(this.#counts)) for (const s of counts.keys()) if (s < first) counts.delete(s);
    if (this.#seen.size > 100_000) this.#seen.clear();
    const xs: number[] = [];
    const completed: Array<number | null> = [];
    const failed: Array<number | null> = [];
    for (let s = first; s <= last; s++) {
      xs.push(s);
      completed.push(s < this.#knownFrom ? null : this.#counts.completed.get(s) ?? 0);
      failed.push(s < this.#knownFrom ? null : this.#counts.failed.get(s) ?? 0);
    }
    return [xs, completed, failed];
  }

  /** Tasks counted in the window. */
  total(outcome: Outcome): number {
    let n = 0;
    for (const c of this.#counts[outcome].values()) n += c;
    return n;
  }
}
