/**
 * A worker's own metrics on a port of its own (`metricsPort`, `EDGEQ_METRICS_PORT`): the counters
 * and histograms of the tasks it ran (from the events it publishes, whether or not publishing is
 * on), and gauges of what it holds now. Served by a tiny server (adapter/serve-text.ts), not Hono,
 * which a worker process does not load.
 */
import { serveText, type TextServer } from "../adapter/mod.ts";
import { EdgeqError } from "../wire/mod.ts";
import type { Events } from "../events/events.ts";
import type { WorkerInfo } from "../worker/heartbeat.ts";
import { EXPOSITION_CONTENT_TYPE, Registry } from "./registry.ts";
import { TaskMetrics } from "./task-metrics.ts";

export class WorkerMetrics {
  private constructor(
    private readonly server: TextServer,
    private readonly stopObserving: () => void,
  ) {}

  /** Serves `GET /metrics` on `port` (0: a free one); rejects with an EdgeqError naming a port in use. */
  static async serve(events: Events, info: () => WorkerInfo, port: number): Promise<WorkerMetrics> {
    const registry = new Registry();
    const tasks = new TaskMetrics(registry);
    const inFlight = registry.gauge("edgeq_worker_in_flight", "Tasks this worker holds: running, or their outcome being stored.");
    const concurrency = registry.gauge("edgeq_worker_concurrency", "Tasks this worker runs at once at most.");
    const stopObserving = events.observe((event) => tasks.observe(event));
    try {
      const server = await serveText(port, async (path) => {
        if (path !== "/metrics") return { status: 404, contentType: "text/plain", body: "not found: the metrics are at /metrics\n" };
        const now = info();
        inFlight.set({ worker_id: now.id }, now.in_flight);
        concurrency.set({ worker_id: now.id }, now.concurrency);
        return { status: 200, contentType: EXPOSITION_CONTENT_TYPE, body: registry.render() };
      });
      return new WorkerMetrics(server, stopObserving);
    } catch (err) {
      stopObserving();
      const inUse = (err as { code?: string })?.code === "EADDRINUSE" || (err as Error)?.name === "AddrInUse";
      throw new EdgeqError(inUse ? `metrics port ${port} is in use; set another metricsPort (EDGEQ_METRICS_PORT)` : `cannot serve metrics on port ${port}: ${(err as Error).message}`, { cause: err });
    }
  }

  get port(): number {
    return this.server.port;
  }

  async close(): Promise<void> {
    this.stopObserving();
    await this.server.close();
  }
}
