/**
 * BullMQ on Redis as a user runs it: `Queue.addBulk` / `add`, a `Worker` with the same concurrency,
 * completed jobs kept (BullMQ's default).
 */
import { Queue, Worker } from "bullmq";
import type { BenchEnv, BenchPayload, System } from "./system.ts";

const NAME = "noop";
/** Jobs per `addBulk` call: one Redis transaction each, sent one after the other. */
const BULK = 1000;
/** Every key the benchmark creates in Redis starts with this, then the per-measurement queue name. */
const PREFIX = "edgeq-bench";

/** All of REDIS_URL (user, password, database, `rediss://`): ioredis reads it. */
const connection = (env: BenchEnv) => ({ url: env.redisUrl });

function queue(env: BenchEnv): Queue {
  return new Queue(env.queue, { connection: connection(env), prefix: PREFIX });
}

export const bullmqSystem: System = {
  usesNats: false,
  async prepare(env) {
    const q = queue(env);
    await q.waitUntilReady();
    await q.close();
  },

  async producer(env) {
    const q = queue(env);
    return {
      async submitMany(payloads: BenchPayload[]) {
        const ids: string[] = [];
        for (let i = 0; i < payloads.length; i += BULK) {
          const jobs = await q.addBulk(payloads.slice(i, i + BULK).map((data) => ({ name: NAME, data })));
          ids.push(...jobs.map((job) => job.id!));
        }
        return ids;
      },
      async submit(payload: BenchPayload) {
        return (await q.add(NAME, payload)).id!;
      },
      async submitDelayed(payloads: BenchPayload[]) {
        const ids: string[] = [];
        for (let i = 0; i < payloads.length; i += BULK) {
          const jobs = await q.addBulk(payloads.slice(i, i + BULK).map((data) => ({ name: NAME, data, opts: { delay: Math.max(0, Math.ceil(data.sentAt - Date.now())) } })));
          ids.push(...jobs.map((job) => job.id!));
        }
        return ids;
      },
      close: () => q.close(),
    };
  },

  async worker(env, concurrency, hooks) {
    const worker = new Worker(env.queue, async (job) => hooks.started(job.id!, job.data), {
      connection: connection(env),
      prefix: PREFIX,
      concurrency,
    });
    // Emitted once the job is moved to the completed set.
    worker.on("completed", (job) => hooks.settled(job.id!));
    await worker.waitUntilReady();
    return { close: () => worker.close() };
  },

  async countCompleted(env, ids) {
    const q = queue(env);
    const states = await Promise.all(ids.map((id) => q.getJobState(id)));
    await q.close();
    return states.filter((s) => s === "completed").length;
  },

  async cleanup(env) {
    const q = queue(env);
    await q.obliterate({ force: true });
    await q.close();
  },
};
