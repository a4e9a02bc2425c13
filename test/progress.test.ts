/**
 * Progress over a real nats-server: what a handler reports shows in GET /tasks/:id while it runs
 * and stays in the outcome, a tight loop of reports costs a few writes a second, and bad values
 * are refused with a ValidationError the handler sees.
 */
import { afterEach, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { ValidationError } from "../src/wire/errors.ts";
import { TASKS_BUCKET } from "../src/wire/names.ts";
import type { TaskContext } from "../src/worker/options.ts";
import type { Worker } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
const recordWrites = async () => (await env.edgeq.jsm.streams.info(`KV_${TASKS_BUCKET}`)).state.last_seq;

test("progress shows in GET /tasks/:id while the task runs, and the outcome keeps the last value", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  workers.push(await env.edgeq.worker({
    async steps(_data, ctx: TaskContext) {
      ctx.progress(10);
      ctx.progress({ step: "copying", done: 3, of: 7 });
      await gate;
      ctx.progress(100);
      return "done";
    },
  }));
  const { id } = await env.edgeq.queue().submit("steps");
  const app = createApi(env.edgeq, { onError: () => {} });
  const running = await eventually(async () => {
    const body = await (await app.request(`/tasks/${id}`)).json();
    return body.status === "running" && body.progress?.step === "copying" ? body : null;
  }, 5000, "the progress to show");
  expect(running.progress).toEqual({ step: "copying", done: 3, of: 7 });
  release();
  expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "completed", result: "done", progress: 100, attempts: 1 });
});

test("a handler reporting progress in a tight loop for 2 s costs at most a few writes a second", async () => {
  let calls = 0;
  workers.push(await env.edgeq.worker({
    async spin(_data, ctx: TaskContext) {
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        for (let i = 0; i < 1000; i++) ctx.progress(++calls % 101);
        await new Promise((r) => setTimeout(r, 1));
      }
      return calls;
    },
  }));
  const before = await recordWrites();
  const { id } = await env.edgeq.queue().submit("spin");
  const done = await env.edgeq.tasks.waitFor(id, 10_000);
  const writes = (await recordWrites()) - before;
  console.log(`progress: ${calls} calls in 2 s, ${writes} record writes`);
  expect(done).toMatchObject({ status: "completed" });
  expect(calls).toBeGreaterThan(10_000);
  // 250 ms apart: 9 progress writes in 2 s (the first at once), the outcome, and one of slack.
  expect(writes).toBeLessThanOrEqual(11);
});

test("a bad progress value is a ValidationError naming what is wrong, and the task goes on", async () => {
  const seen: string[] = [];
  workers.push(await env.edgeq.worker({
    check(_data, ctx: TaskContext) {
      for (const bad of [101, -1, Number.NaN, "x".repeat(5000), undefined, { n: 1n }]) {
        try {
          ctx.progress(bad);
        } catch (err) {
          seen.push(`${err instanceof ValidationError}: ${(err as Error).message}`);
        }
      }
      ctx.progress("fine");
      return "ok";
    },
  }));
  const { id } = await env.edgeq.queue().submit("check");
  expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "completed", progress: "fine" });
  expect(seen).toEqual([
    "true: progress: a number must be from 0 to 100, not 101",
    "true: progress: a number must be from 0 to 100, not -1",
    "true: progress: a number must be from 0 to 100, not NaN",
    "true: progress: its JSON is 5002 bytes; the limit is 4096",
    "true: progress: must be a number or JSON",
    "true: progress: must be a number or JSON (Do not know how to serialize a BigInt)",
  ]);
});
