/**
 * Worker liveness. Each worker rewrites its entry in the workers bucket every interval; the bucket's
 * max age removes the entry of a worker that stops beating, so the bucket lists exactly the live
 * workers. Cumulative outcome counts go to the stats bucket with the same beat, so counting
 * completions costs nothing per task.
 */
import type { KV } from "@nats-io/kv";
import { KV_OPERATION_HEADER } from "./names.ts";
import type { StreamScanner } from "./scan.ts";

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
  processed: number;
  completed: number;
  failed: number;
  started_at: string;
  last_heartbeat: string;
}

/** Outcomes one worker has recorded since it started. */
export interface WorkerStats {
  completed: number;
  failed: number;
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
    const stats = JSON.stringify({ completed: info.completed, failed: info.failed } satisfies WorkerStats);
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

/** Every live worker's last heartbeat, from a scanner of the workers bucket. */
export async function listWorkers(workers: StreamScanner): Promise<WorkerInfo[]> {
  return (await readAll<WorkerInfo>(workers)).sort((a, b) => a.id.localeCompare(b.id));
}

/** Completions and failures reported by every worker within the retention window. */
export async function totalStats(stats: StreamScanner): Promise<WorkerStats> {
  const all = await readAll<WorkerStats>(stats);
  return all.reduce((sum, s) => ({ completed: sum.completed + s.completed, failed: sum.failed + s.failed }), {
    completed: 0,
    failed: 0,
  });
}

const decoder = new TextDecoder();

/**
 * Every live entry of a bucket (history 1: one message per key), read to the end by the scanner.
 * Not nats.js's `kv.keys()`, whose ordered consumer stalled /health and /workers under load.
 */
async function readAll<T>(bucket: StreamScanner): Promise<T[]> {
  const latest = new Map<string, T | null>();
  await bucket.scan(1, (d) => {
    latest.set(d.msg.subject, d.msg.headers?.get(KV_OPERATION_HEADER) ? null : parseEntry<T>(d.msg.data));
    return true;
  });
  return [...latest.values()].filter((v): v is T => v !== null);
}

function parseEntry<T>(bytes: Uint8Array): T | null {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch {
    return null; // not written by edgeq
  }
}
