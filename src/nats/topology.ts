/**
 * Creates the streams, consumers and buckets edgeq needs, idempotently: every process calls this at
 * start-up and the first one to run creates what is missing. What exists is left as it is, data and
 * settings alike, so that processes started with different settings do not undo each other; the
 * configuration applies to what a process creates.
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
  DEAD_STREAM,
  DEAD_SUBJECT_ROOT,
  DELAYED_STREAM,
  DELAYED_SUBJECT_ROOT,
  FLOWS_BUCKET,
  isNotFound,
  LIMITS_BUCKET,
  PRIORITIES,
  QUEUES_BUCKET,
  SCHEDULER_BUCKET,
  SCHEDULES_BUCKET,
  STATS_BUCKET,
  TASKS_BUCKET,
  WORK_STREAM,
  WORKERS_BUCKET,
  workStreamSubjects,
} from "../wire/mod.ts";

const ns = (ms: number) => ms * 1_000_000;

export interface Buckets {
  tasks: KV;
  workers: KV;
  stats: KV;
  queues: KV;
  scheduler: KV;
  schedules: KV;
  flows: KV;
  limits: KV;
}

export async function ensureTopology(js: JetStreamClient, jsm: JetStreamManager, config: EdgeqConfig): Promise<Buckets> {
  await Promise.all([
    ensureWorkStream(jsm, config),
    // Dead letters stay until someone requeues or purges them; one per task id, the newest.
    ensureLimitsStream(jsm, config, DEAD_STREAM, DEAD_SUBJECT_ROOT, { max_msgs_per_subject: 1 }),
    // Delayed tasks until they fall due; the scheduler purges them once promoted.
    ensureLimitsStream(jsm, config, DELAYED_STREAM, DELAYED_SUBJECT_ROOT),
  ]);
  const kvm = new Kvm(js);
  const [tasks, workers, stats, queues, scheduler, schedules, flows, limits] = await Promise.all([
    // No bucket-wide max age: that would expire unfinished tasks too. Workers sweep finished ones.
    kvm.create(TASKS_BUCKET, { history: 1, replicas: config.replicas, storage: StorageType.File }),
    // File storage although heartbeats are short-lived: a memory stream would vanish with a server restart.
    kvm.create(WORKERS_BUCKET, { history: 1, ttl: config.workerTtlMs, replicas: config.replicas, storage: StorageType.File }),
    kvm.create(STATS_BUCKET, { history: 1, ttl: config.retentionMs, replicas: config.replicas, storage: StorageType.File }),
    kvm.create(QUEUES_BUCKET, { history: 1, replicas: config.replicas, storage: StorageType.File }),
    kvm.create(SCHEDULER_BUCKET, { history: 1, replicas: config.replicas, storage: StorageType.File }),
    kvm.create(SCHEDULES_BUCKET, { history: 1, replicas: config.replicas, storage: StorageType.File }),
    kvm.create(FLOWS_BUCKET, { history: 1, replicas: config.replicas, storage: StorageType.File }),
    // Limit slots are bound to their holder's heartbeat, not to an age: a long run keeps its slot.
    kvm.create(LIMITS_BUCKET, { history: 1, replicas: config.replicas, storage: StorageType.File }),
  ]);
  return { tasks, workers, stats, queues, scheduler, schedules, flows, limits };
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
  await createUnlessExists(() => jsm.streams.info(WORK_STREAM), () => jsm.streams.add(stream));
}

/** A stream of `<root>.>` with no age limit, de-duplicating by message id as the work stream does. */
async function ensureLimitsStream(jsm: JetStreamManager, config: EdgeqConfig, name: string, root: string, extra: { max_msgs_per_subject?: number } = {}) {
  const stream = {
    name,
    subjects: [`${root}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: config.replicas,
    duplicate_window: ns(config.duplicateWindowMs),
    ...extra,
  };
  await createUnlessExists(() => jsm.streams.info(name), () => jsm.streams.add(stream));
}

/**
 * The durable pull consumers serving one queue, one per priority. Returns the shortest ack wait they
 * have, in ms, which may differ from the configuration if another process created them.
 */
export async function ensureQueueConsumers(jsm: JetStreamManager, queue: string, config: EdgeqConfig): Promise<number> {
  const infos = await Promise.all(
    PRIORITIES.map((priority) => {
      const consumer = {
        durable_name: consumerName(queue, priority),
        filter_subject: consumerFilter(queue, priority),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ns(config.ackWaitMs),
        max_ack_pending: config.maxAckPending,
        // edgeq counts attempts and ends a task itself, recording why; max_deliver would end it silently.
        max_deliver: -1,
      };
      return createUnlessExists(
        () => jsm.consumers.info(WORK_STREAM, consumer.durable_name),
        () => jsm.consumers.add(WORK_STREAM, consumer),
      );
    }),
  );
  return Math.min(...infos.map((info) => info.config.ack_wait ?? DEFAULT_ACK_WAIT)) / 1_000_000;
}

/** JetStream's ack wait for a consumer created without one. */
const DEFAULT_ACK_WAIT = ns(30_000);

/** Returns what `info` finds, else what `create` makes; a concurrent creator winning the race is fine. */
async function createUnlessExists<T>(info: () => Promise<T>, create: () => Promise<T>): Promise<T> {
  try {
    return await info();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    return await create();
  } catch (err) {
    if (err instanceof JetStreamApiError) return await info();
    throw err;
  }
}
