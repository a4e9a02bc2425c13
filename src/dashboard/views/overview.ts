/**
 * Browser-only. The overview: counts, the chart of completed and failed per second, queue depths
 * per priority, and the live workers. Refreshed by the events; the workers' "last beat" ages tick
 * locally.
 */
import type { Health, QueueSummary as Queue } from "../../client/mod.ts";
import type { WorkerInfo as Worker } from "../../worker/heartbeat.ts";
import { api } from "../api.ts";
import { rateChart } from "../chart.ts";
import { ago, h, replace, section, table } from "../dom.ts";
import { load, refreshOnEvents, type View } from "../view.ts";

const PRIORITIES = ["high", "normal", "low"] as const;

export const overview: View = (ctx, root) => {
  const stats = h("div", { class: "stats" });
  const chartBox = h("div", { class: "chart", id: "rate-chart" });
  const totals = h("span", { class: "totals", id: "rate-totals" });
  const queues = h("div", { id: "queue-depths" });
  const workers = h("div", { id: "workers" });
  replace(
    root,
    stats,
    section("Completed and failed per second, last 15 minutes", totals, chartBox),
    h("div", { class: "columns" }, section("Queue depths", queues), section("Workers", workers)),
  );
  const chart = rateChart(chartBox, ctx.rates);
  let workerList: Worker[] = [];

  const stat = (label: string, value: number | undefined, cls = "") =>
    h("div", { class: `stat ${cls}` }, h("div", { class: "value", "data-stat": label }, value ?? "—"), h("div", { class: "label" }, label));

  const renderWorkers = () =>
    replace(
      workers,
      table(
        ["worker", "runtime", "host", "in flight", "processed", "last beat"],
        workerList.map((w) => [
          h("code", { title: w.id }, w.id.length > 22 ? `${w.id.slice(0, 21)}…` : w.id),
          w.runtime,
          w.host,
          `${w.in_flight} / ${w.concurrency}`,
          w.processed,
          ago(w.last_heartbeat),
        ]),
        "no live workers",
      ),
    );

  const refresh = () =>
    load(root, async () => {
      const [health, q, w] = await Promise.all([
        api<Health>("/health").catch((err) => (err.status === 503 ? null : Promise.reject(err))),
        api<{ queues: Queue[] }>("/queues"),
        api<{ workers: Worker[] }>("/workers"),
      ]);
      replace(
        stats,
        stat("pending", health?.pending_tasks),
        stat("running", health?.running_tasks),
        stat("delayed", health?.delayed_tasks),
        stat("dead", health?.dead_tasks, "warn"),
        stat("workers", health?.workers),
      );
      replace(
        queues,
        table(
          ["queue", ...PRIORITIES, "running", "state"],
          q.queues.map((queue) => [
            h("a", { href: `#/tasks?queue=${encodeURIComponent(queue.name)}` }, queue.name),
            ...PRIORITIES.map((p) => queue.pending[p] ?? 0),
            queue.running,
            queue.paused ? h("span", { class: "badge paused" }, "paused") : h("span", { class: "badge running" }, "running"),
          ]),
          "no queues yet",
        ),
      );
      workerList = w.workers;
      renderWorkers();
    });

  const showTotals = () => replace(totals, `${ctx.rates.total("completed")} completed · ${ctx.rates.total("failed")} failed`);
  showTotals();
  const ticker = setInterval(() => (showTotals(), renderWorkers()), 1000);
  void refresh();
  const off = refreshOnEvents(ctx, () => true, refresh);
  return () => {
    off();
    clearInterval(ticker);
    chart.stop();
  };
};
