/**
 * Samples processes' resident memory (from /proc) through a run and compares what each used after
 * its warm-up with its level during it. The run is cut into ten windows; a window's level is the
 * median of its samples, so that a burst (V8 growing its young generation for a few seconds while a
 * killed worker's tasks come back) is not taken for growth, while a leak, which raises every sample
 * from some point on, is. Growth is the highest level after the warm-up against the warm-up's peak;
 * the peaks are reported too.
 */
import { rssMb } from "../../bench/procstat.ts";

export interface RssSummary {
  /** Peak during the warm-up window, MB. */
  warmup_mb: number;
  /** The highest level (a window's median) after it, MB. */
  after_mb: number;
  /** How much `after_mb` exceeds `warmup_mb`, in per cent (negative: below it). */
  growth_pct: number;
  /** The highest sample after the warm-up, MB, and how much it exceeds `warmup_mb`, in per cent. */
  after_peak_mb: number;
  peak_growth_pct: number;
  /** The level of each tenth of the run, MB: where the memory went. */
  levels_mb: number[];
}

const round = (n: number) => Math.round(n * 10) / 10;

export class RssWatch {
  readonly #samples = new Map<string, Array<{ at: number; mb: number }>>();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #startedAt = Date.now();

  /** `pids` names each process watched; a pid getter, so that a restarted process is followed. */
  constructor(
    private readonly pids: Record<string, () => number | undefined>,
    private readonly warmupMs: number,
    intervalMs = 1000,
  ) {
    for (const name of Object.keys(pids)) this.#samples.set(name, []);
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  sample(): void {
    const at = Date.now() - this.#startedAt;
    for (const [name, pid] of Object.entries(this.pids)) {
      const id = pid();
      if (id === undefined) continue;
      try {
        this.#samples.get(name)!.push({ at, mb: rssMb(id) });
      } catch {
        // exited between the look and the read
      }
    }
  }

  /** Stops sampling (after one last sample) and reports each process. */
  stop(): Record<string, RssSummary> {
    this.sample();
    clearInterval(this.#timer);
    const tenth = (Date.now() - this.#startedAt) / 10;
    return Object.fromEntries(
      [...this.#samples].map(([name, samples]) => {
        const within = (from: number, to: number) => samples.filter((s) => s.at >= from && s.at < to).map((s) => s.mb);
        const windows = Array.from({ length: 10 }, (_, i) => ({ from: i * tenth, mbs: within(i * tenth, i === 9 ? Infinity : (i + 1) * tenth) }));
        const warmup = Math.max(0, ...within(0, this.warmupMs));
        const after = Math.max(0, ...windows.filter((w) => w.from >= this.warmupMs).map((w) => median(w.mbs)));
        const afterPeak = Math.max(0, ...within(this.warmupMs, Infinity));
        const growth = (mb: number) => round((mb / warmup - 1) * 100);
        return [name, {
          warmup_mb: round(warmup),
          after_mb: round(after),
          growth_pct: growth(after),
          after_peak_mb: round(afterPeak),
          peak_growth_pct: growth(afterPeak),
          levels_mb: windows.map((w) => round(median(w.mbs))),
        }];
      }),
    );
  }
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
