/**
 * Browser-only. The overview's chart of completed and failed tasks per second (uPlot), redrawn
 * from the counts every second; it follows its container's width.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Rates } from "./rates.ts";

const HEIGHT = 220;

export function rateChart(container: HTMLElement, rates: Rates): { stop(): void } {
  const stepped = uPlot.paths.stepped!({ align: 1 });
  const plot = new uPlot(
    {
      width: Math.max(300, container.clientWidth),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.15))] } },
      axes: [
        { stroke: "#8b95a5", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#e2e6ec" } },
        { stroke: "#8b95a5", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#e2e6ec" }, label: "tasks / s", labelSize: 20 },
      ],
      series: [
        { value: (_u, v) => (v == null ? "—" : new Date(v * 1000).toLocaleTimeString(undefined, { hour12: false })) },
        { label: "completed", stroke: "#1a9a5c", fill: "rgba(26, 154, 92, 0.12)", width: 1.5, paths: stepped },
        { label: "failed", stroke: "#d23f3f", fill: "rgba(210, 63, 63, 0.12)", width: 1.5, paths: stepped },
      ],
    },
    rates.series(),
    container,
  );
  const timer = setInterval(() => plot.setData(rates.series()), 1000);
  const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(300, container.clientWidth), height: HEIGHT }));
  resize.observe(container);
  return {
    stop() {
      clearInterval(timer);
      resize.disconnect();
      plot.destroy();
    },
  };
}
