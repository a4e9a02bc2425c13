/**
 * Worker liveness. Each worker rewrites its entry in the workers bucket every interval; the bucket's
 * max age removes the entry of a worker that stops beating, so the bucket lists exactly the live
 * workers. Cumulative outcome counts go to the stats bucket with the same beat, so counting
 * completions costs nothing per task.
 */
import type { KV } from "@nats-io/kv";
import { STATS_BUCKET, WORKERS_BUCKET } from "../wire/mod.ts";
import { type BucketReader, readEntries } from "../nats/mod.ts";
import type { MinuteOutcomes } from "./outcome-rates.ts";

/** What a worker publishes about itself; `GET /workers` returns these. */
export interface WorkerInfo {
  id: string;
  host: string;
  runtime: string;
  queues: string[];
  concurrency: number;
  in_flight: number;
  /** Ids of the tasks running now. */
  running: string[];
  /** The task types it has handlers for. */
  types: string[];
  /** Types delivered to it in the last minute that it has no handler for (left for another worker). */
  unserved: string[];
  processed: number;
  /** Outcomes this worker stored since it started: completed, and failed or dead. */
  completed: number;
  failed: number;
  /** Of those, outcomes of requeued dead letters (each of which had failed once before). */
  requeued: number;
  /** Its outcomes in the last minute, by queue (outcome-rates.ts); absent from workers older than it. */
  last_minute?: Record<string, MinuteOutcomes>;
  started_at: string;
  last_heartbeat: string;
}

/** Outcomes one worker has recorded since it started. */
export interface WorkerStats {
  completed: number;
  failed: number;
  /** Absent in the entries of workers older than the count. */
  requeued?: number;
}

const encoder = new TextEncoder();

export class Heartbeat {
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastStats = "";

  constructor(
    private readonly workers: KV,
    private readonly stats: KV,
    private readonly snapshot: () => WorkerInfo,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => this.beat().catch(this.onError), this.intervalMs);
  }

  async beat(): Promise<void> {
    const info = { ...this.snapshot(), last_heartbeat: new Date().toISOString() };
    const stats = JSON.stringify({ completed: info.completed, failed: info.failed, requeued: info.requeued } satisfies WorkerStats);
    await Promise.all([
      this.workers.put(info.id, encoder.encode(JSON.stringify(info))),
      stats === this.#lastStats ? undefined : this.stats.put(info.id, encoder.encode(stats)),
    ]);
    this.#lastStats = stats;
  }

  /** Stops beating; the entry expires on its own. */
  halt(): void {
    clearInterval(this.#timer);
  }

  /** Writes the final counts and removes the worker from the live list. */
  async stop(): Promise<void> {
    this.halt();
    await this.beat();
    await this.workers.delete(this.snapshot().id);
  }
}

/** Every live worker's last heartbeat. */
export async function listWorkers(reader: BucketReader): Promise<WorkerInfo[]> {
  return (await readEntries<WorkerInfo>(reader, WORKERS_BUCKET)).map(([, info]) => info).sort((a, b) => a.id.localeCompare(b.id));
}

/** Completions and failures reported by every worker within the retention window. */
export async function totalStats(reader: BucketReader): Promise<Required<WorkerStats>> {
  const all = await readEntries<WorkerStats>(reader, STATS_BUCKET);
  const sum = { completed: 0, failed: 0, requeued: 0 };
  for (const [, s] of all) {
    sum.completed += s.completed;
    sum.failed += s.failed;
    sum.requeued += s.requeued ?? 0;
  }
  return sum;
}
