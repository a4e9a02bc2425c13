/**
 * Prometheus metrics over a real nats-server: `GET /metrics` passes `promtool check metrics` and
 * its counters, histograms and gauges move as tasks run; a worker's `metricsPort` serves its own
 * (checked with promtool too) on Node in this process, and on Deno and Bun as `edgeq worker` with
 * EDGEQ_METRICS_PORT, each through the runtime's own server (src/adapter/serve-text.ts).
 */
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { afterEach, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { EdgeqError, PermanentError } from "../src/wire/errors.ts";
import { Registry } from "../src/metrics/registry.ts";
import type { Worker } from "../src/worker/mod.ts";
import { freePort } from "./helpers/nats-server.ts";
import { eventually, type EdgeqProcess, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats({ backoff: "fixed:50" });
const workers: Worker[] = [];
const processes: EdgeqProcess[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(processes.splice(0).map((p) => p.stop()));
});

/** promtool's verdict on a text exposition: its exit status and what it printed. */
function promtool(text: string): { status: number | null; output: string } {
  const run = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  if (run.error) throw new Error(`promtool is needed (Debian's prometheus package): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** The value of one sample, e.g. `edgeq_tasks_completed_total{queue="m",type="ok"}`; undefined if absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("promtool is strict: the check the other tests rely on can fail", () => {
  expect(promtool("# TYPE x counter\nx 1\n").status).not.toBe(0);
  const registry = new Registry();
  registry.counter("edgeq_example_total", "A \"quoted\"\nhelp \\ text.").inc({ type: 'a"b\\c\nd' });
  registry.histogram("edgeq_example_seconds", "Example.", [0.5, 1]).observe({}, 0.7);
  const text = registry.render();
  expect(promtool(text)).toEqual({ status: 0, output: "" });
  expect(text).toContain('edgeq_example_total{type="a\\"b\\\\c\\nd"} 1');
  expect(text).toContain('edgeq_example_seconds_bucket{le="0.5"} 0\nedgeq_example_seconds_bucket{le="1"} 1\nedgeq_example_seconds_bucket{le="+Inf"} 1');
});

test("GET /metrics passes promtool, and its counters, histograms and gauges move as tasks run", async () => {
  const app = createApi(env.edgeq, { onError: () => {} });
  const scrape = async () => {
    const res = await app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    return res.text();
  };
  const empty = await scrape();
  expect(promtool(empty)).toEqual({ status: 0, output: "" });
  expect(sample(empty, 'edgeq_tasks_completed_total{queue="m",type="ok"}')).toBeUndefined();

  const queue = env.edgeq.queue("m");
  await env.edgeq.ensureQueue("m"); // its consumers, which count its depth
  // Pending while no worker serves the queue: the depth gauge sees them.
  await queue.submitMany([{ type: "ok", data: 1, priority: "high" }, { type: "ok", data: 2 }, { type: "ok", data: 3 }]);
  await queue.submit("refuse");
  await queue.submit("flaky", null, { maxAttempts: 2 });
  const canceled = await queue.submit("ok", 4, { priority: "low" });
  await env.edgeq.tasks.cancel(canceled.id);
  const waiting = await eventually(async () => {
    const text = await scrape();
    return sample(text, 'edgeq_tasks_submitted_total{queue="m",type="ok"}') === 4 ? text : null;
  }, 5000, "the submissions counted");
  expect(sample(waiting, 'edgeq_queue_depth{queue="m",priority="high"}')).toBe(1);
  expect(sample(waiting, 'edgeq_queue_depth{queue="m",priority="normal"}')).toBe(4);
  expect(sample(waiting, 'edgeq_tasks_canceled_total{queue="m",type="ok"}')).toBe(1);
  expect(sample(waiting, "edgeq_workers")).toBe(0);

  workers.push(await env.edgeq.worker({
    ok: (n: number) => n,
    refuse: () => {
      throw new PermanentError("no");
    },
    flaky: () => {
      throw new Error("boom");
    },
  }, { queues: ["m"] }));
  const text = await eventually(async () => {
    const t = await scrape();
    return sample(t, 'edgeq_tasks_dead_total{queue="m",type="flaky"}') === 1 && sample(t, 'edgeq_tasks_completed_total{queue="m",type="ok"}') === 3 ? t : null;
  }, 15_000, "the outcomes counted");
  expect(promtool(text)).toEqual({ status: 0, output: "" });
  expect(sample(text, 'edgeq_tasks_failed_total{queue="m",type="refuse"}')).toBe(1);
  expect(sample(text, 'edgeq_tasks_retried_total{queue="m",type="flaky"}')).toBe(1);
  expect(sample(text, 'edgeq_task_wait_seconds_count{queue="m",type="ok"}')).toBe(3);
  expect(sample(text, 'edgeq_task_run_seconds_count{queue="m",type="flaky"}')).toBe(2);
  expect(sample(text, 'edgeq_task_run_seconds_bucket{queue="m",type="ok",le="+Inf"}')).toBe(3);
  expect(sample(text, 'edgeq_queue_depth{queue="m",priority="normal"}')).toBe(0);
  expect(sample(text, "edgeq_workers")).toBe(1);
  expect(sample(text, "edgeq_tasks_in_flight")).toBe(0);
  expect(sample(text, "edgeq_delayed_tasks")).toBe(0);
  expect(sample(text, 'edgeq_queue_paused{queue="m"}')).toBe(0);
});

test("a worker's metricsPort serves its own metrics (node:http here), valid for promtool; a port in use is a clear error", async () => {
  const worker = await env.edgeq.worker({ ok: () => 1 }, { queues: ["wm"], metricsPort: 0 });
  workers.push(worker);
  const base = `http://127.0.0.1:${worker.metricsPort}`;
  await env.edgeq.queue("wm").submitMany(Array.from({ length: 5 }, () => ({ type: "ok" })));
  const text = await eventually(async () => {
    const t = await (await fetch(`${base}/metrics`)).text();
    return sample(t, 'edgeq_tasks_completed_total{queue="wm",type="ok"}') === 5 ? t : null;
  }, 10_000, "the worker's completions counted");
  expect(promtool(text)).toEqual({ status: 0, output: "" });
  expect(sample(text, `edgeq_worker_concurrency{worker_id="${worker.id}"}`)).toBe(10);
  expect(sample(text, 'edgeq_task_wait_seconds_count{queue="wm",type="ok"}')).toBe(5);
  expect((await fetch(`${base}/other`)).status).toBe(404);

  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, r));
  const port = (taken.address() as { port: number }).port;
  try {
    const refused = env.edgeq.worker({ ok: () => 1 }, { queues: ["wm"], metricsPort: port });
    await expect(refused).rejects.toThrow(EdgeqError);
    await expect(refused).rejects.toThrow(`metrics port ${port} is in use`);
  } finally {
    taken.close();
  }
  await worker.stop();
  await expect(fetch(`${base}/metrics`)).rejects.toThrow();
});

for (const runtime of ["deno", "bun"] as const) {
  test(`on ${runtime}, edgeq worker with EDGEQ_METRICS_PORT serves valid metrics`, async () => {
    const port = await freePort();
    const proc = runEdgeq(runtime, ["worker", "workers/demo.ts"], { NATS_URL: env.server.url, EDGEQ_METRICS_PORT: String(port), EDGEQ_QUEUES: `wm-${runtime}` });
    processes.push(proc);
    await proc.workerId();
    await env.edgeq.queue(`wm-${runtime}`).submit("process", "hello");
    const text = await eventually(async () => {
      const t = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => null);
      return t && sample(t, `edgeq_tasks_completed_total{queue="wm-${runtime}",type="process"}`) === 1 ? t : null;
    }, 60_000, `${runtime}'s worker metrics`);
    expect(promtool(text)).toEqual({ status: 0, output: "" });
  }, 120_000);
}
