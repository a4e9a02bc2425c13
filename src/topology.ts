/**
 * Creates the streams, consumers and buckets edgeq needs, idempotently: every process calls this at
 * start-up and the first one to run creates what is missing. Existing objects keep their data; the
 * settings edgeq owns (replicas, windows, ack wait) are brought in line with the configuration.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { EdgeqConfig } from "./config.ts";
import {
  consumerFilter,
  consumerName,
  PRIORITIES,
  STATS_BUCKET,
  TASKS_BUCKET,
  WORK_STREAM,
  WORKERS_BUCKET,
  workStreamSubjects,
} from "./names.ts";

const ns = (ms: number) => ms * 1_000_000;

export interface Buckets {
  tasks: KV;
  workers: KV;
  stats: KV;
}

export async function ensureTopology(js: JetStreamClient, jsm: JetStreamManager, config: EdgeqConfig): Promise<Buckets> {
  await ensureWorkStream(jsm, config);
  const kvm = new Kvm(js);
  const [tasks, workers, stats] = await Promise.all([
    kvm.create(TASKS_BUCKET, { history: 1, ttl: config.retentionMs, replicas: config.replicas, storage: StorageType.File }),
    // Heartbeats are rewritten every few seconds: memory is enough and spares the disk.
    kvm.create(WORKERS_BUCKET, { history: 1, ttl: config.workerTtlMs, replicas: config.replicas, storage: StorageType.Memory }),
    kvm.create(STATS_BUCKET, { history: 1, ttl: config.retentionMs, replicas: config.replicas, storage: StorageType.File }),
  ]);
  return { tasks, workers, stats };
}

async function ensureWorkStream(jsm: JetStreamManager, config: EdgeqConfig): Promise<void> {
  const stream = {
    name: WORK_STREAM,
    subjects: workStreamSubjects(),
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: config.replicas,
    duplicate_window: ns(config.duplicateWindowMs),
  };
  try {
    await jsm.streams.add(stream);
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    // Already there with other settings: update the ones we own.
    await jsm.streams.update(WORK_STREAM, stream);
  }
}

/** The durable pull consumers serving one queue, one per priority. */
export async function ensureQueueConsumers(jsm: JetStreamManager, queue: string, config: EdgeqConfig): Promise<void> {
  await Promise.all(
    PRIORITIES.map(async (priority) => {
      const consumer = {
        durable_name: consumerName(queue, priority),
        filter_subject: consumerFilter(queue, priority),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ns(config.ackWaitMs),
        max_ack_pending: config.maxAckPending,
        // Redelivery is bounded by edgeq's own attempt count, which knows failures from crashes.
        max_deliver: -1,
      };
      try {
        await jsm.consumers.add(WORK_STREAM, consumer);
      } catch (err) {
        if (!(err instanceof JetStreamApiError)) throw err;
        await jsm.consumers.update(WORK_STREAM, consumer.durable_name, {
          ack_wait: consumer.ack_wait,
          max_ack_pending: consumer.max_ack_pending,
        });
      }
    }),
  );
}
