/**
 * Raw JetStream with the same client library, the ceiling for a queue that records an outcome per
 * task: a work-queue stream and a durable pull consumer; the producer publishes with a task id and
 * matches the stream's acks by hand (batches and single submissions); a worker pull-consumes, puts
 * one KV entry per task, then acks.
 */
import { AckPolicy, jetstream, jetstreamManager, type JsMsg, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { headers } from "@nats-io/nats-core";
import { inLanes } from "../../src/lanes.ts";
import { Requests } from "../../src/requests.ts";
import { connectTo, unlessMissing } from "./nats.ts";
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
    await jsm.consumers.add(stream, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
    await new Kvm(nc).create(bucket, { history: 1 });
    await nc.close();
  },

  async producer(env) {
    const { subject } = names(env);
    const nc = await connectTo(env);
    // Acks matched by hand on one wildcard inbox, as edgeq's own publishes are: the client's fast path.
    const requests = new Requests(nc, "$JS.API");
    const submit = async (payload: BenchPayload) => {
      const id = crypto.randomUUID();
      const h = headers();
      h.set("Nats-Msg-Id", id);
      await requests.publish(subject, encoder.encode(JSON.stringify(payload)), h);
      return id;
    };
    return {
      async submitMany(payloads: BenchPayload[]) {
        const ids = new Array<string>(payloads.length);
        await inLanes(payloads.length, WINDOW, async (i) => void (ids[i] = await submit(payloads[i])));
        return ids;
      },
      submit,
      close: () => nc.close(),
    };
  },

  async worker(env, concurrency, hooks) {
    const { stream, bucket } = names(env);
    const nc = await connectTo(env);
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
