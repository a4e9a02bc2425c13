/**
 * Pausing and resuming queues, and listing them. A paused queue still accepts submissions; its
 * workers start nothing new from it (their running tasks finish). The state is durable: an entry
 * `{"paused": true, "paused_at": …}` under the queue's name in the `edgeq_queues` bucket, deleted
 * on resume. Each change is followed by a notice on `edgeq_queue.<queue>` carrying the new state,
 * which workers apply at once and then check against the bucket; they also read the bucket at
 * start, after a reconnect and with every heartbeat, so a notice missed while cut off is caught up with.
 */
import type { KV } from "@nats-io/kv";
import { PRIORITIES, type Priority, queueNoticeSubject, QUEUES_BUCKET, SUBJECT_ROOT, WORK_STREAM } from "../wire/mod.ts";
import { type BucketReader, readEntries, readEntry } from "../nats/mod.ts";
import { listWorkers } from "../worker/mod.ts";

export interface QueueState {
  paused: boolean;
  paused_at?: string;
}

/** What `GET /queues` lists for each queue. */
export interface QueueSummary {
  name: string;
  paused: boolean;
  paused_at: string | null;
  /** Tasks stored and not yet handed to a worker, per priority. */
  pending: Record<Priority, number>;
  /** Tasks handed to a worker and not yet settled (running, or waiting out a retry delay). */
  running: number;
  /** Types its workers were handed without a handler for them, that none of them has: they wait. */
  unserved_types: string[];
  /**
   * Outcomes per second over the last minute (`window_s`), summed from the live workers' heartbeats:
   * as old as their last beat (the heartbeat interval, 5 s by default); a worker that died takes its
   * counts with it when its heartbeat expires. Failed counts failed and dead tasks, not retries.
   */
  rates: QueueRates;
}

export interface QueueRates {
  window_s: number;
  completed_per_s: number;
  failed_per_s: number;
}

/** The span the workers' outcome counts cover (worker/outcome-rates.ts). */
const RATE_WINDOW_S = 60;

const RUNNING: QueueState = { paused: false };
const encoder = new TextEncoder();

export class QueueStates {
  constructor(
    private readonly bucket: KV,
    private readonly reader: BucketReader,
    /** Sends a notice, with no answer awaited. */
    private readonly notify: (subject: string, body: Uint8Array) => void,
  ) {}

  async pause(queue: string): Promise<QueueState> {
    const current = await this.get(queue);
    if (current.paused) return current;
    const paused = { paused: true, paused_at: new Date().toISOString() };
    await this.bucket.put(queue, JSON.stringify(paused));
    this.notify(queueNoticeSubject(queue), encoder.encode(JSON.stringify(paused)));
    return paused;
  }

  async resume(queue: string): Promise<QueueState> {
    await this.bucket.delete(queue);
    this.notify(queueNoticeSubject(queue), encoder.encode(JSON.stringify(RUNNING)));
    return RUNNING;
  }

  async get(queue: string): Promise<QueueState> {
    return { ...RUNNING, ...await readEntry<QueueState>(this.reader, QUEUES_BUCKET, queue) };
  }

  /** Every queue with consumers (every queue a worker has served, and `default`), or a state; by name. */
  async list(): Promise<QueueSummary[]> {
    const [consumers, states, workers] = await Promise.all([
      this.reader.jsm.consumers.list(WORK_STREAM).next(),
      readEntries<QueueState>(this.reader, QUEUES_BUCKET),
      listWorkers(this.reader),
    ]);
    const byName = new Map<string, QueueSummary>();
    const summary = (name: string) => {
      let s = byName.get(name);
      if (!s) {
        const serving = workers.filter((w) => w.queues.includes(name));
        const served = new Set(serving.flatMap((w) => w.types ?? []));
        const unserved = [...new Set(serving.flatMap((w) => w.unserved ?? []))].filter((t) => !served.has(t)).sort();
        const minute = workers.map((w) => w.last_minute?.[name]);
        const perS = (n: number) => Math.round((n / RATE_WINDOW_S) * 1000) / 1000;
        const rates = {
          window_s: RATE_WINDOW_S,
          completed_per_s: perS(minute.reduce((sum, m) => sum + (m?.completed ?? 0), 0)),
          failed_per_s: perS(minute.reduce((sum, m) => sum + (m?.failed ?? 0), 0)),
        };
        byName.set(name, s = { name, paused: false, paused_at: null, pending: { high: 0, normal: 0, low: 0 }, running: 0, unserved_types: unserved, rates });
      }
      return s;
    };
    for (const c of consumers) {
      // `edgeq.<queue>.<priority>.>`: edgeq's consumers; others on the stream are not queues.
      const [root, queue, priority, rest] = (c.config.filter_subject ?? "").split(".");
      if (root !== SUBJECT_ROOT || rest !== ">" || !(PRIORITIES as readonly string[]).includes(priority)) continue;
      const s = summary(queue);
      s.pending[priority as Priority] += c.num_pending;
      s.running += c.num_ack_pending;
    }
    for (const [name, state] of states) {
      if (!state.paused) continue;
      Object.assign(summary(name), { paused: true, paused_at: state.paused_at ?? null });
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
