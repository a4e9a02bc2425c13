/**
 * Progress a handler reports with `ctx.progress(value)`: a number from 0 to 100, or any JSON of at
 * most 4 KiB, kept in the record's `progress`. Writes are throttled, the latest value winning, so
 * that a handler calling it in a tight loop costs at most a few writes a second. A write is the
 * run's `running` record with the value, conditional on the run's revision like every other write
 * of the run, and the outcome waits for it (`run.writing`), so the two cannot cross. The outcome
 * keeps the last value.
 */
import { ValidationError } from "../wire/mod.ts";
import { emitProgress } from "../events/emit.ts";
import type { Events } from "../events/events.ts";
import type { TaskRecords } from "../tasks/mod.ts";
import { isoNow, type Run } from "./run.ts";

/** At most one progress write per this long, per run. */
export const PROGRESS_INTERVAL_MS = 250;
/** The largest progress value, as JSON. */
export const MAX_PROGRESS_BYTES = 4096;

const encoder = new TextEncoder();

/** Throws ValidationError unless `value` is a number 0–100 or JSON of at most 4 KiB. */
export function checkProgress(value: unknown): void {
  if (typeof value === "number") {
    if (!(value >= 0 && value <= 100)) throw new ValidationError(`progress: a number must be from 0 to 100, not ${value}`);
    return;
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new ValidationError(`progress: must be a number or JSON (${(err as Error).message})`);
  }
  if (json === undefined) throw new ValidationError("progress: must be a number or JSON");
  const bytes = encoder.encode(json).length;
  if (bytes > MAX_PROGRESS_BYTES) throw new ValidationError(`progress: its JSON is ${bytes} bytes; the limit is ${MAX_PROGRESS_BYTES}`);
}

export class Progress {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastWriteMs = -Infinity;
  /** Set when a write was refused: the record has moved on (a cancel, a take-over), so no more are sent. */
  #refused = false;

  constructor(
    private readonly run: Run,
    private readonly records: TaskRecords,
    private readonly report: (err: unknown) => void,
    private readonly events: Events,
  ) {}

  set(value: unknown): void {
    checkProgress(value);
    const run = this.run;
    // In place: a record already sent was encoded when it was sent, and a tight loop makes no copies.
    run.record!.progress = value;
    // A progress write stores `running` too: the lease timer need not.
    run.runningAsked = true;
    if (this.#timer !== undefined || this.#refused) return;
    const wait = Math.max(0, this.#lastWriteMs + PROGRESS_INTERVAL_MS - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#write();
    }, wait);
  }

  async #write(): Promise<void> {
    const run = this.run;
    while (run.writing) await run.writing;
    if (run.finishing || run.returned || this.#refused) return;
    this.#lastWriteMs = performance.now();
    const record = { ...run.record!, updated_at: isoNow() };
    if (!(await run.storeRunning(this.records, record, this.report))) this.#refused = true;
    // Its event is throttled as the writes are: one per stored write.
    else if (run.runningStored) emitProgress(this.events, record);
  }
}
