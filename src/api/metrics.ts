/**
 * `GET /metrics`: Prometheus text exposition (format 0.0.4). Counters and histograms come from the
 * task events this API process receives from the moment it starts (so they are this process's
 * counts, as every Prometheus counter is: `rate()` and `increase()` read them; a restart starts
 * them again at 0). Gauges are read at each scrape: the queues' consumers, the delayed stream and
 * the workers' heartbeats.
 */
import { Hono } from "hono";
import type { Edgeq } from "../client/mod.ts";
import { DELAYED_STREAM } from "../wire/mod.ts";
import { EXPOSITION_CONTENT_TYPE, Registry } from "../metrics/registry.ts";
import { TaskMetrics } from "../metrics/task-metrics.ts";

export function metricsRoutes(edgeq: Edgeq): Hono {
  const routes = new Hono();
  const registry = new Registry();
  const tasks = new TaskMetrics(registry);
  const depth = registry.gauge("edgeq_queue_depth", "Tasks stored and not yet handed to a worker, by queue and priority.");
  const running = registry.gauge("edgeq_queue_running", "Tasks handed to a worker and not yet settled (running, or waiting out a retry delay), by queue.");
  const paused = registry.gauge("edgeq_queue_paused", "1 while the queue is paused.");
  const delayed = registry.gauge("edgeq_delayed_tasks", "Delayed tasks waiting for their due time.");
  const workers = registry.gauge("edgeq_workers", "Live workers, from their heartbeats.");
  const inFlight = registry.gauge("edgeq_tasks_in_flight", "Tasks the live workers hold (running, or their outcome being stored), from their heartbeats.");
  edgeq.events.subscribe({}, (event) => tasks.observe(event));

  routes.get("/", async (c) => {
    const [queues, live, delayedInfo] = await Promise.all([edgeq.queues.list(), edgeq.workers(), edgeq.jsm.streams.info(DELAYED_STREAM)]);
    // Read afresh: a queue or worker gone since the last scrape is not reported.
    for (const gauge of [depth, running, paused]) gauge.reset();
    for (const q of queues) {
      for (const [priority, n] of Object.entries(q.pending)) depth.set({ queue: q.name, priority }, n);
      running.set({ queue: q.name }, q.running);
      paused.set({ queue: q.name }, q.paused ? 1 : 0);
    }
    delayed.set({}, delayedInfo.state.messages);
    workers.set({}, live.length);
    inFlight.set({}, live.reduce((sum, w) => sum + w.in_flight, 0));
    return c.body(registry.render(), 200, { "Content-Type": EXPOSITION_CONTENT_TYPE });
  });
  return routes;
}
