/**
 * Raw JetStream with the same client library, written with its fastest paths: the ceiling for a
 * queue that stores an outcome record per task before acking it. A work-queue stream and a durable
 * pull consumer. The producer core-publishes each task with its id in `Nats-Msg-Id` and counts the
 * stream's acks by hand on one inbox, with no promise or timer per task. A worker pulls 1,000 at a
 * time and, per message, core-publishes the outcome record to the KV bucket's subject with a reply
 * on one inbox; that reply acks the message.
 */
import { AckPolicy, jetstream, jetstreamManager, type JsMsg, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { Requests } from "../../src/nats/requests.ts";
import { connectTo, unlessMissing } from "./nats.ts";
import type { BenchEnv, BenchPayload, System } from "./system.ts";

const CONSUMER = "workers";
/** The one type of task this queue carries. */
const TYPE = "noop";
/** Publishes of a batch awaiting their ack at once; past it, publishing resumes once half have come back. */
const WINDOW = 5000;
/** Messages a worker asks for per pull. */
const PULL = 1000;

const names = (env: BenchEnv) => ({
  stream: `BENCH_${env.queue}`,
  subject: `bench.${env.queue}.task`,
  bucket: `bench_${env.queue}`,
});
const encoder = new TextEncoder();

/** What went wrong, if a JetStream reply (a publish's ack, a KV put's) says something did. */
function failure(reply: Msg): string | undefined {
  if (reply.headers?.code === 503) return "no responders";
  return reply.json<{ error?: { description: string } }>().error?.description;
}

interface Batch {
  payloads: BenchPayload[];
  ids: string[];
  /** `<inbox>.<batch number>`, for every task of the batch. */
  reply: string;
  sent: number;
  acked: number;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Publishes batches, each with one reply subject for all its tasks: the stream's acks are counted
 * per batch in one subscription callback. Batches may overlap (the HTTP front submits one per request).
 */
function batchPublisher(nc: NatsConnection, subject: string): (payloads: BenchPayload[]) => Promise<string[]> {
  const inbox = createInbox();
  const batches = new Map<string, Batch>();
  let next = 0;
  const publish = (batch: Batch) => {
    while (batch.sent < batch.payloads.length && batch.sent - batch.acked < WINDOW) {
      const h = headers();
      h.set("Nats-Msg-Id", batch.ids[batch.sent]);
      nc.publish(subject, JSON.stringify(batch.payloads[batch.sent++]), { reply: batch.reply, headers: h });
    }
  };
  nc.subscribe(`${inbox}.*`, {
    callback: (err, ack) => {
      // With an error, the subscription is gone (no permission for the inbox): no batch can finish.
      if (err) {
        for (const batch of batches.values()) batch.reject(err);
        return batches.clear();
      }
      const key = ack.subject.slice(inbox.length + 1);
      const batch = batches.get(key);
      if (!batch) return; // failed already
      const problem = failure(ack);
      if (problem) {
        batches.delete(key);
        batch.reject(new Error(`raw JetStream publish: ${problem}`));
      } else if (++batch.acked === batch.payloads.length) {
        batches.delete(key);
        batch.resolve();
      } else if (batch.sent - batch.acked === WINDOW / 2) {
        publish(batch);
      }
    },
  });
  return (payloads) => {
    const ids = payloads.map(() => crypto.randomUUID());
    if (!payloads.length) return Promise.resolve(ids);
    const key = String(next++);
    return new Promise<void>((resolve, reject) => {
      const batch = { payloads, ids, reply: `${inbox}.${key}`, sent: 0, acked: 0, resolve, reject };
      batches.set(key, batch);
      publish(batch);
    }).then(() => ids);
  };
}

export const jetstreamSystem: System = {
  usesNats: true,
  async prepare(env) {
    const { stream, subject, bucket } = names(env);
    const nc = await connectTo(env);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: stream,
      subjects: [subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: 120e9,
    });
    // Also what bounds the outcomes a worker is storing at once.
    await jsm.consumers.add(stream, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
    await new Kvm(nc).create(bucket, { history: 1 });
    await nc.close();
  },

  async producer(env) {
    const { subject } = names(env);
    const nc = await connectTo(env);
    // One at a time, as the HTTP front and the latency scenario submit: edgeq's own hand-matched requests.
    const requests = new Requests(nc, "$JS.API");
    return {
      submitMany: batchPublisher(nc, subject),
      async submit(payload: BenchPayload) {
        const id = crypto.randomUUID();
        const h = headers();
        h.set("Nats-Msg-Id", id);
        await requests.publish(subject, encoder.encode(JSON.stringify(payload)), h);
        return id;
      },
      close: () => nc.close(),
    };
  },

  /**
   * No bound of its own on the tasks running: the no-op handler has returned before the next
   * message is read, so one runs at a time; the consumer's max_ack_pending bounds the outcomes
   * being stored.
   */
  async worker(env, _concurrency, hooks) {
    const { stream, bucket } = names(env);
    const nc = await connectTo(env);
    const consumer = await jetstream(nc).consumers.get(stream, CONSUMER);
    const inbox = createInbox();
    /** Messages whose outcome is being stored, by the token of the KV put's reply subject. */
    const storing = new Map<string, JsMsg>();
    let next = 0;
    nc.subscribe(`${inbox}.*`, {
      callback: (err, reply) => {
        if (err) return console.error("raw JetStream worker:", err); // the subscription is gone
        const token = reply.subject.slice(inbox.length + 1);
        const msg = storing.get(token)!;
        storing.delete(token);
        const problem = failure(reply);
        if (problem) {
          console.error(`raw JetStream worker: storing an outcome failed: ${problem}`);
          return msg.nak();
        }
        msg.ack(); // the outcome is stored: now the message may go
        hooks.settled(msg.headers!.get("Nats-Msg-Id"));
      },
    });
    const messages = await consumer.consume({
      max_messages: PULL,
      callback: (msg) => {
        const id = msg.headers!.get("Nats-Msg-Id");
        hooks.started(id, msg.json<BenchPayload>());
        const token = String(next++);
        storing.set(token, msg);
        const record = { id, type: TYPE, status: "completed", result: null, attempts: msg.info.deliveryCount, finished_at: new Date().toISOString() };
        nc.publish(`$KV.${bucket}.${id}`, JSON.stringify(record), { reply: `${inbox}.${token}` });
      },
    });
    return {
      async close() {
        await messages.close();
        await nc.close();
      },
    };
  },

  async countCompleted(env, ids) {
    const nc = await connectTo(env);
    const kv = await new Kvm(nc).open(names(env).bucket);
    const entries = await Promise.all(ids.map((id) => kv.get(id)));
    await nc.close();
    return entries.filter((e) => e?.json<{ status: string }>().status === "completed").length;
  },

  /** Matters on a shared server (NATS_URL): the measurement's stream and bucket go. */
  async cleanup(env) {
    const { stream, bucket } = names(env);
    const nc = await connectTo(env);
    try {
      const jsm = await jetstreamManager(nc);
      await Promise.all([stream, `KV_${bucket}`].map((name) => jsm.streams.delete(name).catch(unlessMissing)));
    } finally {
      await nc.close();
    }
  },
};
