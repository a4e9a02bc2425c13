/**
 * /health's completed_tasks and failed_tasks count tasks by their latest outcome, not outcomes:
 * 8 tasks that die, are requeued and die again are 8 failed tasks (they were 16 endings); requeued
 * once more, those that then complete move from failed to completed.
 */
import { expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats({ backoff: "fixed:10" });

test("requeued dead letters are counted once, as their latest outcome says", async () => {
  const queue = "health-count";
  let fixed = new Set<number>();
  // A short heartbeat: the counts travel with it.
  const worker = await env.edgeq.worker({ flaky: (n: number) => {
    if (!fixed.has(n)) throw new Error(`task ${n} is broken`);
    return n;
  } }, { queues: [queue], heartbeatIntervalMs: 100 });
  const api = createApi(env.edgeq);
  const health = async () => (await (await api.request("/health")).json()) as { completed_tasks: number; failed_tasks: number };
  /** Once the workers have reported `endings` outcomes in all, health's counts of tasks. */
  const counts = async (endings: number) => {
    await eventually(async () => {
      const totals = await env.edgeq.workerTotals();
      return totals.completed + totals.failed === endings;
    }, 10_000, `${endings} outcomes reported`);
    const { completed_tasks, failed_tasks } = await health();
    return { completed_tasks, failed_tasks };
  };
  try {
    const tasks = await env.edgeq.queue(queue).submitMany(Array.from({ length: 8 }, (_, n) => ({ type: "flaky", data: n, maxAttempts: 1 })));
    /** Waits until every task of `some` has ended `status` after `runs` runs. */
    const ended = (some: typeof tasks, status: string, runs: number) =>
      Promise.all(some.map((t) => eventually(async () => {
        const record = await env.edgeq.tasks.get(t.id);
        return record?.status === status && record.history.length === runs;
      }, 10_000, `${t.id} ${status} after ${runs} runs`)));
    await ended(tasks, "dead", 1);
    expect(await counts(8)).toEqual({ completed_tasks: 0, failed_tasks: 8 });

    // All requeued, all die again: still 8 failed tasks.
    expect(await env.edgeq.deadLetters.requeueAll({ queue })).toBe(8);
    await ended(tasks, "dead", 2);
    expect(await counts(16)).toEqual({ completed_tasks: 0, failed_tasks: 8 });

    // Three fixed and requeued: they complete, the other five die a third time.
    fixed = new Set([0, 1, 2]);
    expect(await env.edgeq.deadLetters.requeueAll({ queue })).toBe(8);
    await ended(tasks.slice(0, 3), "completed", 3);
    await ended(tasks.slice(3), "dead", 3);
    expect(await counts(24)).toEqual({ completed_tasks: 3, failed_tasks: 5 });
  } finally {
    await worker.stop(0);
  }
});
