/**
 * Raw JetStream with the same client library, the ceiling for a queue that records an outcome per
 * task: a work-queue stream and a durable pull consumer; the producer publishes with a task id and
 * matches the stream's acks by hand; a worker pull-consumes, puts one KV entry per task, then acks.
 */
import { AckPolicy, jetstream, JetStreamApiError, jetstreamManager, type JsMsg, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createInbox, headers, type Msg } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { BenchEnv, BenchPayload, System } from "./system.ts";

const CONSUMER = "workers";
/** Publishes awaiting their ack at once; the rest wait for a free slot. */
const WINDOW = 10_000;

const names = (env: BenchEnv) => ({
  stream: `BENCH_${env.queue}`,
  subject: `bench.${env.queue}.task`,
  bucket: `bench_${env.queue}`,
});
const encoder = new TextEncoder();

export const jetstreamSystem: System = {
  async prepare(env) {
    const { stream, subject, bucket } = names(env);
    const nc = await connect({ servers: env.natsUrl, noAsyncTraces: true });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: stream,
      subjects: [subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: 120e9,
    });
    await jsm.consumers.add(stream, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
    await new Kvm(nc).create(bucket, { history: 1 });
    await nc.close();
  },

  async producer(env) {
    const { subject } = names(env);
    const nc = await connect({ servers: env.natsUrl, noAsyncTraces: true });
    const js = jetstream(nc);
    const idHeaders = (id: string) => {
      const h = headers();
      h.set("Nats-Msg-Id", id);
      return h;
    };
    return {
      // Core publishes with one reply subject per message under a single wildcard subscription.
      async submitMany(payloads: BenchPayload[]) {
        const prefix = createInbox();
        const ids = payloads.map(() => crypto.randomUUID());
        let acked = 0;
        let failure: Error | undefined;
        let wake: (() => void) | undefined;
        const sub = nc.subscribe(`${prefix}.*`, {
          callback: (_err, msg: Msg) => {
            const ack = msg.json<{ error?: { description: string } }>();
            if (ack.error) failure ??= new Error(`publish refused: ${ack.error.description}`);
            acked++;
            wake?.();
          },
        });
        const until = async (done: () => boolean) => {
          while (!done() && !failure) await new Promise<void>((r) => (wake = r));
        };
        for (let i = 0; i < payloads.length; i++) {
          await until(() => i - acked < WINDOW);
          nc.publish(subject, encoder.encode(JSON.stringify(payloads[i])), { reply: `${prefix}.${i}`, headers: idHeaders(ids[i]) });
        }
        await until(() => acked === payloads.length);
        sub.unsubscribe();
        if (failure) throw failure;
        return ids;
      },
      async submit(payload: BenchPayload) {
        const id = crypto.randomUUID();
        await js.publish(subject, JSON.stringify(payload), { msgID: id });
        return id;
      },
      close: () => nc.close(),
    };
  },

  async worker(env, concurrency, hooks) {
    const { stream, bucket } = names(env);
    const nc = await connect({ servers: env.natsUrl, noAsyncTraces: true });
    const kv = await new Kvm(nc).open(bucket);
    const consumer = await jetstream(nc).consumers.get(stream, CONSUMER);
    const messages = await consumer.consume({ max_messages: concurrency });
    let inFlight = 0;
    let slotFreed: (() => void) | undefined;
    const work = async (msg: JsMsg) => {
      const id = msg.headers!.get("Nats-Msg-Id");
      hooks.started(id, msg.json<BenchPayload>());
      await kv.put(id, JSON.stringify({ status: "completed", result: null, finished_at: new Date().toISOString() }));
      msg.ack();
      hooks.settled(id);
    };
    const loop = (async () => {
      for await (const msg of messages) {
        while (inFlight >= concurrency) await new Promise<void>((r) => (slotFreed = r));
        inFlight++;
        work(msg).catch((err) => console.error(err)).finally(() => {
          inFlight--;
          slotFreed?.();
        });
      }
    })();
    return {
      async close() {
        await messages.close();
        await loop;
        await nc.close();
      },
    };
  },

  async countCompleted(env, ids) {
    const nc = await connect({ servers: env.natsUrl, noAsyncTraces: true });
    const kv = await new Kvm(nc).open(names(env).bucket);
    const entries = await Promise.all(ids.map((id) => kv.get(id)));
    await nc.close();
    return entries.filter((e) => e?.json<{ status: string }>().status === "completed").length;
  },

  /** Matters on a shared server (NATS_URL): the measurement's stream and bucket go. */
  async cleanup(env) {
    const { stream, bucket } = names(env);
    const nc = await connect({ servers: env.natsUrl, noAsyncTraces: true });
    try {
      const jsm = await jetstreamManager(nc);
      // Either is missing if prepare failed.
      await Promise.all([stream, `KV_${bucket}`].map((name) => jsm.streams.delete(name).catch((err) => {
        if (!(err instanceof JetStreamApiError)) throw err;
      })));
    } finally {
      await nc.close();
    }
  },
};
