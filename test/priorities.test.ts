/**
 * Fair priorities over a real nats-server: under a steady backlog of every priority, each lane's
 * share of the starts follows the worker's weights, so low and normal tasks progress beside high
 * ones; with `priorityWeights: "strict"` the backlog of high tasks goes first.
 */
import { afterEach, expect, test } from "vitest";
import type { Priority } from "../src/wire/names.ts";
import type { TaskContext } from "../src/worker/options.ts";
import type { Worker, WorkerOptions } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

/** Queues 2,000 high, 1,000 normal and 1,000 low tasks, then starts a worker: the priorities of the first 1,000 starts. */
async function firstStarts(queue: string, options: WorkerOptions): Promise<Record<Priority, number>> {
  const q = env.edgeq.queue(queue);
  for (const [priority, n] of [["high", 2000], ["normal", 1000], ["low", 1000]] as const) {
    await q.submitMany(Array.from({ length: n }, () => ({ type: "mark", priority })));
  }
  const started: Priority[] = [];
  workers.push(await env.edgeq.worker({ mark: (_: unknown, ctx: TaskContext) => void started.push(ctx.priority) }, { queues: [queue], concurrency: 5, ...options }));
  await eventually(async () => started.length >= 1000, 20_000, "1,000 starts");
  const shares = { high: 0, normal: 0, low: 0 };
  for (const p of started.slice(0, 1000)) shares[p]++;
  return shares;
}

test("under a backlog of every priority, the default weights give high, normal and low 6, 3 and 1 starts in 10", async () => {
  const shares = await firstStarts("fair_default", {});
  console.log(`fair priorities, first 1,000 starts: ${JSON.stringify(shares)}`);
  expect(shares.high).toBeGreaterThanOrEqual(550);
  expect(shares.high).toBeLessThanOrEqual(650);
  expect(shares.normal).toBeGreaterThanOrEqual(250);
  expect(shares.normal).toBeLessThanOrEqual(350);
  expect(shares.low).toBeGreaterThanOrEqual(70);
  expect(shares.low).toBeLessThanOrEqual(130);
});

test("weights are the worker's to set", async () => {
  const shares = await firstStarts("fair_even", { priorityWeights: { high: 1, normal: 1, low: 1 } });
  console.log(`even weights, first 1,000 starts: ${JSON.stringify(shares)}`);
  for (const p of ["high", "normal", "low"] as const) {
    expect(shares[p]).toBeGreaterThanOrEqual(280);
    expect(shares[p]).toBeLessThanOrEqual(390);
  }
});

test("strict: the high backlog goes first", async () => {
  const shares = await firstStarts("fair_strict", { priorityWeights: "strict" });
  expect(shares).toEqual({ high: 1000, normal: 0, low: 0 });
});

test("bad weights are a ValidationError naming them", async () => {
  await expect(env.edgeq.worker({ mark: () => {} }, { priorityWeights: { high: 0, normal: 1, low: 1 } })).rejects.toThrow(/priorityWeights/);
});
