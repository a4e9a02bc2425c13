/**
 * The system at a glance, from state JetStream already keeps: the work stream's message count, the
 * consumers' unacknowledged counts, worker heartbeats and the workers' reported totals.
 */
import type { Edgeq } from "./client.ts";
import { DELAYED_STREAM, WORK_STREAM } from "../wire/mod.ts";
import type { WorkerInfo } from "../worker/mod.ts";

export interface Health {
  status: "healthy" | "unhealthy";
  /** Live workers (those whose heartbeat has not expired). */
  workers: number;
  /** Stored tasks not in any worker's hands. */
  pending_tasks: number;
  /** Tasks handed to a worker and not yet acknowledged, including those waiting out a retry delay. */
  running_tasks: number;
  /**
   * Tasks that completed, and tasks that failed or died, as the workers report them, within the
   * record retention: each task once, by its latest outcome (a requeued dead letter that dies again
   * is one failed task; one that then completes moves from failed to completed). Each worker
   * reports with its heartbeat, so these trail the outcomes by up to `heartbeatIntervalMs` (5 s),
   * and a stopping worker reports its last ones as it stops.
   */
  completed_tasks: number;
  failed_tasks: number;
  /** Tasks in the dead-letter stream now. */
  dead_tasks: number;
  /** Delayed tasks not yet due (canceled ones among them until their due time). */
  delayed_tasks: number;
  /** Task types delivered to a worker without a handler for them in the last minute, that no live worker has one for: they wait. */
  unserved_types: string[];
  /** "full" when the work stream is at its `max_bytes`, or a submission was refused for lack of storage in the last 10 s (507 storage_full_error); the reason in `storage_error`. */
  storage: "ok" | "full";
  storage_error?: string;
  timestamp: string;
  /** Present when unhealthy. */
  error?: string;
}

export async function readHealth(edgeq: Edgeq): Promise<Health> {
  const timestamp = new Date().toISOString();
  const empty = { workers: 0, pending_tasks: 0, running_tasks: 0, completed_tasks: 0, failed_tasks: 0, dead_tasks: 0, delayed_tasks: 0, unserved_types: [], storage: "ok" as const };
  if (!edgeq.connection.up) return { status: "unhealthy", ...empty, timestamp, error: "NATS is unreachable" };
  try {
    const [stream, consumers, workers, totals, dead, delayed] = await Promise.all([
      edgeq.jsm.streams.info(WORK_STREAM),
      edgeq.jsm.consumers.list(WORK_STREAM).next(),
      edgeq.workers(),
      edgeq.workerTotals(),
      edgeq.deadLetters.count(),
      edgeq.jsm.streams.info(DELAYED_STREAM),
    ]);
    const running = consumers.reduce((n, c) => n + c.num_ack_pending, 0);
    return {
      status: "healthy",
      workers: workers.length,
      pending_tasks: Math.max(0, stream.state.messages - running),
      running_tasks: running,
      completed_tasks: totals.completed,
      // A requeued dead letter's outcome is its second: its first was counted as failed.
      failed_tasks: Math.max(0, totals.failed - totals.requeued),
      dead_tasks: dead,
      delayed_tasks: delayed.state.messages,
      unserved_types: unserved(workers),
      ...storage(stream.config.max_bytes, stream.state.bytes, edgeq.storageRefusals.recent()),
      timestamp,
    };
  } catch (err) {
    // The connection may have gone down while the reads were under way: say so rather than blame JetStream.
    const error = edgeq.connection.up ? `JetStream did not answer: ${(err as Error).message}` : "NATS is unreachable";
    return { status: "unhealthy", ...empty, timestamp, error };
  }
}

/** The types some worker saw without a handler that no live worker has a handler for. */
function unserved(workers: WorkerInfo[]): string[] {
  const served = new Set(workers.flatMap((w) => w.types ?? []));
  return [...new Set(workers.flatMap((w) => w.unserved ?? []))].filter((t) => !served.has(t)).sort();
}

/**
 * Full when the work stream's `max_bytes` leaves less than 1 % of it free (read from the stream info
 * /health reads anyway), or when a submission of this process was refused for lack of storage lately
 * (a store filled by other streams).
 */
function storage(maxBytes: number, bytes: number, refused: string | null): Pick<Health, "storage" | "storage_error"> {
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  if (maxBytes > 0 && bytes >= maxBytes * 0.99) {
    return { storage: "full", storage_error: `the work stream holds ${mib(bytes)} MiB of its max_bytes ${mib(maxBytes)} MiB: submissions are refused until workers drain it` };
  }
  return refused ? { storage: "full", storage_error: `a submission was refused within the last 10 s: ${refused}` } : { storage: "ok" };
}
