/**
 * edgeq as a user runs it: `submitMany` / `submit` on a queue, `edgeq.worker` with a no-op handler,
 * outcomes read back with `edgeq.tasks.get`.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Edgeq } from "../../src/mod.ts";
import type { BenchEnv, BenchPayload, System } from "./system.ts";

const TYPE = "noop";
/** How often a worker looks for tasks that left its running set, i.e. whose outcome is stored. */
const SETTLED_POLL_MS = 1;

async function open(env: BenchEnv): Promise<{ nc: NatsConnection; edgeq: Edgeq }> {
  const nc = await connect({ servers: env.natsUrl, noAsyncTraces: true });
  return { nc, edgeq: await Edgeq.open(nc) };
}

export const edgeqSystem: System = {
  name: "edgeq",

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
      close: () => nc.close(),
    };
  },

  async worker(env, concurrency, hooks) {
    const { nc, edgeq } = await open(env);
    // The worker has no per-task "outcome stored" event; a task leaves `info().running` only after
    // its outcome is written, so started tasks missing from it are settled. The poll runs only
    // while tasks are open, so that it costs an idle worker nothing.
    const started = new Set<string>();
    let timer: ReturnType<typeof setInterval> | undefined;
    const poll = () => {
      const running = new Set(worker.info().running);
      for (const id of started) {
        if (!running.has(id)) {
          started.delete(id);
          hooks.settled(id);
        }
      }
      if (started.size === 0) timer = void clearInterval(timer);
    };
    const worker = await edgeq.worker({
      [TYPE]: (data: BenchPayload, ctx) => {
        started.add(ctx.id);
        timer ??= setInterval(poll, SETTLED_POLL_MS);
        hooks.started(ctx.id, data);
      },
    }, { concurrency, queues: [env.queue], onError: (err) => console.error("edgeq worker:", err) });
    return {
      async close() {
        clearInterval(timer);
        await worker.stop();
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

  async cleanup() {},
};
