/**
 * edgeq as a user runs it: `submitMany` / `submit` on a queue, `edgeq.worker` with a no-op handler,
 * outcomes read back with `edgeq.tasks.get`.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Edgeq } from "../../src/mod.ts";
import { consumerFilter, consumerName, PRIORITIES, WORK_STREAM } from "../../src/wire/names.ts";
import { connectTo, unlessMissing } from "./nats.ts";
import type { BenchEnv, BenchPayload, System } from "./system.ts";

const TYPE = "noop";

async function open(env: BenchEnv): Promise<{ nc: NatsConnection; edgeq: Edgeq }> {
  const nc = await connectTo(env);
  // EDGEQ_EVENTS=off measures edgeq without its task events, as `edgeq serve` reads the variable too.
  return { nc, edgeq: await Edgeq.open(nc, { events: process.env.EDGEQ_EVENTS !== "off" }) };
}

export const edgeqSystem: System = {
  usesNats: true,
  async prepare(env) {
    const { nc, edgeq } = await open(env);
    await edgeq.ensureQueue(env.queue);
    await nc.close();
  },

  async producer(env) {
    const { nc, edgeq } = await open(env);
    const queue = edgeq.queue(env.queue);
    return {
      async submitMany(payloads: BenchPayload[]) {
        const submitted = await queue.submitMany(payloads.map((data) => ({ type: TYPE, data })));
        return submitted.map((s) => s.id);
      },
      async submit(payload: BenchPayload) {
        return (await queue.submit(TYPE, payload)).id;
      },
      async submitDelayed(payloads: BenchPayload[]) {
        const submitted = await queue.submitMany(payloads.map((data) => ({ type: TYPE, data, runAt: Math.ceil(data.sentAt) })));
        return submitted.map((s) => s.id);
      },
      close: () => nc.close(),
    };
  },

  async worker(env, concurrency, hooks, { delayed = false, schedulerOnly = false } = {}) {
    const { nc, edgeq } = await open(env);
    // As each API process runs one in a deployment; one of the workers holds the lease.
    const scheduler = delayed || schedulerOnly ? edgeq.scheduler({ holder: `bench-${crypto.randomUUID().slice(0, 8)}` }) : undefined;
    const worker = schedulerOnly ? undefined : await edgeq.worker({
      [TYPE]: (data: BenchPayload, ctx) => hooks.started(ctx.id, data),
    }, {
      concurrency,
      queues: [env.queue],
      onOutcome: (record) => hooks.settled(record.id),
      onError: (err) => console.error("edgeq worker:", err),
    });
    return {
      async close() {
        await scheduler?.stop();
        await worker?.stop();
        await nc.close();
      },
    };
  },

  async countCompleted(env, ids) {
    const { nc, edgeq } = await open(env);
    const records = await Promise.all(ids.map((id) => edgeq.tasks.get(id)));
    await nc.close();
    return records.filter((r) => r?.status === "completed").length;
  },

  /**
   * Matters on a shared server (NATS_URL): the queue's consumers and messages go. Its records, all
   * finished, stay until a worker's sweep deletes them after the retention.
   */
  async cleanup(env) {
    const nc = await connectTo(env);
    try {
      const jsm = await jetstreamManager(nc);
      for (const priority of PRIORITIES) {
        await jsm.streams.purge(WORK_STREAM, { filter: consumerFilter(env.queue, priority) });
        await jsm.consumers.delete(WORK_STREAM, consumerName(env.queue, priority)).catch(unlessMissing);
      }
    } finally {
      await nc.close();
    }
  },
};
