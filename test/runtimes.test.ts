/**
 * The same worker module (workers/demo.ts), unchanged, on Node, Deno and Bun at once against one
 * server: each runtime takes its share of the tasks and `/workers` lists each runtime.
 */
import { afterAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { type EdgeqProcess, eventually, type Runtime, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const procs: EdgeqProcess[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
});

test("a worker on each of Node, Deno and Bun processes tasks from the same queue", async () => {
  const runtimes: Runtime[] = ["node", "deno", "bun"];
  const started = runtimes.map((runtime) => {
    const proc = runEdgeq(runtime, ["worker", "workers/demo.ts", "--concurrency", "2"], { NATS_URL: env.server.url });
    procs.push(proc);
    return proc;
  });
  const ids = await Promise.all(started.map((p) => p.workerId()));
  const byWorker = new Map(ids.map((id, i) => [id, runtimes[i]]));

  const api = createApi(env.edgeq);
  const listed = (await (await api.request("/workers")).json()).workers as { id: string; runtime: string }[];
  expect(listed.map((w) => [w.id, w.runtime]).sort()).toEqual([...byWorker].sort());

  // Tasks long enough that two slots per worker cannot take them all before the others pull.
  const queue = env.edgeq.queue();
  const tasks = await queue.submitMany(Array.from({ length: 30 }, () => ({ type: "sleep", data: { ms: 150 } })));
  const done = await eventually(async () => {
    const records = await Promise.all(tasks.map((t) => env.edgeq.tasks.get(t.id)));
    return records.every((r) => r?.status === "completed") ? records : null;
  }, 30_000, "every task to complete");

  const counts: Record<string, number> = Object.fromEntries(runtimes.map((runtime) => [runtime, 0]));
  for (const record of done) counts[byWorker.get(record!.worker_id!)!]++;
  console.log("tasks processed per runtime:", counts);
  for (const runtime of runtimes) expect(counts[runtime], runtime).toBeGreaterThan(0);
});
